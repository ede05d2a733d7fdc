//! The Grafana dashboard under `deploy/` only queries metrics that nodes export: every metric
//! name in its queries is found in the live `/metrics` of an origin and an edge that play every
//! role (fabric with a log key, proxy, images, disk cache, access log).

use std::collections::BTreeSet;
use std::fs;

use crate::support::*;

fn get(url: &str) -> String {
    String::from_utf8_lossy(&http_get(url).1).into_owned()
}

fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &expr[i..];
        if (rest.starts_with("tinycdn_") || rest.starts_with("http_server_"))
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_'))
        {
            let len = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            out.push(rest[..len].to_owned());
            i += len;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn every_dashboard_query_names_a_metric_nodes_export() {
    let dash: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/grafana/tinycdn.json"
        ))
        .expect("dashboard"),
    )
    .expect("dashboard JSON");
    let mut wanted = BTreeSet::new();
    for p in dash["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().expect("targets") {
            wanted.extend(metric_names(t["expr"].as_str().expect("expr")));
        }
    }
    assert!(wanted.len() > 20, "{wanted:?}");

    let dir = setup();
    let d = dir.path();
    publish_with_a_delta(d);
    let key = ok(&["log", "key", "--store", "store"], d).trim().to_owned();
    let origin = Served::start(d, &["--pop", "origin1"]);
    let edge = Served::spawn(
        d,
        &[
            "edge",
            "--upstream",
            &origin.url,
            "--trust",
            "pub.key.pub",
            "--origin",
            &origin.url,
            "--log-key",
            &key,
            "--cache-dir",
            "cache",
            "--access-log",
            "edge.log",
            "--pop",
            "fra1",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let e = &edge.url;
    for path in [
        "/.tinycdn/v/site-media@stable/images/rocket.jpg",
        "/.tinycdn/v/site-media@stable/images/rocket.jpg?w=64",
        "/.tinycdn/log/checkpoint",
        "/.tinycdn/ts",
        "/v/site-media@stable/images/rocket.jpg",
    ] {
        get(&format!("{e}{path}"));
    }
    let exported: BTreeSet<String> = [
        get(&format!("{}/metrics", origin.url)),
        get(&format!("{e}/.tinycdn/metrics")),
    ]
    .iter()
    .flat_map(|t| tinycdn_telemetry::scrape::parse(t))
    .map(|s| s.name)
    .collect();
    let missing: Vec<&String> = wanted.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "queried but not exported: {missing:?}\nexported: {exported:?}"
    );
}
