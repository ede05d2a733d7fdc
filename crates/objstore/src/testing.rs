//! Real S3-compatible servers for tests, started on 127.0.0.1 and stopped when dropped:
//! `s3s-fs` (`cargo install --locked s3s-fs@0.14.1 --features binary`) and moto's server
//! (`pip install 'moto[server]'`), and a proxy that throttles and fails in front of either.
//! Test support only; panics with a hint when a server is missing.

#![allow(clippy::missing_panics_doc)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{ObjectBackend, Options};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `s3s-fs`: S3 over a directory (Rust, the s3s project).
    S3sFs,
    /// moto's server (Python, the AWS mocking library's standalone mode).
    Moto,
}

/// The access key the servers are started with.
pub const ACCESS_KEY: &str = "tinycdn";
/// The secret key the servers are started with.
pub const SECRET_KEY: &str = "tinycdn-secret-key";
/// The bucket every server is started with.
pub const BUCKET: &str = "media";

/// A free port on 127.0.0.1 (bound, then released).
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 30 s");
}

/// A running S3-compatible server with one bucket, [`BUCKET`].
#[derive(Debug)]
pub struct S3Server {
    /// Which server.
    pub kind: Kind,
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
    /// Where `s3s-fs` keeps the objects (the bucket is a directory under it).
    pub dir: Option<tempfile::TempDir>,
}

/// The path of a server the tests start (`s3s-fs`, `moto_server`, `dnsmasq`), installed once
/// by `scripts/fetch-servers.sh` when it is not on `PATH`.
///
/// # Panics
/// When the script fails (no network to crates.io, PyPI or Debian).
#[must_use]
pub fn server_binary(name: &str) -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-servers.sh");
        let out = Command::new("bash")
            .arg(script)
            .stderr(Stdio::inherit())
            .output()
            .expect("runs scripts/fetch-servers.sh");
        assert!(out.status.success(), "scripts/fetch-servers.sh failed");
        std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
    .join(name)
}

impl S3Server {
    /// Starts a server of `kind` and creates [`BUCKET`].
    #[must_use]
    pub fn start(kind: Kind) -> Self {
        let port = free_port();
        let (child, dir) = match kind {
            Kind::S3sFs => {
                let dir = tempfile::tempdir().expect("tempdir");
                std::fs::create_dir(dir.path().join(BUCKET)).expect("bucket dir");
                let child = Command::new(server_binary("s3s-fs"))
                    .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                    .arg(dir.path())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("could not start s3s-fs ({e})\nhint: cargo install --locked s3s-fs@0.14.1 --features binary (.ci/run does)"));
                (child, Some(dir))
            }
            Kind::Moto => {
                let child = Command::new(server_binary("moto_server"))
                    .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| panic!("could not start moto_server ({e})\nhint: pip install 'moto[server]' (.ci/run does)"));
                (child, None)
            }
        };
        let mut server = Self {
            kind,
            port,
            child,
            dir,
        };
        wait_for_port(port, &mut server.child, "the S3 server");
        if kind == Kind::Moto {
            let status = raw_request(port, "PUT", &format!("/{BUCKET}"));
            assert!(
                status.contains(" 200 "),
                "moto refused the bucket: {status}"
            );
        }
        server
    }

    /// The endpoint URL.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a tinycdn process needs to use the server at `endpoint`.
    #[must_use]
    pub fn env_for(endpoint: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", endpoint.into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// The environment for this server.
    #[must_use]
    pub fn env(&self) -> Vec<(&'static str, String)> {
        Self::env_for(&self.endpoint())
    }

    /// A backend on this server (or on `endpoint`, a proxy in front of it) under `prefix`.
    #[must_use]
    pub fn backend_at(endpoint: &str, prefix: &str, options: Options) -> ObjectBackend {
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(BUCKET)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_region("us-east-1")
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_retry(options.retry())
            .build()
            .expect("S3 client");
        ObjectBackend::new(
            Arc::new(store),
            prefix,
            &format!("s3://{BUCKET}/{prefix}"),
            options,
        )
        .expect("backend")
    }

    /// A backend on this server under `prefix`.
    #[must_use]
    pub fn backend(&self, prefix: &str, options: Options) -> ObjectBackend {
        Self::backend_at(&self.endpoint(), prefix, options)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn raw_request(port: u16, method: &str, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().next().unwrap_or_default().to_owned()
}

/// `scripts/s3-fault-proxy.py` in front of a server.
#[derive(Debug)]
pub struct FaultProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
}

/// The repository's `scripts/` folder.
#[must_use]
pub fn scripts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts")
}

impl FaultProxy {
    /// Starts the proxy in front of `upstream` with the script's options (`--every 3`,
    /// `--break-after 20`, `--status 500`).
    #[must_use]
    pub fn start(upstream: u16, args: &[&str]) -> Self {
        let port = free_port();
        let mut child = Command::new("python3")
            .arg(scripts_dir().join("s3-fault-proxy.py"))
            .args([port.to_string(), upstream.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 for the fault proxy");
        let out = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).expect("ready");
        assert_eq!(line.trim(), "ready");
        Self { port, child }
    }

    /// The endpoint URL.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the proxy; returns its counts (`requests`, `forwarded`, `faults`).
    #[must_use]
    pub fn stop(mut self) -> serde_json::Value {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        serde_json::from_str(err.trim()).unwrap_or(serde_json::Value::Null)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
