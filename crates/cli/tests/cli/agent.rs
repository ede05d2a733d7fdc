//! `tinycdn agent`: a node's volumes kept current from an origin, checked out atomically;
//! `/metrics`, `/healthz`, `/readyz`; the origin going away, a restart, a full disk, bad
//! configurations.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use tinycdn_telemetry::scrape;

use super::support::*;

fn config(d: &Path, name: &str, origin: &str, store: &str, checkout: &str) {
    fs::write(
        d.join(name),
        format!(
            "store = \"{store}\"\nfrom = [\"{origin}\"]\ntrust = [\"pub.key.pub\"]\ninterval = 1\nkeep = 2\n\n[[volume]]\nref = \"site-media@stable\"\ncheckout = \"{checkout}\"\n"
        ),
    )
    .expect("write");
}

fn metric(url: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let (status, body) = http_get(&format!("{url}/metrics"));
    assert_eq!(status, 200);
    scrape::sum(&String::from_utf8_lossy(&body), name, labels)
}

#[track_caller]
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn version_of(link: &Path) -> String {
    fs::read_link(link)
        .expect("a checkout symlink")
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn the_agent_keeps_a_checkout_current_and_survives_its_origin_and_restarts() {
    let dir = setup();
    let d = dir.path();
    let v1 = publish(d, "media", "stable")["version"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut origin = Served::start(d, &[]);
    config(d, "agent.toml", &origin.url, "node", "srv/media");

    // One round: the node's store is made, the version checked out.
    let once = json(&["agent", "--config", "agent.toml", "--once"], d);
    assert_eq!(once["ok"], true, "{once}");
    assert_eq!(once["volumes"][0]["result"], "updated");
    let link = d.join("srv/media");
    assert_eq!(version_of(&link), v1);
    assert_eq!(
        fs::read(link.join("images/rocket.jpg")).expect("checked out"),
        fs::read(d.join("media/images/rocket.jpg")).expect("source")
    );
    let again = json(&["agent", "--config", "agent.toml", "--once"], d);
    assert_eq!(again["volumes"][0]["result"], "unchanged");
    // A fresh process with the checkout already current knows its version number.
    assert_eq!(again["volumes"][0]["number"], 1, "{again}");

    // Running: it follows the tag.
    let agent = Served::spawn(
        d,
        &["agent", "--config", "agent.toml", "--listen", "127.0.0.1:0"],
    );
    assert_eq!(http_get(&format!("{}/readyz", agent.url)).0, 200);
    assert_eq!(http_get(&format!("{}/healthz", agent.url)).0, 200);
    assert_eq!(http_get(&format!("{}/nothing", agent.url)).0, 404);
    eventually("a round", || {
        metric(&agent.url, "tinycdn_agent_rounds_total", &[]) >= 1.0
    });
    fs::write(d.join("media/site/app.css"), "body { margin: 2px }\n").expect("write");
    let v2 = publish(d, "media", "stable")["version"]
        .as_str()
        .expect("id")
        .to_owned();
    eventually("the new version checked out", || version_of(&link) == v2);
    assert_eq!(
        fs::read_to_string(link.join("site/app.css")).expect("read"),
        "body { margin: 2px }\n"
    );
    eventually("the update counted", || {
        metric(
            &agent.url,
            "tinycdn_agent_syncs_total",
            &[("volume", "site-media@stable"), ("result", "updated")],
        ) == 1.0
    });
    assert_eq!(metric(&agent.url, "tinycdn_agent_version_number", &[]), 2.0);

    // The origin goes away: rounds fail, the checkout stays and stays ready.
    drop(origin);
    eventually("failed rounds", || {
        metric(&agent.url, "tinycdn_agent_consecutive_failures", &[]) >= 2.0
    });
    assert_eq!(version_of(&link), v2);
    assert_eq!(http_get(&format!("{}/readyz", agent.url)).0, 200);
    assert_eq!(metric(&agent.url, "tinycdn_agent_checkout_ready", &[]), 1.0);

    // Killed and started again with the origin still down: it is ready with what it had.
    drop(agent);
    let agent = Served::spawn(
        d,
        &["agent", "--config", "agent.toml", "--listen", "127.0.0.1:0"],
    );
    let (status, body) = http_get(&format!("{}/readyz", agent.url));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains(&v2[..12]));
    let down = fails(&["agent", "--config", "agent.toml", "--once"], d, 1);
    assert!(down.contains("site-media@stable"), "{down}");

    // The origin is back: the agent carries on (nothing to do).
    origin = Served::start(d, &[]);
    config(d, "agent.toml", &origin.url, "node", "srv/media");
    let back = json(&["agent", "--config", "agent.toml", "--once"], d);
    assert_eq!(back["volumes"][0]["result"], "unchanged", "{back}");
    // Old versions beyond `keep` are collected after a change.
    fs::write(d.join("media/site/app.css"), "body { margin: 3px }\n").expect("write");
    publish(d, "media", "stable");
    let v3 = json(&["agent", "--config", "agent.toml", "--once"], d);
    assert_eq!(v3["volumes"][0]["number"], 3);
    let versions = json(&["volumes", "--store", "node"], d);
    let listed = versions.to_string();
    assert!(
        !listed.contains(&v1),
        "version 1 was collected (keep = 2): {listed}"
    );

    // SIGTERM: no new round starts, the one under way finishes, the agent exits 0.
    let mut agent = agent;
    signal(&agent.child, "-TERM");
    let status = exit_status(&mut agent.child, Duration::from_secs(30));
    assert!(status.success(), "{status}");
}

#[test]
fn a_full_disk_fails_the_round_and_keeps_the_checkout() {
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    let origin = Served::start(d, &[]);
    let mnt = d.join("disk");
    fs::create_dir(&mnt).expect("mkdir");
    let Some(_tmpfs) = tinycdn_store::testing::Tmpfs::mount(&mnt, "24m") else {
        return;
    };
    config(d, "agent.toml", &origin.url, "disk/node", "disk/media");
    let first = json(&["agent", "--config", "agent.toml", "--once"], d);
    assert_eq!(first["ok"], true, "{first}");
    let link = d.join("disk/media");
    let before = version_of(&link);

    // A version that does not fit.
    let mut big = vec![0u8; 24 << 20];
    let mut x = 0x2545_F491_4F6C_DD1D_u64;
    for b in &mut big {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 32) as u8;
    }
    fs::write(d.join("media/video/huge.bin"), &big).expect("write");
    publish(d, "media", "stable");
    let out = run(&["--json", "agent", "--config", "agent.toml", "--once"], d);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let error = report["volumes"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("space") || error.contains("No space"),
        "{report}"
    );
    assert_eq!(version_of(&link), before, "the checkout did not move");
    assert_eq!(
        fs::read(link.join("images/rocket.jpg")).expect("still readable"),
        fs::read(d.join("media/images/rocket.jpg")).expect("source")
    );

    // Room again (the big file withdrawn): the next round installs the new version.
    fs::remove_file(d.join("media/video/huge.bin")).expect("rm");
    fs::write(d.join("media/site/app.css"), "body { margin: 4px }\n").expect("write");
    publish(d, "media", "stable");
    let after = json(&["agent", "--config", "agent.toml", "--once"], d);
    assert_eq!(after["ok"], true, "{after}");
    assert_ne!(version_of(&link), before);
    assert_eq!(
        fs::read_to_string(link.join("site/app.css")).expect("read"),
        "body { margin: 4px }\n"
    );
}

#[test]
fn bad_agent_configurations_are_refused_with_the_key_named() {
    let dir = setup();
    let d = dir.path();
    let err = fails(&["agent", "--config", "missing.toml"], d, 1);
    assert!(err.contains("cannot read"), "{err}");
    config(d, "agent.toml", "http://127.0.0.1:9", "node", "srv/media");
    let text = fs::read_to_string(d.join("agent.toml")).expect("read");
    fs::write(
        d.join("typo.toml"),
        text.replace("interval = 1", "intervall = 1"),
    )
    .expect("write");
    let err = fails(&["agent", "--config", "typo.toml"], d, 1);
    assert!(err.contains("intervall"), "{err}");
    fs::write(
        d.join("bad.toml"),
        text.replace("site-media@stable", "site-media"),
    )
    .expect("write");
    let err = fails(&["agent", "--config", "bad.toml"], d, 1);
    assert!(err.contains("volume.ref"), "{err}");
    assert!(!d.join("node").exists(), "nothing was created");
}
