//! `tinycdn edge --config`: many sites by host, each with its own application, mounts, image
//! policy and fields; `--check`; SIGHUP reloads under load (sites added and removed, a broken
//! file refused with the old sites still serving); certificates read again; an upgrade that
//! hands the listeners to a new process without a failed request.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;

/// A small application on a free port: every answer is `NAME PATH`, cacheable for a minute.
fn app(name: &'static str) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for conn in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().expect("clone"));
                let mut w = conn;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        if h == "\r\n" {
                            break;
                        }
                    }
                    let body = format!("{name} {path}");
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: max-age=60\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    if w.write_all(head.as_bytes()).is_err()
                        || w.write_all(body.as_bytes()).is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// A GET of `path` on the edge at `base` with `Host: host`: status, body and the `x-site` field.
fn get(base: &str, host: &str, path: &str) -> (u16, String, Option<String>) {
    let got = http_full(base, path, &[&format!("Host: {host}")]);
    let site = got.header("x-site").map(str::to_owned);
    (got.status, got.text(), site)
}

fn write_config(d: &std::path::Path, text: &str) {
    fs::write(d.join("edge.toml.tmp"), text).expect("write");
    fs::rename(d.join("edge.toml.tmp"), d.join("edge.toml")).expect("rename");
}

/// Waits until `f` holds (10 s at most).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < until, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sites_by_host_each_with_its_application_mounts_and_image_policy() {
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    let origin = Served::start(d, &[]);
    let (a, b) = (app("app-a"), app("app-b"));
    let config = format!(
        r#"
listen = "127.0.0.1:0"
[limits]
drain_delay = 0
[upstream]
mirrors = ["{origin}"]
trust = ["pub.key.pub"]

[[site]]
name = "shop"
hosts = ["shop.test", "*.shop.test"]
origin = "{a}"
mounts = {{ "/media" = "site-media@stable" }}
headers = {{ "X-Site" = "shop" }}
[site.images]
widths = [64]

[[site]]
name = "blog"
hosts = ["blog.test"]
origin = "{b}"
headers = {{ "X-Site" = "blog" }}
[site.images]
allow_any = true

[[site]]
name = "fallback"
hosts = ["*"]
origin = "{b}"
"#,
        origin = origin.url
    );
    write_config(d, &config);
    let checked = ok(&["edge", "--config", "edge.toml", "--check"], d);
    assert!(
        checked.contains("name = \"shop\"") && checked.contains("[[site]]"),
        "{checked}"
    );
    fs::create_dir_all(d.join("logs")).expect("mkdir");
    let edge = Served::spawn(
        d,
        &[
            "edge",
            "--config",
            "edge.toml",
            "--access-log",
            "logs/a.log",
        ],
    );
    let base = edge.url.clone();
    // Each host reaches its own application, with its own fields.
    assert_eq!(
        get(&base, "shop.test", "/p/1"),
        (200, "app-a /p/1".into(), Some("shop".into()))
    );
    assert_eq!(get(&base, "eu.shop.test", "/p/2").1, "app-a /p/2");
    assert_eq!(
        get(&base, "blog.test", "/p/1"),
        (200, "app-b /p/1".into(), Some("blog".into()))
    );
    assert_eq!(
        get(&base, "other.test", "/p/1"),
        (200, "app-b /p/1".into(), None)
    );
    // A cached answer of one site is never another's: same path, other host.
    assert_eq!(get(&base, "shop.test", "/p/1").1, "app-a /p/1");
    // The shop mounts the volume; the blog has no mount, the path is its application's.
    let file = fs::read(d.join("media/images/rocket.jpg")).expect("file");
    let got = http_full(&base, "/media/images/rocket.jpg", &["Host: shop.test"]);
    assert_eq!((got.status, &got.body), (200, &file));
    assert_eq!(
        get(&base, "blog.test", "/media/images/rocket.jpg").1,
        "app-b /media/images/rocket.jpg"
    );
    // Image policy per site: the shop's allowlist has 64 only.
    let v = http_full(&base, "/media/images/rocket.jpg?w=64", &["Host: shop.test"]);
    assert_eq!(v.status, 200, "{}", v.text());
    assert_eq!(v.header("content-type"), Some("image/jpeg"));
    let refused = http_full(
        &base,
        "/media/images/rocket.jpg?w=100",
        &["Host: shop.test"],
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
    // Metrics per site.
    let metrics = http_get(&format!("{base}/.tinycdn/metrics")).1;
    let metrics = String::from_utf8_lossy(&metrics);
    for site in ["shop", "blog", "fallback"] {
        assert!(
            metrics.contains(&format!(
                "tinycdn_site_requests_total{{role=\"edge\",pop=\"default\",site=\"{site}\"}}"
            )),
            "{site}: {metrics}"
        );
    }
    assert!(metrics.contains("tinycdn_proxy_requests_total{role=\"edge\",pop=\"default\",site=\"shop\",result=\"hit\"} 1"), "{metrics}");
    // The access log names the site of each line (flushed when the edge stops).
    let mut edge = edge;
    signal(&edge.child, "-TERM");
    assert!(exit_status(&mut edge.child, Duration::from_secs(20)).success());
    let log = fs::read_to_string(d.join("logs/a.log")).expect("the access log");
    for site in ["shop", "blog", "fallback"] {
        assert!(
            log.contains(&format!("\"site\":\"{site}\"")),
            "{site}: {log}"
        );
    }
}

#[test]
fn bad_configurations_are_refused_at_start_with_file_and_line() {
    let dir = setup();
    let d = dir.path();
    for (text, want) in [
        ("listen = \"127.0.0.1:0\"\n[cache]\nsise = \"1GiB\"\n", "sise"),
        (
            "[[site]]\nhosts = [\"a.test\"]\norigin = \"http://127.0.0.1:1\"\n\n[[site]]\nhosts = [\"a.test\"]\norigin = \"http://127.0.0.1:2\"\n",
            "line 5: site[1].hosts",
        ),
        (
            "[[site]]\nhosts = [\"*\"]\nmounts = { \"/m\" = \"site-media@stable\" }\n",
            "upstream",
        ),
        ("[[site]]\nhosts = [\"*\"]\norigin = \"http://127.0.0.1:1\"\npurge_token_file = \"nope\"\n", "nope"),
    ] {
        write_config(d, text);
        let err = fails(&["edge", "--config", "edge.toml", "--listen", "127.0.0.1:0"], d, 2);
        assert!(err.contains("edge.toml") && err.contains(want), "{want}: {err}");
        let err = fails(&["edge", "--config", "edge.toml", "--check"], d, 2);
        assert!(err.contains(want), "{want}: {err}");
    }
    // A listener already in use.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    write_config(
        d,
        "[[site]]\nhosts = [\"*\"]\norigin = \"http://127.0.0.1:1\"\n",
    );
    let err = fails(&["edge", "--config", "edge.toml", "--listen", &addr], d, 2);
    assert!(
        err.contains("cannot listen") && err.contains(&addr),
        "{err}"
    );
}

/// Requests against `base` for `host`, one every 10 ms or so, until `stop`: how many were
/// answered 200, and what went wrong with the others.
fn load(
    base: String,
    host: &'static str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(u64, Vec<String>)> {
    std::thread::spawn(move || {
        let (mut ok, mut failed) = (0, Vec::new());
        while !stop.load(Ordering::Relaxed) {
            let addr = base.trim_start_matches("http://");
            let answer = TcpStream::connect(addr).and_then(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(10)))?;
                write!(
                    s,
                    "GET /n HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                )?;
                let mut buf = Vec::new();
                s.read_to_end(&mut buf)?;
                Ok(buf)
            });
            match answer {
                Ok(b) if b.starts_with(b"HTTP/1.1 200") => ok += 1,
                Ok(b) => failed.push(String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned()),
                Err(e) => failed.push(e.to_string()),
            }
            // A steady trickle, not a busy loop: the other tests share the two cores.
            std::thread::sleep(Duration::from_millis(10));
        }
        (ok, failed)
    })
}

#[test]
fn sighup_reloads_sites_under_load_and_keeps_them_when_the_file_is_wrong() {
    let dir = setup();
    let d = dir.path();
    let (a, b) = (app("app-a"), app("app-b"));
    let site_a = format!("[[site]]\nname = \"a\"\nhosts = [\"a.test\"]\norigin = \"{a}\"\n");
    let site_b = format!("[[site]]\nname = \"b\"\nhosts = [\"b.test\"]\norigin = \"{b}\"\n");
    write_config(d, &format!("listen = \"127.0.0.1:0\"\n{site_a}"));
    let edge = Served::spawn(d, &["edge", "--config", "edge.toml"]);
    let base = edge.url.clone();
    let (status, body, _) = get(&base, "b.test", "/");
    assert_eq!(status, 421, "no site at b.test yet");
    // The client is local, so it learns which hosts the edge does serve.
    assert!(body.contains("it serves: a.test"), "{body}");
    let stop = Arc::new(AtomicBool::new(false));
    let busy = load(base.clone(), "a.test", stop.clone());
    // Add a site.
    write_config(d, &format!("listen = \"127.0.0.1:0\"\n{site_a}{site_b}"));
    signal(&edge.child, "-HUP");
    eventually("b.test is served after the reload", || {
        get(&base, "b.test", "/x").1 == "app-b /x"
    });
    // A broken file: refused, both sites still served.
    write_config(d, &format!("listen = \"127.0.0.1:0\"\n{site_a}{site_b}[[site]]\nhosts = [\"a.test\"]\norigin = \"{b}\"\n"));
    signal(&edge.child, "-HUP");
    eventually("the refused reload is counted", || {
        let m = http_get(&format!("{base}/.tinycdn/metrics")).1;
        String::from_utf8_lossy(&m).contains(
            "tinycdn_config_reloads_total{role=\"edge\",pop=\"default\",result=\"error\"} 1",
        )
    });
    assert_eq!(get(&base, "b.test", "/y").1, "app-b /y");
    assert_eq!(get(&base, "a.test", "/y").1, "app-a /y");
    // Some load after the reloads too, however fast they went.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (served, failed) = busy.join().expect("load");
    assert!(served > 10, "{served}");
    assert!(failed.is_empty(), "failed across the reloads: {failed:?}");
    // Remove a site: its host is no one's now.
    write_config(d, &format!("listen = \"127.0.0.1:0\"\n{site_b}"));
    signal(&edge.child, "-HUP");
    eventually("a.test is gone", || get(&base, "a.test", "/").0 == 421);
    let m = String::from_utf8_lossy(&http_get(&format!("{base}/.tinycdn/metrics")).1).into_owned();
    assert!(
        m.contains("tinycdn_config_reloads_total{role=\"edge\",pop=\"default\",result=\"ok\"} 2"),
        "{m}"
    );
}

#[test]
fn an_upgrade_hands_the_listeners_over_without_a_failed_request() {
    let dir = setup();
    let d = dir.path();
    let a = app("app-a");
    write_config(
        d,
        &format!("listen = \"127.0.0.1:0\"\nupgrade_socket = \"up.sock\"\n[[site]]\nhosts = [\"*\"]\norigin = \"{a}\"\n"),
    );
    let mut old = Served::spawn(d, &["edge", "--config", "edge.toml"]);
    let base = old.url.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..4)
        .map(|_| load(base.clone(), "a.test", stop.clone()))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let new = Served::spawn(d, &["edge", "--config", "edge.toml", "--take-over"]);
    assert_eq!(new.url, base, "the same listener");
    let status = exit_status(&mut old.child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let (mut served, mut failed) = (0, Vec::new());
    for b in busy {
        let (s, f) = b.join().expect("load");
        served += s;
        failed.extend(f);
    }
    assert!(served > 20, "{served}");
    assert!(failed.is_empty(), "failed across the upgrade: {failed:?}");
    assert_eq!(get(&base, "a.test", "/after").1, "app-a /after");
    // The new process can be upgraded in turn.
    assert!(d.join("up.sock").exists());
}

#[test]
fn a_renewed_certificate_is_used_after_sighup_and_a_broken_pair_is_not() {
    let dir = setup();
    let d = dir.path();
    let first = d.join("first");
    let second = d.join("second");
    for p in [&first, &second] {
        fs::create_dir_all(p).expect("mkdir");
        crate::test_ca(p);
    }
    fs::copy(first.join("cert.pem"), d.join("cert.pem")).expect("copy");
    fs::copy(first.join("key.pem"), d.join("key.pem")).expect("copy");
    let a = app("app-a");
    write_config(
        d,
        &format!("listen = \"127.0.0.1:0\"\n[tls]\ncert = \"cert.pem\"\nkey = \"key.pem\"\n[[site]]\nhosts = [\"*\"]\norigin = \"{a}\"\n"),
    );
    let edge = Served::spawn(d, &["edge", "--config", "edge.toml"]);
    let curl = |ca: &std::path::Path| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(ca)
            .arg(format!("{}/x", edge.url))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl(&first.join("ca.pem")), "200");
    // A renewal caught between its two files (the new key, the old certificate): refused.
    fs::copy(second.join("key.pem"), d.join("key.pem")).expect("copy");
    signal(&edge.child, "-HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(curl(&first.join("ca.pem")), "200", "the pair in use stays");
    // The whole renewal: the new pair is used.
    fs::copy(second.join("cert.pem"), d.join("cert.pem")).expect("copy");
    signal(&edge.child, "-HUP");
    eventually("the renewed certificate is presented", || {
        curl(&second.join("ca.pem")) == "200"
    });
    assert_ne!(curl(&first.join("ca.pem")), "200");
}

/// One tenant's purge token purges only its own stored responses, however wide the purge it
/// asks for; another tenant's responses stay hits.
#[test]
fn a_sites_purge_token_purges_only_that_sites_responses() {
    use std::os::unix::fs::PermissionsExt;
    let dir = setup();
    let d = dir.path();
    let (a, b) = (app("app-a"), app("app-b"));
    for (name, token) in [
        ("a.token", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
        ("b.token", "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d"),
    ] {
        fs::write(d.join(name), format!("{token}\n")).expect("write");
        fs::set_permissions(d.join(name), fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    write_config(
        d,
        &format!(
            "listen = \"127.0.0.1:0\"\n[[site]]\nname = \"a\"\nhosts = [\"a.test\"]\norigin = \"{a}\"\npurge_token_file = \"a.token\"\n[[site]]\nname = \"b\"\nhosts = [\"b.test\"]\norigin = \"{b}\"\npurge_token_file = \"b.token\"\n"
        ),
    );
    let edge = Served::spawn(d, &["edge", "--config", "edge.toml"]);
    let status = |host: &str| {
        http_full(&edge.url, "/same", &[&format!("Host: {host}")])
            .header("cache-status")
            .unwrap_or_default()
            .to_owned()
    };
    for host in ["a.test", "b.test"] {
        status(host);
        assert!(status(host).contains("hit"), "{host} stored");
    }
    // The widest purge there is, with a's token: every path on every host.
    let purged = json(
        &[
            "purge",
            "--edge",
            &edge.url,
            "--token-file",
            "a.token",
            "--prefix",
            "/",
        ],
        d,
    );
    assert_eq!(purged["purged"], 1, "only a's response: {purged}");
    assert!(status("b.test").contains("hit"), "b's response stays");
    assert!(!status("a.test").contains("; hit"), "a's response went");
    // b's token purges b's.
    let purged = json(
        &[
            "purge",
            "--edge",
            &edge.url,
            "--token-file",
            "b.token",
            "--url",
            "http://b.test/same",
        ],
        d,
    );
    assert_eq!(purged["purged"], 1, "{purged}");
}
