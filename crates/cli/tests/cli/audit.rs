//! `tinycdn audit` end to end: on the JSON log an edge wrote, and on nginx logs (rotated files,
//! one gzipped, given out of order, with broken lines among them).

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::support::*;

fn wait_lines(path: &Path, want: usize) {
    for _ in 0..100 {
        if fs::read_to_string(path).unwrap_or_default().lines().count() >= want {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("fewer than {want} lines in {}", path.display());
}

#[test]
fn audit_reads_the_log_an_edge_wrote() {
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    let origin = Served::start(d, &[]);
    let edge = Served::edge(d, &origin.url, &["--access-log", "edge.log"]);
    let base = format!("{}/v/site-media@stable", edge.url);
    // rocket.jpg five times, app.css twice, a 404 once.
    for _ in 0..5 {
        assert_eq!(http_get(&format!("{base}/images/rocket.jpg")).0, 200);
    }
    for _ in 0..2 {
        assert_eq!(http_get(&format!("{base}/site/app.css")).0, 200);
    }
    assert_eq!(http_get(&format!("{base}/nope.jpg")).0, 404);
    wait_lines(&d.join("edge.log"), 8);
    // Ten times the working set: S3-FIFO's small queue (10 %) then holds any object too.
    let v = json(&["audit", "edge.log", "--cache-sizes", "1KiB,1000%"], d);
    assert_eq!(v["format"], "json");
    assert_eq!(v["requests"], 8);
    assert_eq!(v["malformed"], 0);
    let top = &v["top_objects"]["requests"][0];
    assert_eq!(top["key"], "/v/site-media@stable/images/rocket.jpg");
    assert_eq!(top["requests"], 5);
    assert_eq!(top["hits"], 4, "the edge's own verdicts are read");
    let statuses: Vec<u64> = v["by_status"]
        .as_array()
        .expect("statuses")
        .iter()
        .map(|s| s["status"].as_u64().expect("code"))
        .collect();
    assert_eq!(statuses, [200, 404]);
    // Seven cacheable requests of two objects: with room for all, only the two
    // first requests miss, for every policy.
    let curves = v["curves"].as_array().expect("curves");
    assert_eq!(curves.len(), 7 * 2, "six reference policies and the edge");
    for c in curves
        .iter()
        .filter(|c| c["cache_bytes"].as_u64() > Some(1024))
    {
        let m = c["object_miss_ratio"].as_f64().expect("ratio");
        assert!((m - 2.0 / 7.0).abs() < 1e-9, "{c}");
    }
    assert_eq!(v["simulation"]["requests"], 7);
}

fn nginx_line(t: &str, path: &str, bytes: u64, rt: f64) -> String {
    format!(
        r#"10.0.0.7 - - [{t} +0000] "GET {path} HTTP/1.1" 200 {bytes} "-" "Mozilla/5.0" {rt:.3} {rt:.3}"#
    )
}

#[test]
fn audit_reads_rotated_nginx_logs_in_time_order_and_counts_broken_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // The older file gzipped (as logrotate leaves it), named so that it sorts last.
    let mut old = Vec::new();
    for i in 0..50 {
        old.push(nginx_line(
            "01/Dec/2026:10:00:00",
            &format!("/media/{i}/thumb.jpg"),
            1000,
            0.010,
        ));
        old.push(nginx_line(
            "01/Dec/2026:10:00:01",
            "/media/hero.jpg",
            50_000,
            0.200,
        ));
    }
    old.push("\\x16\\x03\\x01 garbage from a TLS client".into());
    let mut gz = flate2::write::GzEncoder::new(
        fs::File::create(d.join("z-access.log.1.gz")).expect("create"),
        flate2::Compression::default(),
    );
    gz.write_all((old.join("\n") + "\n").as_bytes())
        .expect("write");
    gz.finish().expect("finish");
    let mut new = Vec::new();
    for i in 0..50 {
        new.push(nginx_line(
            "01/Dec/2026:11:00:00",
            &format!("/media/{i}/thumb.jpg"),
            1000,
            0.010,
        ));
    }
    new.push(
        r#"10.0.0.7 - - [01/Dec/2026:11:00:00 +0000] "GET /x HTTP/1.1" 2000 1 "-" "-""#.into(),
    );
    fs::write(d.join("a-access.log"), new.join("\n") + "\n").expect("write");
    let v = json(
        &[
            "audit",
            "a-access.log",
            "z-access.log.1.gz",
            "--policies",
            "lru,belady",
            "--cache-sizes",
            "60KB,1MiB",
        ],
        d,
    );
    assert_eq!(v["format"], "nginx");
    let files: Vec<&str> = v["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f.as_str().expect("name"))
        .collect();
    assert!(
        files[0].ends_with("z-access.log.1.gz"),
        "older first: {files:?}"
    );
    assert_eq!(v["requests"], 150);
    assert_eq!(v["malformed"], 2);
    let samples = v["malformed_samples"].as_array().expect("samples");
    assert_eq!(samples.len(), 2);
    assert!(samples
        .iter()
        .any(|s| s["error"].as_str().is_some_and(|e| e.contains("status"))));
    // Grouped: the thumbnails are one pattern; the hero image leads by latency impact.
    let g = &v["top_groups"]["requests"][0];
    assert_eq!(
        (g["key"].as_str(), g["requests"].as_u64()),
        (Some("/media/*/thumb.jpg"), Some(100))
    );
    assert_eq!(v["top_objects"]["latency"][0]["key"], "/media/hero.jpg");
    assert!(v["mounts"][0]["prefix"] == "/media/");
    // Belady bounds LRU at each size.
    let curve = |p: &str| -> Vec<f64> {
        v["curves"]
            .as_array()
            .expect("curves")
            .iter()
            .filter(|c| c["policy"] == p)
            .map(|c| c["object_miss_ratio"].as_f64().expect("ratio"))
            .collect()
    };
    for (l, b) in curve("lru").iter().zip(curve("belady")) {
        assert!(*l >= b);
    }
    // The text form answers the sizing questions.
    let text = ok(
        &[
            "audit",
            "a-access.log",
            "z-access.log.1.gz",
            "--target-hit",
            "0.3",
        ],
        d,
    );
    assert!(text.contains("cache for a 30 % hit ratio"), "{text}");
    assert!(text.contains("--mount /media/=media@stable"), "{text}");
    // The HTML report: one self-contained file with the curves of every policy (the edge's
    // variants among them), the answers and the distributions.
    ok(
        &[
            "audit",
            "a-access.log",
            "z-access.log.1.gz",
            "--policies",
            "lru,s3-fifo,edge-fifo,edge",
            "--edge-memory",
            "10%",
            "--report",
            "report.html",
        ],
        d,
    );
    let html = fs::read_to_string(d.join("report.html")).expect("report");
    for want in [
        "<svg id=\"object-miss\" class=\"chart\" data-series=\"4\"",
        "<svg id=\"byte-miss\"",
        "<svg id=\"popularity\"",
        "<svg id=\"sizes\"",
        "<svg id=\"top-groups\"",
        "data-name=\"edge-fifo\"",
        "data-name=\"edge\"",
        "/media/*/thumb.jpg",
        "--mount /media/=media@stable",
        "150 requests",
    ] {
        assert!(html.contains(want), "{want} not in the report");
    }
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href=\"http"));
    assert!(!html.contains("NaN") && !html.contains("inf\""));
}

#[test]
fn audit_refuses_what_it_cannot_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    fails(&["audit", "missing.log"], d, 1);
    fs::write(d.join("noise.log"), "hello\nworld\n").expect("write");
    let err = fails(&["audit", "noise.log"], d, 1);
    assert!(err.contains("cannot tell the format"), "{err}");
    fs::write(
        d.join("a.log"),
        nginx_line("01/Dec/2026:10:00:00", "/a", 1, 0.0) + "\n",
    )
    .expect("write");
    let err = fails(&["audit", "a.log", "--policies", "lru,magic"], d, 1);
    assert!(err.contains("unknown policy"), "{err}");
    let err = fails(&["audit", "a.log", "--cache-sizes", "lots"], d, 1);
    assert!(err.contains("--cache-sizes"), "{err}");
    let err = fails(&["audit", "a.log", "--edge-memory", "300%"], d, 1);
    assert!(err.contains("--edge-memory"), "{err}");
}

/// `replay` against a real application and a real edge in front of it: the same requests,
/// the same bytes, the edge's hits counted from its `Cache-Status`, first-byte times compared.
#[test]
fn replay_sends_a_log_to_the_origin_then_the_edge() {
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    let app = Served::start(d, &[]);
    let edge = Served::spawn(
        d,
        &["edge", "--origin", &app.url, "--listen", "127.0.0.1:0"],
    );
    let mut lines = Vec::new();
    for (path, n) in [
        ("/v/site-media@stable/images/rocket.jpg", 5),
        ("/v/site-media@stable/site/app.css", 3),
        ("/v/site-media@stable/nope.jpg", 1),
    ] {
        for _ in 0..n {
            lines.push(nginx_line("01/Dec/2026:10:00:00", path, 1, 0.01));
        }
    }
    lines.push(
        r#"10.0.0.7 - - [01/Dec/2026:10:00:01 +0000] "POST /v/site-media@stable/upload HTTP/1.1" 201 0 "-" "-""#.into(),
    );
    lines.push("not a log line".into());
    fs::write(d.join("access.log"), lines.join("\n") + "\n").expect("write");
    // One at a time, so that the edge's first request for each object is its only miss.
    let v = json(
        &[
            "replay",
            "access.log",
            "--target",
            &app.url,
            "--target",
            &edge.url,
            "--concurrency",
            "1",
            "--rate",
            "0",
        ],
        d,
    );
    assert_eq!(v["planned"], 9);
    assert_eq!(v["skipped"]["not_get"], 1);
    assert_eq!(v["malformed"], 1);
    let (origin, cdn) = (&v["targets"][0], &v["targets"][1]);
    for t in [origin, cdn] {
        assert_eq!(t["requests"], 9, "{t}");
        assert_eq!(t["errors"], 0, "{t}");
        assert_eq!(t["status"], serde_json::json!([8, 0, 1, 0]), "{t}");
        assert!(t["ttfb_ms"]["p50"].as_f64() > Some(0.0), "{t}");
        assert!(
            t["total_ms"]["p99"].as_f64() >= t["ttfb_ms"]["p99"].as_f64(),
            "{t}"
        );
    }
    assert_eq!(
        origin["bytes"], cdn["bytes"],
        "the same bytes through the edge"
    );
    assert!(origin["bytes"].as_u64() > Some(1000));
    assert_eq!(
        origin["hit_ratio"],
        serde_json::Value::Null,
        "the origin states no verdict"
    );
    assert!(cdn["hits"].as_u64() >= Some(6), "{cdn}");
    assert_eq!(v["speedups"][0]["against"], origin["target"]);
    // Text for people; a target that is not there fails the command with a hint.
    let text = ok(
        &[
            "replay",
            "access.log",
            "--target",
            &app.url,
            "--target",
            &edge.url,
            "--limit",
            "3",
        ],
        d,
    );
    assert!(text.contains("first byte at"), "{text}");
    assert!(text.contains("6 past --limit"), "{text}");
    let err = fails(
        &[
            "replay",
            "access.log",
            "--target",
            "http://127.0.0.1:9",
            "--timeout",
            "2",
        ],
        d,
        1,
    );
    assert!(
        err.contains("every request to http://127.0.0.1:9 failed"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    let err = fails(
        &["replay", "access.log", "--target", "https://example.com"],
        d,
        1,
    );
    assert!(err.contains("https is not supported"), "{err}");
}
