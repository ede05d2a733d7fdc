//! Helpers shared by the command-line tests: running `tinycdn`, serving a store, a work
//! directory with real media.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tinycdn"));
    c.env_remove("TINYCDN_STORE")
        .env_remove("SOURCE_DATE_EPOCH");
    c
}

pub fn run(args: &[&str], cwd: &Path) -> Output {
    bin()
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("runs tinycdn")
}

#[track_caller]
pub fn ok(args: &[&str], cwd: &Path) -> String {
    let out = run(args, cwd);
    assert!(
        out.status.success(),
        "tinycdn {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[track_caller]
pub fn fails(args: &[&str], cwd: &Path, code: i32) -> String {
    let out = run(args, cwd);
    assert_eq!(
        out.status.code(),
        Some(code),
        "tinycdn {args:?}: stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A `tinycdn serve` of `cwd/store` on a free port, stopped when dropped (also when a test fails).
pub struct Served {
    pub child: std::process::Child,
    pub url: String,
}

impl Served {
    /// A `tinycdn edge` on a free port in front of `upstream`, trusting `pub.key.pub`.
    pub fn edge(cwd: &Path, upstream: &str, extra: &[&str]) -> Self {
        let mut args = vec![
            "edge",
            "--upstream",
            upstream,
            "--trust",
            "pub.key.pub",
            "--listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        Self::spawn(cwd, &args)
    }

    pub fn start(cwd: &Path, extra: &[&str]) -> Self {
        let mut args = vec!["serve", "--store", "store", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Self::spawn(cwd, &args)
    }

    /// Any long-running command that prints its URL on stdout first (its stderr shown when
    /// `TINYCDN_TEST_LOGS` is set).
    pub fn spawn(cwd: &Path, args: &[&str]) -> Self {
        Self::spawn_with(bin(), cwd, args)
    }

    /// [`Served::spawn`] with a prepared command (environment).
    pub fn spawn_with(mut command: Command, cwd: &Path, args: &[&str]) -> Self {
        let mut child = command
            .args(args)
            .current_dir(cwd)
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("TINYCDN_TEST_LOGS").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("serve");
        let mut url = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut url,
        )
        .expect("url");
        Self {
            child,
            url: url.trim().to_owned(),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn json(args: &[&str], cwd: &Path) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(&all, cwd)).expect("valid JSON")
}

/// A work directory with a store, a key pair and a copy of the media tree at `media/`.
pub fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let src = d.join("media");
    fs::create_dir_all(src.join("site")).expect("mkdir");
    for sub in ["images", "video"] {
        fs::create_dir_all(src.join(sub)).expect("mkdir");
        for e in fs::read_dir(tinycdn_store::testing::sample_media().join(sub)).expect("media") {
            let e = e.expect("entry");
            fs::copy(e.path(), src.join(sub).join(e.file_name())).expect("copy");
        }
    }
    fs::write(src.join("site/app.css"), "body { margin: 0 }\n").expect("write");
    std::os::unix::fs::symlink("../images/rocket.jpg", src.join("site/hero.jpg")).expect("link");
    ok(&["init", "--store", "store"], d);
    ok(&["key", "generate", "--out", "pub.key"], d);
    dir
}

pub fn publish(d: &Path, src: &str, tag: &str) -> serde_json::Value {
    json(
        &[
            "publish",
            src,
            "--store",
            "store",
            "--volume",
            "site-media",
            "--tag",
            tag,
            "--key",
            "pub.key",
        ],
        d,
    )
}

/// `curl -s` of a URL with extra request headers (`"name: value"`): the status code and the
/// body (status 0 when nothing answered).
pub fn http_get_with(url: &str, headers: &[&str]) -> (u16, Vec<u8>) {
    let mut c = Command::new("curl");
    c.args(["-s", "-o", "-", "-w", "\n%{http_code}"]);
    for h in headers {
        c.args(["-H", h]);
    }
    let out = c.arg(url).output().expect("curl runs");
    let text = out.stdout;
    let split = text.iter().rposition(|&b| b == b'\n').unwrap_or(0);
    let code = String::from_utf8_lossy(&text[split + 1..])
        .parse()
        .unwrap_or(0);
    (code, text[..split].to_vec())
}

/// [`http_get_with`] without extra headers.
pub fn http_get(url: &str) -> (u16, Vec<u8>) {
    http_get_with(url, &[])
}

/// Publishes `media/` twice as `site-media@stable`, the clip rewritten in place in between with
/// scattered one-byte edits: the second publish makes a delta (for the delta economy's figures).
pub fn publish_with_a_delta(d: &Path) {
    publish(d, "media", "stable");
    let clip = d.join("media/video/bikes.mp4");
    let mut bytes = fs::read(&clip).expect("clip");
    for i in (0..bytes.len()).step_by(5000) {
        bytes[i] = bytes[i].wrapping_add(1);
    }
    fs::write(&clip, &bytes).expect("write");
    publish(d, "media", "stable");
}

/// The browser tools (`scripts/fetch-browser.sh`: playwright-core, and Debian's chromium when
/// missing), installed once.
pub fn browser_tools() -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(root.join("scripts/fetch-browser.sh"))
        .output()
        .expect("fetch-browser.sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Runs one of the repository's Node scripts with playwright-core from `tools`; its stdout as
/// JSON (the script must succeed).
pub fn node_json(tools: &Path, script: &str, args: &[&std::ffi::OsStr]) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("node")
        .arg(root.join(script))
        .args(args)
        .env(
            "PLAYWRIGHT_CORE",
            tools.join("node_modules/playwright-core"),
        )
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{script} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from the script")
}

/// A port nothing listens on now (for a server that must come back at the same address).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One HTTP response as curl saw it: status, lower-cased header lines, body.
pub struct Got {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Got {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `curl --path-as-is` of `base` + `path` with extra request headers.
pub fn http_full(base: &str, path: &str, headers: &[&str]) -> Got {
    let dir = tempfile::tempdir().expect("tempdir");
    let (h, b) = (dir.path().join("h"), dir.path().join("b"));
    let mut c = Command::new("curl");
    c.args(["-s", "--path-as-is", "-D"])
        .arg(&h)
        .arg("-o")
        .arg(&b);
    for x in headers {
        c.args(["-H", x]);
    }
    let out = c.arg(format!("{base}{path}")).output().expect("curl runs");
    assert!(out.status.success(), "curl {path}: {out:?}");
    let head = fs::read_to_string(&h).unwrap_or_default();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Got {
        status,
        headers,
        body: fs::read(&b).unwrap_or_default(),
    }
}

/// Sends `sig` (`-TERM`, `-HUP`, ...) to a child process.
pub fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill {sig}");
}

/// The child's exit status, waiting at most `within` for it.
pub fn exit_status(
    child: &mut std::process::Child,
    within: std::time::Duration,
) -> std::process::ExitStatus {
    let started = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(started.elapsed() < within, "still running after {within:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
