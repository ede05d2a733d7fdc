//! The example site in headless Chromium (Debian's, driven by npm's playwright-core through
//! `scripts/site-browser.js`, one persistent profile across the steps): it loads, its service
//! worker installs and precaches the version's files, the gallery shows the edge's responsive
//! variants, `/api` answers, a 404 and the single-page-app fallback behave; **the edge is
//! stopped and a reload still renders the shell from the cache**; a new version is published,
//! the tag moves, and the navigation after the new worker takes over shows it, with no asset of
//! the old version mixed in.

use std::path::Path;

use crate::site_edge::{build_example, publish_site, Api};
use crate::support::*;

fn step(tools: &Path, which: &str, url: &str, profile: &Path) -> serde_json::Value {
    let seen = node_json(
        tools,
        "scripts/site-browser.js",
        &[which.as_ref(), url.as_ref(), profile.as_os_str()],
    );
    assert_eq!(seen["errors"], serde_json::json!([]), "{which}: {seen}");
    seen
}

fn same(v: &serde_json::Value, label: &str) {
    for part in ["html", "js", "css"] {
        assert_eq!(v[part], label, "{part} of {v}");
    }
}

#[test]
fn the_example_site_in_a_real_browser() {
    let tools = browser_tools();
    let dir = setup();
    let d = dir.path();
    let media = tinycdn_store::testing::sample_media().join("images");
    build_example(d, "v1", "1", Some(&media));
    publish_site(d, "v1", "www");
    let origin = Served::start(d, &[]);
    let api_port = free_port();
    let _api = Api::start(api_port);
    let api = format!("/api=http://127.0.0.1:{api_port}");
    // Service workers need a secure context: localhost is one. The edge comes back on the same
    // port (the worker belongs to that origin).
    let listen = format!("127.0.0.1:{}", free_port());
    let edge_args = [
        "edge",
        "--upstream",
        origin.url.as_str(),
        "--trust",
        "pub.key.pub",
        "--listen",
        &listen,
        "--site",
        "localhost=www@stable",
        "--site-api",
        &api,
        "--tag-max-age",
        "1",
        "--image-widths",
        "320,640",
        // The transform workers run at nice 19: behind other tests' servers on the same 2 cores
        // the default 10 s (queueing included) can pass and a variant answer 503, the likely
        // cause of one failed run. This test is about what the browser gets, not how fast.
        "--image-timeout",
        "120",
    ];
    let url = format!("http://localhost:{}/", &listen[10..]);
    let profile = d.join("profile");

    let edge = Served::spawn(d, &edge_args);
    let load = step(&tools, "load", &url, &profile);
    assert_eq!(load["status"], 200);
    same(&load["first"], "1");
    assert_eq!(load["greeting"], "hello from the backend");
    let cached: Vec<&str> = load["cached"]
        .as_array()
        .expect("cached")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for url in ["/", "/about", "/docs/", "/manifest.webmanifest"] {
        assert!(cached.contains(&url), "{url} precached: {cached:?}");
    }
    assert!(
        cached.iter().any(|u| u.starts_with("/assets/app.")),
        "{cached:?}"
    );
    assert!(!cached.contains(&"/sw.js") && !cached.contains(&"/_headers"));
    let gallery = load["gallery"].as_array().expect("gallery");
    assert_eq!(gallery.len(), 3, "{gallery:?}");
    for img in gallery {
        // The edge's variant, 320 px wide, not the 512 px original.
        assert_eq!(img["width"], 320, "{img}; responses: {}", load["images"]);
        assert!(img["src"].as_str().is_some_and(|s| s.contains("?w=320")));
    }
    assert_eq!(
        load["not_found"],
        serde_json::json!({"status": 404, "page": true})
    );
    assert_eq!(
        load["spa"],
        serde_json::json!({"status": 200, "route": "/some/client/route"})
    );
    assert_eq!(load["missing_asset"], 404);

    drop(edge);
    assert_eq!(http_get(&url).0, 0, "the edge is down");
    let offline = step(&tools, "offline", &url, &profile);
    same(&offline["after_reload"], "1");
    same(&offline["after_second_reload"], "1");

    build_example(d, "v2", "2", Some(&media));
    publish_site(d, "v2", "www");
    let _edge = Served::spawn(d, &edge_args);
    let update = step(&tools, "update", &url, &profile);
    same(&update["before"], "1");
    same(&update["after"], "2");
    assert_eq!(
        update["cache_names"].as_array().map(Vec::len),
        Some(1),
        "the old version's cache is gone: {update}"
    );
}
