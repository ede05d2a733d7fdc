//! The transparency log end to end: a store's log listed, verified and proved locally and over
//! HTTP (from the origin and through an edge), nodes requiring it, and the failures it exists to
//! catch: a version that is not logged, a fork shown to a node and to an edge, a forged tile.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::*;

fn edge(d: &Path, upstream: &str, key: &str) -> Served {
    Served::spawn(
        d,
        &[
            "edge",
            "--upstream",
            upstream,
            "--trust",
            "pub.key.pub",
            "--log-key",
            key,
            "--listen",
            "127.0.0.1:0",
        ],
    )
}

fn write_site(d: &Path, text: &str) {
    fs::create_dir_all(d.join("site")).expect("mkdir");
    fs::write(d.join("site/index.html"), text).expect("write");
}

fn publish_site(d: &Path, store: &str) {
    ok(
        &[
            "publish", "site", "--store", store, "--volume", "www", "--tag", "stable", "--key",
            "pub.key",
        ],
        d,
    );
}

fn pull_args<'a>(url: &'a str, key: &'a str, node: &'a str) -> Vec<&'a str> {
    vec![
        "pull",
        "www@stable",
        "--from",
        url,
        "--trust",
        "pub.key.pub",
        "--store",
        node,
        "--log-key",
        key,
        "--require-log",
    ]
}

#[test]
fn the_log_is_shown_verified_and_proved_and_catches_forks_and_forgeries() {
    let dir = setup();
    let d = dir.path();
    write_site(d, "<h1>one</h1>");
    publish_site(d, "store");
    let key = ok(&["log", "key", "--store", "store"], d).trim().to_owned();
    assert!(key.starts_with("tinycdn-log/"), "{key}");
    fs::write(d.join("log.key"), format!("{key}\n")).expect("write");
    let shown = json(&["log", "show", "--store", "store"], d);
    let kinds: Vec<&str> = shown["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["publish", "tag", "snapshot", "timestamp"]);
    ok(&["log", "verify", "--store", "store", "--save", "cp1"], d);

    // Over HTTP from the origin, the key given as a file.
    let origin = Served::start(d, &[]);
    let (code, note) = http_get(&format!("{}/log/checkpoint", origin.url));
    assert_eq!(code, 200);
    assert_eq!(note, fs::read(d.join("cp1")).expect("saved"));
    write_site(d, "<h1>two</h1>");
    publish_site(d, "store");
    let text = ok(
        &[
            "log",
            "verify",
            "--from",
            &origin.url,
            "--log-key",
            "log.key",
            "--against",
            "cp1",
        ],
        d,
    );
    assert!(
        text.contains("8 entries verified") && text.contains("extends"),
        "{text}"
    );
    let proved = json(
        &[
            "log",
            "prove",
            "www@stable",
            "--from",
            &origin.url,
            "--log-key",
            &key,
        ],
        d,
    );
    assert_eq!(proved["index"], 4, "{proved}");
    assert!(proved["entry"]
        .as_str()
        .expect("entry")
        .contains(" publish volume=www number=2 "));

    // Through an edge: the same checkpoint, tiles authenticated on the way.
    let e = edge(d, &origin.url, &key);
    let (code, via_edge) = http_get(&format!("{}/log/checkpoint", e.url));
    assert_eq!(
        (code, &via_edge),
        (200, &http_get(&format!("{}/log/checkpoint", origin.url)).1)
    );
    let text = ok(
        &[
            "log",
            "verify",
            "--from",
            &e.url,
            "--log-key",
            &key,
            "--against",
            "cp1",
        ],
        d,
    );
    assert!(text.contains("8 entries verified"), "{text}");

    // A node requires the log: the version is proved before anything is installed.
    let pulled = json(&pull_args(&origin.url, &key, "n1"), d);
    assert_eq!(
        (pulled["log_size"].as_u64(), pulled["log_index"].as_u64()),
        (Some(8), Some(4))
    );

    // A version the log does not record (its lookup gone): refused, exit 3, nothing installed.
    let version = pulled["version"].as_str().expect("version").to_owned();
    let index = d.join("store/log/index").join(&version);
    let saved = fs::read(&index).expect("index");
    fs::remove_file(&index).expect("rm");
    let err = fails(&pull_args(&origin.url, &key, "n2"), d, 3);
    assert!(err.contains("not in the log"), "{err}");
    assert!(
        !d.join("n2/manifests").exists()
            || fs::read_dir(d.join("n2/manifests")).map_or(0, |r| r.count()) == 0
    );
    fs::write(&index, saved).expect("restore");

    // A forged tile: the edge refuses it (502, counted), a reader exits 3.
    let tile = d.join("store/log/tile/0/000");
    let good = fs::read(&tile).expect("tile");
    let mut bad = good.clone();
    bad[1] ^= 1;
    fs::write(&tile, &bad).expect("forge");
    // The edge still serves the copy it authenticated earlier (the consistency proof read it)...
    let (code, body) = http_get(&format!("{}/log/tile/0/000.p/8", e.url));
    assert_eq!((code, body), (200, good[..256].to_vec()));
    // ...but a tile it has not seen, cut from the forged one, is refused.
    let (code, _) = http_get(&format!("{}/log/tile/0/000.p/7", e.url));
    assert_eq!(code, 502);
    let (_, metrics) = http_get(&format!("{}/metrics", e.url));
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    assert!(
        tinycdn_telemetry::scrape::value(
            &metrics,
            "tinycdn_log_tiles_refused_total",
            &[("role", "edge")]
        ) == Some(1.0),
        "{metrics}"
    );
    fails(
        &[
            "log",
            "prove",
            "www@stable",
            "--from",
            &origin.url,
            "--log-key",
            &key,
        ],
        d,
        3,
    );
    fs::write(&tile, &good).expect("restore");
    let (code, body) = http_get(&format!("{}/log/tile/0/000.p/7", e.url));
    assert_eq!((code, body), (200, good[..224].to_vec()));

    // A fork: a copy of the store taken at size 4 grows differently. A node that saw one view
    // refuses the other (exit 3); the edge answers 503 and says so in its metrics.
    let port = origin.url.rsplit(':').next().expect("port").to_owned();
    // An edge with a disk accepts the honest log, then stops; it will be started again below.
    let origin_url = origin.url.clone();
    let kept_args = [
        "edge",
        "--upstream",
        &origin_url,
        "--trust",
        "pub.key.pub",
        "--log-key",
        &key,
        "--cache-dir",
        "edge-cache",
        "--listen",
        "127.0.0.1:0",
    ];
    let kept = Served::spawn(d, &kept_args);
    assert_eq!(http_get(&format!("{}/log/checkpoint", kept.url)).0, 200);
    drop(kept);
    drop(origin);
    let status = Command::new("cp")
        .args(["-a", "store", "fork"])
        .current_dir(d)
        .status()
        .expect("cp");
    assert!(status.success());
    // Rewind the fork to the first checkpoint, then publish something else there.
    fs::write(
        d.join("fork/log/checkpoint"),
        fs::read(d.join("cp1")).expect("cp1"),
    )
    .expect("rewind");
    write_site(d, "<h1>other</h1>");
    publish_site(d, "fork");
    let listen = format!("127.0.0.1:{port}");
    let forked = Served::spawn(d, &["serve", "--store", "fork", "--listen", &listen]);
    std::thread::sleep(Duration::from_millis(1100));
    let err = fails(&pull_args(&forked.url, &key, "n1"), d, 3);
    assert!(err.contains("split view"), "{err}");
    let (code, body) = http_get(&format!("{}/log/checkpoint", e.url));
    assert_eq!(code, 503, "{}", String::from_utf8_lossy(&body));
    // Restarted, the edge with a disk still holds the checkpoint it accepted: the fork is a split
    // view to it too (a fresh edge would take the fork as the log).
    let restarted = Served::spawn(d, &kept_args);
    let (code, body) = http_get(&format!("{}/log/checkpoint", restarted.url));
    assert_eq!(code, 503, "{}", String::from_utf8_lossy(&body));
    let (_, metrics) = http_get(&format!("{}/metrics", e.url));
    let metrics = String::from_utf8_lossy(&metrics).into_owned();
    assert!(
        tinycdn_telemetry::scrape::value(&metrics, "tinycdn_log_split_view", &[("role", "edge")])
            == Some(1.0),
        "{metrics}"
    );
    assert!(
        tinycdn_telemetry::scrape::value(
            &metrics,
            "tinycdn_log_split_views_total",
            &[("role", "edge")]
        ) == Some(1.0),
        "{metrics}"
    );
}
