//! The `/status` pages of an origin and an edge in headless Chromium (Debian's, driven by npm's
//! playwright-core): they render, their SVG charts have data, nothing errs in the console, the
//! live page refreshes itself; screenshots are kept under `target/test-artifacts/`. And
//! `tinycdn report` over the same store and edge, as JSON and as a static page.

use std::fs;
use std::path::Path;

use crate::support::*;

fn browse(tools: &Path, url: &str, name: &str, wait_ms: u32) -> serde_json::Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let artifacts = root.join("target/test-artifacts");
    fs::create_dir_all(&artifacts).expect("mkdir");
    let shot = artifacts.join(format!("{name}.png"));
    let wait = wait_ms.to_string();
    let seen = node_json(
        tools,
        "scripts/browser-check.js",
        &[url.as_ref(), shot.as_os_str(), wait.as_ref()],
    );
    assert!(fs::metadata(&shot).expect("a screenshot").len() > 1000);
    seen
}

fn curl(url: &str) {
    assert_eq!(http_get(url).0, 200, "{url}");
}

fn bars(seen: &serde_json::Value, id: &str) -> u64 {
    seen["charts"]
        .as_array()
        .expect("charts")
        .iter()
        .find(|c| c["id"] == id)
        .and_then(|c| c["bars"].as_u64())
        .unwrap_or(0)
}

#[test]
fn status_pages_render_live_charts_in_chromium_and_report_writes_the_cost_model() {
    let tools = browser_tools();
    let dir = setup();
    let d = dir.path();
    publish_with_a_delta(d);
    let origin = Served::start(d, &["--pop", "origin1"]);
    let edge = Served::edge(d, &origin.url, &["--pop", "fra1"]);
    for _ in 0..3 {
        curl(&format!(
            "{}/v/site-media@stable/images/rocket.jpg",
            edge.url
        ));
    }

    let seen = browse(&tools, &format!("{}/status", edge.url), "status-edge", 6500);
    assert_eq!(seen["status"], 200, "{seen}");
    assert_eq!(seen["errors"].as_array().map(Vec::len), Some(0), "{seen}");
    assert_eq!(bars(&seen, "hit-ratio"), 2, "{seen}");
    assert!(bars(&seen, "tiers-fra1") >= 2, "{seen}");
    assert_eq!(
        seen["refreshed"], true,
        "the live page did not refresh: {seen}"
    );

    let seen = browse(
        &tools,
        &format!("{}/status", origin.url),
        "status-origin",
        0,
    );
    assert_eq!(seen["errors"].as_array().map(Vec::len), Some(0), "{seen}");
    assert_eq!(bars(&seen, "storage"), 3, "{seen}");
    assert_eq!(bars(&seen, "volume-site-media"), 2, "{seen}");
    assert!(bars(&seen, "deltas") >= 1, "{seen}");

    let report = json(
        &[
            "report",
            "--store",
            "store",
            "--edge",
            &edge.url,
            "--edge",
            &origin.url,
            "-o",
            "report.html",
        ],
        d,
    );
    let e = &report["edges"][0];
    assert_eq!(e["pop"], "fra1");
    assert!(
        e["hit_ratio_requests"].as_f64().expect("ratio") > 0.5,
        "{report}"
    );
    // Two of the three responses came from the cache: two thirds of the bytes served.
    let by = e["hit_ratio_bytes"].as_f64().expect("ratio");
    assert!((by - 2.0 / 3.0).abs() < 0.01, "{report}");
    assert!(
        report["store"]["duplication_factor"]
            .as_f64()
            .expect("factor")
            >= 1.0
    );
    assert_eq!(
        report["store"]["volumes"][0]["versions"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert!(
        report["store"]["deltas"][0]["saved_bytes_per_cpu_second"]
            .as_f64()
            .expect("x")
            > 0.0
    );
    let page = fs::read_to_string(d.join("report.html")).expect("report.html");
    assert!(
        page.contains("<svg") && !page.contains("<script"),
        "a static page"
    );
    let url = format!("file://{}", d.join("report.html").display());
    let seen = browse(&tools, &url, "report", 0);
    assert_eq!(seen["errors"].as_array().map(Vec::len), Some(0), "{seen}");
    // Only the edge looks chunks up: the origin has a table of its requests, not a hit ratio.
    assert_eq!(bars(&seen, "hit-ratio"), 2, "{seen}");
    assert!(
        page.contains("requests: object"),
        "the origin's own requests"
    );
}
