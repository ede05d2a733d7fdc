//! Stores in object storage, end to end from the command line: every store command on a real
//! S3-compatible server (s3s-fs and moto, started here), URLs that are not stores refused, a
//! publish that dies half-way and a bucket that throttles.

use std::fs;
use std::path::Path;
use std::process::Output;

use serde_json::Value;
use tinycdn_objstore::testing::{FaultProxy, Kind, S3Server};

use crate::support::{bin, setup, Served};

const STORE: &str = "s3://media/eu/origin";

fn run_at(endpoint: &str, args: &[&str], cwd: &Path, extra: &[(&str, &str)]) -> Output {
    let mut c = bin();
    for (k, v) in S3Server::env_for(endpoint) {
        c.env(k, v);
    }
    c.env("TINYCDN_STORE_PART_MIB", "5")
        .env("TINYCDN_STORE_RETRIES", "2")
        .env("TINYCDN_STORE_RETRY_TIMEOUT", "10")
        .env("TINYCDN_LEASE_TTL", "3")
        .env("TINYCDN_LEASE_WAIT", "30");
    for (k, v) in extra {
        c.env(k, v);
    }
    c.args(args)
        .current_dir(cwd)
        .output()
        .expect("runs tinycdn")
}

#[track_caller]
fn ok_at(endpoint: &str, args: &[&str], cwd: &Path) -> Value {
    ok_with(endpoint, args, cwd, &[])
}

/// [`ok_at`] with more environment.
#[track_caller]
fn ok_with(endpoint: &str, args: &[&str], cwd: &Path, extra: &[(&str, &str)]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run_at(endpoint, &all, cwd, extra);
    assert!(
        out.status.success(),
        "tinycdn {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// A file of `mib` MiB that does not compress or dedup away.
fn big_file(path: &Path, mib: usize, seed: u8) {
    let mut x = u64::from(seed) | 1;
    let bytes: Vec<u8> = (0..mib << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    fs::write(path, bytes).expect("write");
}

fn publish_args<'a>(src: &'a str, tag: &'a str) -> Vec<&'a str> {
    vec![
        "publish",
        src,
        "--store",
        STORE,
        "--volume",
        "site-media",
        "--tag",
        tag,
        "--key",
        "pub.key",
    ]
}

fn every_command_on(kind: Kind) {
    let server = S3Server::start(kind);
    let ep = server.endpoint();
    let dir = setup();
    let d = dir.path();
    // Larger than a part: goes up as a multipart upload.
    big_file(&d.join("media/video/long.bin"), 12, 1);
    ok_at(&ep, &["init", "--store", STORE], d);
    let v1 = ok_at(&ep, &publish_args("media", "stable"), d);
    assert_eq!(v1["number"], 1);
    let volumes = ok_at(&ep, &["volumes", "--store", STORE], d);
    assert_eq!(volumes["volumes"][0]["versions"][0]["tags"][0], "stable");
    let fsck = ok_at(&ep, &["fsck", "--store", STORE], d);
    assert_eq!(fsck["clean"], true, "{fsck}");
    assert_eq!(fsck["objects"], v1["new_objects"], "{fsck}");
    let stats = ok_at(&ep, &["stats", "--store", STORE], d);
    assert!(stats.to_string().contains("site-media"), "{stats}");

    // serve from the bucket; a node pulls from it into a local store and checks it out.
    let mut c = bin();
    for (k, v) in server.env() {
        c.env(k, v);
    }
    let served = Served::spawn_with(
        c,
        d,
        &["serve", "--store", STORE, "--listen", "127.0.0.1:0"],
    );
    let out = bin()
        .args(["--json", "pull", "site-media@stable", "--from", &served.url])
        .args([
            "--trust",
            "pub.key.pub",
            "--store",
            "node",
            "--checkout",
            "live",
        ])
        .current_dir(d)
        .output()
        .expect("pull");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        fs::read(d.join("live/video/long.bin")).expect("pulled"),
        fs::read(d.join("media/video/long.bin")).expect("source")
    );
    drop(served);

    // A second version, then gc keeping one: the first version's unique objects go.
    big_file(&d.join("media/video/long.bin"), 12, 2);
    let v2 = ok_at(&ep, &publish_args("media", "stable"), d);
    assert_eq!(v2["number"], 2);
    let gc = ok_at(&ep, &["gc", "--store", STORE, "--keep", "1"], d);
    assert!(gc["objects_removed"].as_u64().expect("n") >= 1, "{gc}");
    let fsck = ok_at(&ep, &["fsck", "--store", STORE], d);
    assert_eq!(fsck["clean"], true, "{fsck}");
    assert_eq!(fsck["unreferenced_objects"], 0, "{fsck}");
    // Nothing of the lease is left behind.
    let b = server.backend("eu/origin", tinycdn_objstore::Options::default());
    assert_eq!(
        tinycdn_store::Backend::size(&b, "lease").expect("head"),
        None
    );
}

#[test]
fn every_store_command_works_on_s3s_fs() {
    every_command_on(Kind::S3sFs);
}

#[test]
fn every_store_command_works_on_moto() {
    every_command_on(Kind::Moto);
}

#[test]
fn urls_that_are_not_stores_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    for url in ["http://example.com/x", "s4://bucket/x", "ftp://host/store"] {
        let out = bin()
            .args(["init", "--store", url])
            .current_dir(d)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("not a supported store") && err.contains("s3://"),
            "{err}"
        );
    }
    let out = bin()
        .args(["volumes", "--store", "s3://"])
        .current_dir(d)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    // Nothing named like a scheme was made on disk.
    assert_eq!(fs::read_dir(d).expect("ls").count(), 0);
}

/// A publish whose requests matching `fail` are refused by the bucket fails with a clear error,
/// leaves nothing visible, and gc reclaims what it had uploaded (`leftovers` objects, when known).
fn interrupted(fail: &str, leftovers: Option<u64>) {
    let server = S3Server::start(Kind::S3sFs);
    let ep = server.endpoint();
    let dir = setup();
    let d = dir.path();
    ok_at(&ep, &["init", "--store", STORE], d);
    let v1 = ok_at(&ep, &publish_args("media", "stable"), d);
    let before = ok_at(&ep, &["fsck", "--store", STORE], d);

    big_file(&d.join("media/video/long.bin"), 12, 3);
    big_file(&d.join("media/video/other.bin"), 2, 4);
    let proxy = FaultProxy::start(server.port, &["--fail", fail]);
    let out = run_at(&proxy.endpoint(), &publish_args("media", "stable"), d, &[]);
    assert_eq!(out.status.code(), Some(1), "the publish should have failed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("s3://media/eu/origin"), "{err}");
    let counts = proxy.stop();
    assert!(counts["faults"].as_u64().expect("faults") > 0, "{counts}");

    // Nothing of it is visible: the tag and the versions are as before, the store is clean.
    let volumes = ok_at(&ep, &["volumes", "--store", STORE], d);
    let versions = &volumes["volumes"][0]["versions"];
    assert_eq!(versions.as_array().expect("list").len(), 1, "{volumes}");
    assert_eq!(versions[0]["version"], v1["version"]);
    let after = ok_at(&ep, &["fsck", "--store", STORE], d);
    assert_eq!(after["clean"], true, "{after}");
    assert_eq!(after["manifests"], before["manifests"], "{after}");
    // gc takes the lease (the failed publish released it) and reclaims every byte uploaded.
    let gc = ok_at(&ep, &["gc", "--store", STORE], d);
    assert_eq!(gc["objects_removed"], after["unreferenced_objects"], "{gc}");
    let last = ok_at(&ep, &["fsck", "--store", STORE], d);
    assert_eq!(last["objects"], before["objects"], "{last}");
    assert_eq!(last["bytes"], before["bytes"], "{last}");
    assert_eq!(last["unreferenced_objects"], 0, "{last}");
    // And the same publish, once the bucket answers, succeeds.
    let v2 = ok_at(&ep, &publish_args("media", "stable"), d);
    assert_eq!(v2["number"], 2);
    if let Some(n) = leftovers {
        assert_eq!(after["unreferenced_objects"], n, "{after}");
    }
}

#[test]
fn a_publish_that_fails_at_its_manifest_leaves_nothing_visible_and_gc_reclaims_its_files() {
    // Every file is up (the new ones unreferenced) when the manifest write is refused.
    interrupted("^PUT .*/manifests/", Some(2));
}

#[test]
fn a_publish_whose_multipart_upload_fails_leaves_nothing_visible() {
    // The large file's upload is never completed (and is aborted).
    interrupted("^POST .*uploadId=", None);
}

#[test]
fn a_throttling_bucket_slows_a_publish_but_loses_nothing() {
    let server = S3Server::start(Kind::Moto);
    let dir = setup();
    let d = dir.path();
    // Every fourth request is answered 503 SlowDown. With four uploads in flight one request can
    // meet several in a row: the default retry count (10), not the other tests' 2.
    let proxy = FaultProxy::start(server.port, &["--every", "4"]);
    let ep = proxy.endpoint();
    let retries = [("TINYCDN_STORE_RETRIES", "10")];
    ok_with(&ep, &["init", "--store", STORE], d, &retries);
    big_file(&d.join("media/video/long.bin"), 11, 5);
    let v1 = ok_with(&ep, &publish_args("media", "stable"), d, &retries);
    assert_eq!(v1["number"], 1);
    let fsck = ok_with(&ep, &["fsck", "--store", STORE], d, &retries);
    assert_eq!(fsck["clean"], true, "{fsck}");
    let counts = proxy.stop();
    assert!(counts["faults"].as_u64().expect("faults") >= 5, "{counts}");
    // Read back without the proxy: the same, whole.
    let direct = ok_at(&server.endpoint(), &["fsck", "--store", STORE], d);
    assert_eq!(direct["clean"], true);
    assert_eq!(direct["bytes"], fsck["bytes"]);
}
