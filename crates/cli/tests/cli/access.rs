//! Access logs end to end: JSON lines from an edge (a miss, then a hit, with the bytes sent and
//! the route class), nginx `combined` from an origin, rotation by SIGHUP, and a log directory
//! that disappears under a serving node (requests unaffected, the failures counted).

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::support::*;

fn curl(url: &str) -> (u16, usize) {
    let (code, body) = http_get(url);
    (code, body.len())
}

fn lines(path: &Path, want: usize) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        let text = fs::read_to_string(path).unwrap_or_default();
        let got: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        if got.len() >= want {
            return got;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("fewer than {want} lines in {}", path.display());
}

fn hup(child: &std::process::Child) {
    signal(child, "-HUP");
}

#[test]
fn access_logs_are_written_rotated_and_survive_a_vanished_directory() {
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    fs::create_dir_all(d.join("logs")).expect("mkdir");
    let origin = Served::start(
        d,
        &[
            "--access-log",
            "logs/origin.log",
            "--access-log-format",
            "combined",
            "--pop",
            "origin1",
        ],
    );
    let edge = Served::edge(
        d,
        &origin.url,
        &["--pop", "fra1", "--access-log", "logs/edge.log"],
    );
    let url = format!("{}/v/site-media@stable/images/rocket.jpg?x=1", edge.url);
    let (s1, n1) = curl(&url);
    let (s2, n2) = curl(&url);
    assert_eq!((s1, s2, n1), (200, 200, n2));
    let got = lines(&d.join("logs/edge.log"), 2);
    let (miss, hit) = (&got[0], &got[1]);
    for key in [
        "time",
        "pop",
        "client",
        "method",
        "host",
        "path",
        "query",
        "status",
        "bytes",
        "duration_ms",
        "ttfb_ms",
        "cache",
        "upstream",
        "trace_id",
        "route",
        "user_agent",
        "referer",
    ] {
        assert!(miss.get(key).is_some(), "{key} missing from {miss}");
    }
    assert_eq!(miss["pop"], "fra1");
    assert_eq!(miss["path"], "/v/site-media@stable/images/rocket.jpg");
    assert_eq!(miss["query"], "x=1");
    assert_eq!(miss["route"], "volume_file");
    assert_eq!(
        (miss["cache"].as_str(), hit["cache"].as_str()),
        (Some("miss"), Some("hit"))
    );
    assert_eq!(miss["upstream"], origin.url.as_str());
    assert!(hit["upstream"].is_null());
    assert_eq!(hit["bytes"].as_u64(), Some(n1 as u64));
    assert!(hit["duration_ms"].as_f64().expect("ms") >= hit["ttfb_ms"].as_f64().expect("ms"));

    // The origin's combined lines: the edge's fills.
    let text = fs::read_to_string(d.join("logs/origin.log")).unwrap_or_default();
    let first = text.lines().next().expect("an origin line");
    assert!(
        first.starts_with("127.0.0.1 - - [") && first.contains("] \"GET /"),
        "{first}"
    );

    // Rotation: the file is moved away, SIGHUP, and new lines go to a new file.
    fs::rename(d.join("logs/edge.log"), d.join("logs/edge.log.1")).expect("rotate");
    hup(&edge.child);
    std::thread::sleep(Duration::from_millis(300));
    curl(&url);
    let after = lines(&d.join("logs/edge.log"), 1);
    assert_eq!(after[0]["cache"], "hit");
    assert_eq!(lines(&d.join("logs/edge.log.1"), 2).len(), 2);

    // The directory vanishes: requests are still served, the lost lines counted.
    fs::remove_dir_all(d.join("logs")).expect("rm");
    hup(&edge.child);
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        assert_eq!(curl(&url).0, 200);
    }
    std::thread::sleep(Duration::from_millis(400));
    let metrics =
        String::from_utf8_lossy(&http_get(&format!("{}/metrics", edge.url)).1).into_owned();
    let errors = tinycdn_telemetry::scrape::value(
        &metrics,
        "tinycdn_access_log_lines_total",
        &[("result", "error")],
    )
    .unwrap_or(0.0);
    assert!(errors >= 3.0, "{metrics}");
    // Back again: the next lines are written.
    fs::create_dir_all(d.join("logs")).expect("mkdir");
    hup(&edge.child);
    std::thread::sleep(Duration::from_millis(300));
    curl(&url);
    assert_eq!(lines(&d.join("logs/edge.log"), 1)[0]["status"], 200);
}
