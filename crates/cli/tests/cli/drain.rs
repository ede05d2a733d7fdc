//! Graceful drain on SIGTERM: readiness turns 503 at once while requests are still served,
//! downloads in flight over HTTP/1.1 and HTTP/2 finish, new connections are refused once the
//! drain delay is over, the access log holds every request and the process exits 0.

use std::fs;
use std::process::Command;
use std::time::Duration;

use crate::support::*;

#[test]
fn sigterm_drains_an_edge_without_cutting_a_request() {
    let dir = setup();
    let d = dir.path();
    // A file large enough to be still downloading when the signal comes.
    let big: Vec<u8> = (0..48u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(d.join("media/big.bin"), &big).expect("write");
    publish(d, "media", "stable");
    fs::create_dir_all(d.join("logs")).expect("mkdir");
    let origin = Served::start(d, &[]);
    let mut edge = Served::edge(
        d,
        &origin.url,
        &[
            "--drain-delay",
            "2",
            "--drain-timeout",
            "60",
            "--access-log",
            "logs/edge.log",
        ],
    );
    let base = edge.url.clone();
    assert_eq!(http_get(&format!("{base}/readyz")).0, 200);

    // Two slow clients, one over HTTP/1.1 and one over HTTP/2: 48 MiB at 8 MB/s, about 6 s.
    let url = format!("{base}/v/site-media@stable/big.bin");
    let downloads: Vec<_> = [
        ("h1.out", "--http1.1"),
        ("h2.out", "--http2-prior-knowledge"),
    ]
    .into_iter()
    .map(|(name, version)| {
        let out = d.join(name);
        let url = url.clone();
        let thread = std::thread::spawn(move || {
            let o = Command::new("curl")
                .args(["-s", version, "--limit-rate", "8M", "-o"])
                .arg(&out)
                .args(["-w", "%{http_code} %{http_version}", &url])
                .output()
                .expect("curl");
            String::from_utf8_lossy(&o.stdout).into_owned()
        });
        (d.join(name), thread)
    })
    .collect();
    std::thread::sleep(Duration::from_millis(800));
    signal(&edge.child, "-TERM");
    std::thread::sleep(Duration::from_millis(300));

    // Draining: readiness says so, and requests are still answered meanwhile.
    let (ready, body) = http_get(&format!("{base}/readyz"));
    assert_eq!((ready, &body[..]), (503, &b"draining\n"[..]));
    assert_eq!(http_get(&format!("{base}/healthz")).0, 200, "alive");
    let (status, css) = http_get(&format!("{base}/v/site-media@stable/site/app.css"));
    assert_eq!((status, &css[..]), (200, &b"body { margin: 0 }\n"[..]));

    // After the delay the listener is closed: a new connection is refused.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(http_get(&format!("{base}/healthz")).0, 0, "refused");

    // The downloads in flight finished whole (HTTP/2's after its GOAWAY).
    let mut versions = Vec::new();
    for (out, thread) in downloads {
        let got = thread.join().expect("download");
        assert!(got.starts_with("200 "), "{got}");
        versions.push(got[4..].to_owned());
        let bytes = fs::read(&out).expect("downloaded");
        assert_eq!(bytes.len(), big.len());
        assert!(bytes == big, "byte for byte");
    }
    assert_eq!(versions, ["1.1", "2"]);

    // The process exits 0 on its own once the download is done.
    let status = exit_status(&mut edge.child, Duration::from_secs(30));
    assert!(status.success(), "{status}");

    // Every request is in the access log, the download with all its bytes.
    let log = fs::read_to_string(d.join("logs/edge.log")).expect("log");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 6, "{log}");
    let big_lines: Vec<_> = lines
        .iter()
        .filter(|l| l["path"] == "/v/site-media@stable/big.bin")
        .collect();
    assert_eq!(big_lines.len(), 2, "both downloads logged");
    for l in big_lines {
        assert_eq!(l["bytes"].as_u64(), Some(big.len() as u64));
        assert_eq!(l["status"].as_u64(), Some(200));
    }
}

#[test]
fn a_second_signal_exits_at_once() {
    let dir = setup();
    let d = dir.path();
    let mut origin = Served::start(d, &["--drain-delay", "30"]);
    assert_eq!(http_get(&format!("{}/readyz", origin.url)).0, 200);
    signal(&origin.child, "-TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(http_get(&format!("{}/readyz", origin.url)).0, 503);
    signal(&origin.child, "-INT");
    let status = exit_status(&mut origin.child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(1));
}

#[test]
fn a_client_that_never_finishes_cannot_keep_the_process_from_stopping() {
    use std::io::Write as _;
    let dir = setup();
    let d = dir.path();
    let mut origin = Served::start(
        d,
        &[
            "--drain-delay",
            "0",
            "--drain-timeout",
            "1",
            "--header-timeout",
            "60",
        ],
    );
    // Half a request head, never finished: the connection stays busy.
    let addr = origin.url.trim_start_matches("http://").to_owned();
    let mut stuck = std::net::TcpStream::connect(&addr).expect("connect");
    stuck
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    std::thread::sleep(Duration::from_millis(200));
    let sent = std::time::Instant::now();
    signal(&origin.child, "-TERM");
    let status = exit_status(&mut origin.child, Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "--drain-timeout bounds the wait: {:?}",
        sent.elapsed()
    );
}
