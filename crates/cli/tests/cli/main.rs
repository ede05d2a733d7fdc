//! The `tinycdn` command line end to end, on real media fetched by `scripts/fetch-media.sh`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod access;
mod agent;
mod audit;
mod config;
mod csi;
mod dashboard;
mod drain;
mod kubernetes;
mod log;
mod objstore;
mod region;
mod site;
mod site_browser;
mod site_edge;
mod snapshots;
mod status;
mod support;
mod traces;
mod vault;

use support::*;

#[test]
fn publish_show_cat_checkout_fsck_stats() {
    let dir = setup();
    let d = dir.path();
    let mode = fs::metadata(d.join("pub.key"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the private key is private");
    // A secret key others can read is refused, like OpenSSH does, and nothing is published.
    fs::copy(d.join("pub.key"), d.join("loose.key")).expect("copy");
    fs::set_permissions(d.join("loose.key"), fs::Permissions::from_mode(0o644)).expect("chmod");
    let loose = run(
        &[
            "publish",
            "media",
            "--store",
            "store",
            "--volume",
            "site-media",
            "--key",
            "loose.key",
        ],
        d,
    );
    assert!(!loose.status.success());
    assert!(String::from_utf8_lossy(&loose.stderr).contains("chmod 600"));
    assert!(!d.join("store/versions/site-media").exists());

    let p = publish(d, "media", "stable");
    assert_eq!(p["number"], 1);
    let version = p["version"].as_str().expect("id").to_owned();

    let show = json(
        &[
            "show",
            "site-media@stable",
            "--store",
            "store",
            "--trust",
            "pub.key.pub",
        ],
        d,
    );
    assert_eq!(show["signature"]["verified"], true);
    assert_eq!(show["version"], version.as_str());
    let mp4 = show["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["path"] == "video/bigbuckbunny.mp4")
        .expect("clip listed");
    assert_eq!(mp4["media_type"], "video/mp4");
    // A hash prefix works as a reference too.
    let by_prefix = json(
        &[
            "show",
            &format!("site-media@{}", &version[..10]),
            "--store",
            "store",
        ],
        d,
    );
    assert_eq!(by_prefix["version"], version.as_str());

    let cat = bin()
        .args([
            "cat",
            "site-media@stable",
            "site/hero.jpg",
            "--store",
            "store",
        ])
        .current_dir(d)
        .output()
        .expect("cat");
    assert!(cat.status.success());
    assert_eq!(
        cat.stdout,
        fs::read(d.join("media/images/rocket.jpg")).expect("read")
    );

    let co = json(
        &[
            "checkout",
            "site-media@stable",
            "srv/site-media",
            "--store",
            "store",
            "--trust",
            "pub.key.pub",
        ],
        d,
    );
    assert_eq!(
        co["copied"].as_u64().expect("n") + co["linked"].as_u64().expect("n"),
        co["files"].as_u64().expect("n")
    );
    let vol = d.join("srv/site-media");
    assert!(fs::symlink_metadata(&vol)
        .expect("dest")
        .file_type()
        .is_symlink());
    let clip = vol.join("video/bigbuckbunny.mp4");
    assert_eq!(
        fs::read(&clip).expect("read"),
        fs::read(d.join("media/video/bigbuckbunny.mp4")).expect("read")
    );
    let meta = fs::metadata(&clip).expect("stat");
    assert_eq!(meta.permissions().mode() & 0o777, 0o444);
    assert!(meta.nlink() >= 2, "hardlinked from the store");
    assert_eq!(
        fs::metadata(vol.join("images"))
            .expect("dir")
            .permissions()
            .mode()
            & 0o777,
        0o555
    );
    assert!(
        fs::write(vol.join("images/new.png"), b"x").is_err() || nix_is_root(),
        "read-only directories"
    );

    let fsck = json(&["fsck", "--store", "store", "--trust", "pub.key.pub"], d);
    assert_eq!(fsck["clean"], true);
    let stats = json(&["stats", "--store", "store"], d);
    assert!(stats["logical_bytes"].as_u64().expect("n") > 5_000_000);
    assert!(stats["duplication_factor"].as_f64().expect("f") >= 1.0);

    // Publishing the same tree again makes no new version.
    let again = publish(d, "media", "stable");
    assert_eq!(again["unchanged"], true);
    assert_eq!(again["version"], version.as_str());
}

/// Root ignores directory permissions, so the write check above only binds other users.
fn nix_is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[test]
fn checkout_switches_atomically_and_keeps_the_previous_tree() {
    let dir = setup();
    let d = dir.path();
    let v1 = publish(d, "media", "stable")["version"]
        .as_str()
        .expect("id")
        .to_owned();
    ok(
        &[
            "checkout",
            "site-media@stable",
            "srv/vol",
            "--store",
            "store",
        ],
        d,
    );
    fs::write(d.join("media/site/app.css"), "body { margin: 1px }\n").expect("edit");
    let v2 = publish(d, "media", "stable")["version"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_ne!(v1, v2);
    ok(
        &[
            "checkout",
            "site-media@stable",
            "srv/vol",
            "--store",
            "store",
        ],
        d,
    );
    let link = fs::read_link(d.join("srv/vol")).expect("link");
    assert!(link.ends_with(&v2), "{link:?}");
    assert_eq!(
        fs::read_to_string(d.join("srv/vol/site/app.css")).expect("read"),
        "body { margin: 1px }\n"
    );
    let versions = d.join("srv/.vol.tinycdn");
    assert!(
        versions.join(&v1).is_dir(),
        "the previous tree stays for readers still using it"
    );
    // Back to v1 by hash prefix: the kept directory is reused.
    let back = json(
        &[
            "checkout",
            &format!("site-media@{}", &v1[..8]),
            "srv/vol",
            "--store",
            "store",
        ],
        d,
    );
    assert_eq!(back["reused"], true);
    // A real directory in the way is never replaced.
    fs::create_dir_all(d.join("srv/plain")).expect("mkdir");
    let err = fails(
        &[
            "checkout",
            "site-media@stable",
            "srv/plain",
            "--store",
            "store",
        ],
        d,
        1,
    );
    assert!(err.contains("not a checkout symlink"), "{err}");
}

#[test]
fn hostile_names_and_special_files_are_refused() {
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    // Cyrillic 'е' (U+0435) in a Latin name: mixed script.
    let err = fails(
        &[
            "publish",
            "media",
            "--store",
            "store",
            "--volume",
            "site-m\u{0435}dia",
            "--key",
            "pub.key",
        ],
        d,
        1,
    );
    assert!(err.contains("U+0435"), "{err}");
    // Sibling files that differ only in case would be one file on a case-insensitive filesystem.
    let twins = d.join("twins");
    fs::create_dir_all(&twins).expect("mkdir");
    fs::write(twins.join("Logo.png"), "a").expect("write");
    fs::write(twins.join("logo.png"), "b").expect("write");
    let err = fails(
        &[
            "publish", "twins", "--store", "store", "--volume", "twins", "--key", "pub.key",
        ],
        d,
        1,
    );
    assert!(
        err.contains("Logo.png") && err.contains("differ only in letter case"),
        "{err}"
    );
    // All-Cyrillic look-alike of an existing Latin name ("асе" vs "ace").
    ok(
        &[
            "publish", "media", "--store", "store", "--volume", "ace", "--key", "pub.key",
        ],
        d,
    );
    let err = fails(
        &[
            "publish",
            "media",
            "--store",
            "store",
            "--volume",
            "\u{0430}\u{0441}\u{0435}",
            "--key",
            "pub.key",
        ],
        d,
        1,
    );
    assert!(err.contains("confused with the existing \"ace\""), "{err}");

    let bad = d.join("bad");
    fs::create_dir_all(&bad).expect("mkdir");
    fs::write(bad.join("invoice\u{202E}gpj.exe"), b"x").expect("write");
    let err = fails(
        &[
            "publish", "bad", "--store", "store", "--volume", "bad", "--key", "pub.key",
        ],
        d,
        1,
    );
    assert!(err.contains("U+202E"), "{err}");
    fs::remove_file(bad.join("invoice\u{202E}gpj.exe")).expect("rm");

    std::os::unix::fs::symlink("../../etc/passwd", bad.join("escape")).expect("link");
    let err = fails(
        &[
            "publish", "bad", "--store", "store", "--volume", "bad", "--key", "pub.key",
        ],
        d,
        1,
    );
    assert!(err.contains("outside the volume"), "{err}");
    fs::remove_file(bad.join("escape")).expect("rm");

    let fifo = Command::new("mkfifo")
        .arg(bad.join("pipe"))
        .status()
        .expect("mkfifo");
    assert!(fifo.success());
    let err = fails(
        &[
            "publish", "bad", "--store", "store", "--volume", "bad", "--key", "pub.key",
        ],
        d,
        1,
    );
    assert!(err.contains("named pipe"), "{err}");
    assert!(
        !json(&["volumes", "--store", "store"], d)["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .any(|v| v["name"] == "bad"),
        "nothing was published"
    );

    // A malformed reference is bad usage (2); a refused name or one that names nothing, 1.
    for r in ["nope", "site-media@", "site-media@@x"] {
        let err = fails(&["cat", r, "x", "--store", "store"], d, 2);
        assert!(err.contains("is not a reference"), "{err}");
    }
    for r in ["../x@stable", "site-media@missing"] {
        fails(&["cat", r, "x", "--store", "store"], d, 1);
    }
    let err = fails(&["cat", "site-media@66", "x", "--store", "store"], d, 1);
    assert!(err.contains("at least 4 hex digits"), "{err}");
    let err = fails(
        &[
            "cat",
            "site-media@stable",
            "../../etc/passwd",
            "--store",
            "store",
        ],
        d,
        1,
    );
    assert!(err.contains("'..'"), "{err}");
}

#[test]
fn tampering_and_wrong_keys_are_caught() {
    let dir = setup();
    let d = dir.path();
    let v = publish(d, "media", "stable")["version"]
        .as_str()
        .expect("id")
        .to_owned();
    ok(&["key", "generate", "--out", "other.key"], d);
    let err = fails(&["key", "generate", "--out", "other.key"], d, 1);
    assert!(err.contains("--force"), "{err}");

    let err = fails(
        &[
            "cat",
            "site-media@stable",
            "site/app.css",
            "--store",
            "store",
            "--trust",
            "other.key.pub",
        ],
        d,
        3,
    );
    assert!(err.contains("trusted"), "{err}");
    let show = run(
        &[
            "--json",
            "show",
            "site-media@stable",
            "--store",
            "store",
            "--trust",
            "other.key.pub",
        ],
        d,
    );
    assert_eq!(show.status.code(), Some(3));
    let show: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(show["signature"]["verified"], false);

    // Corrupt the clip's second chunk: cat refuses and writes no wrong byte; fsck quarantines it.
    let m = json(&["show", "site-media@stable", "--store", "store"], d);
    let clip = m["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["path"] == "video/bigbuckbunny.mp4")
        .expect("clip")
        .clone();
    let hash = clip["hash"].as_str().expect("hash").to_owned();
    let first_len = clip["chunks"][0]["len"].as_u64().expect("len") as usize;
    let path = d.join("store/objects").join(&hash[..2]).join(&hash);
    let mut bytes = fs::read(&path).expect("read");
    bytes[first_len + 100] ^= 1;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    fs::write(&path, &bytes).expect("corrupt");
    let cat = run(
        &[
            "cat",
            "site-media@stable",
            "video/bigbuckbunny.mp4",
            "--store",
            "store",
        ],
        d,
    );
    assert_eq!(cat.status.code(), Some(3));
    let original = fs::read(d.join("media/video/bigbuckbunny.mp4")).expect("read");
    assert_eq!(
        cat.stdout,
        original[..first_len],
        "only the verified first chunk was written"
    );
    let out = run(&["--json", "fsck", "--store", "store"], d);
    assert_eq!(out.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        report["quarantined"][0],
        format!("quarantine/objects/{}/{}", &hash[..2], hash)
    );
    // In text, damage (the object now missing) points to the repair.
    let text = run(&["fsck", "--store", "store"], d);
    assert_eq!(text.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&text.stderr).contains("fsck --repair --from"),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    // Re-publishing the same tree restores the object.
    publish(d, "media", "stable");
    assert_eq!(json(&["fsck", "--store", "store"], d)["clean"], true);

    // A tampered manifest no longer hashes to its id.
    let mpath = d.join("store/manifests").join(&v);
    let mut mbytes = fs::read(&mpath).expect("read");
    let last = mbytes.len() - 1;
    mbytes[last] ^= 1;
    fs::set_permissions(&mpath, fs::Permissions::from_mode(0o644)).expect("chmod");
    fs::write(&mpath, &mbytes).expect("tamper");
    let err = fails(&["show", "site-media@stable", "--store", "store"], d, 3);
    assert!(err.contains("corrupt"), "{err}");
}

#[test]
fn gc_keeps_tagged_and_checked_out_versions() {
    let dir = setup();
    let d = dir.path();
    let src = d.join("media");
    let first = publish(d, "media", "stable")["version"]
        .as_str()
        .expect("id")
        .to_owned();
    ok(
        &[
            "checkout",
            "site-media@stable",
            "srv/vol",
            "--store",
            "store",
        ],
        d,
    );
    let mut ids = vec![first.clone()];
    for i in 0..3 {
        fs::write(
            src.join(format!("site/extra{i}.bin")),
            vec![i as u8 + 1; 300_000],
        )
        .expect("write");
        ids.push(
            publish(d, "media", "next")["version"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let r = json(&["gc", "--store", "store", "--keep", "1"], d);
    // Version 1 is tagged and checked out, version 4 is newest; 2 and 3 go.
    assert_eq!(
        r["versions_removed"],
        serde_json::json!(["site-media 2", "site-media 3"])
    );
    let vols = json(&["volumes", "--store", "store"], d);
    let numbers: Vec<u64> = vols["volumes"][0]["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["number"].as_u64().expect("n"))
        .collect();
    assert_eq!(numbers, vec![1, 4]);
    assert_eq!(json(&["fsck", "--store", "store"], d)["clean"], true);
    assert_eq!(
        ok(
            &[
                "cat",
                &format!("site-media@{}", &ids[3][..12]),
                "site/extra2.bin",
                "--store",
                "store"
            ],
            d
        )
        .len(),
        300_000
    );
    // Files only version 2 had (extra0 at value 1 is shared with 3 and 4, so check a removed id).
    fails(
        &[
            "show",
            &format!("site-media@{}", &ids[1][..12]),
            "--store",
            "store",
        ],
        d,
        1,
    );
}

#[test]
fn publish_killed_at_random_points_leaves_a_clean_store() {
    let dir = setup();
    let d = dir.path();
    // A larger tree so that kills land in the middle of chunk writes.
    let big = d.join("media/big");
    fs::create_dir_all(&big).expect("mkdir");
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for i in 0..24 {
        let data: Vec<u8> = (0..2_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as u8
            })
            .collect();
        fs::write(big.join(format!("clip{i}.mp4")), data).expect("write");
    }
    let start = Instant::now();
    publish(d, "media", "probe");
    let full = start.elapsed();
    // Start over with an empty store and kill publishes at spread-out instants.
    fs::remove_dir_all(d.join("store")).expect("rm");
    ok(&["init", "--store", "store"], d);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |t| t.as_nanos() as u64)
        | 1;
    eprintln!("crash test seed {seed}, full publish {full:?}");
    let mut r = seed;
    for round in 0..12 {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        let delay = Duration::from_micros(r % (full.as_micros() as u64 + 1000));
        let mut child = bin()
            .args([
                "publish",
                "media",
                "--store",
                "store",
                "--volume",
                "site-media",
                "--tag",
                "stable",
                "--key",
                "pub.key",
            ])
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let out = run(&["--json", "fsck", "--store", "store"], d);
        assert!(
            out.status.success(),
            "round {round} (delay {delay:?}): fsck found damage: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            fs::read_dir(d.join("store/tmp")).map_or(true, |mut e| e.next().is_none()),
            "temporary files were cleaned"
        );
    }
    let p = publish(d, "media", "stable");
    assert!(p["number"].as_u64().expect("n") >= 1);
    assert_eq!(json(&["fsck", "--store", "store"], d)["clean"], true);
    let cat = bin()
        .args([
            "cat",
            "site-media@stable",
            "big/clip7.mp4",
            "--store",
            "store",
        ])
        .current_dir(d)
        .output()
        .expect("cat");
    assert_eq!(cat.stdout, fs::read(big.join("clip7.mp4")).expect("read"));
}

/// A real full disk: the store on a 3 MiB tmpfs (needs root to mount, as in CI).
#[test]
fn a_full_disk_fails_cleanly_and_loses_nothing() {
    let dir = setup();
    let d = dir.path();
    let mnt = d.join("small");
    fs::create_dir_all(&mnt).expect("mkdir");
    let Some(_tmpfs) = tinycdn_store::testing::Tmpfs::mount(&mnt, "3m") else {
        return;
    };
    ok(&["init", "--store", "small/store"], d);
    // A small volume fits.
    let site = d.join("site");
    fs::create_dir_all(&site).expect("mkdir");
    fs::copy(d.join("media/images/rocket.jpg"), site.join("rocket.jpg")).expect("copy");
    ok(
        &[
            "publish",
            "site",
            "--store",
            "small/store",
            "--volume",
            "site",
            "--tag",
            "stable",
            "--key",
            "pub.key",
        ],
        d,
    );
    // The media tree (7 MiB) does not.
    let err = fails(
        &[
            "publish",
            "media",
            "--store",
            "small/store",
            "--volume",
            "site",
            "--tag",
            "stable",
            "--key",
            "pub.key",
        ],
        d,
        1,
    );
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("hint: the disk is full"), "{err}");
    // Nothing was lost or half-written: the old version is intact and still tagged.
    assert_eq!(json(&["fsck", "--store", "small/store"], d)["clean"], true);
    let cat = bin()
        .args(["cat", "site@stable", "rocket.jpg", "--store", "small/store"])
        .current_dir(d)
        .output()
        .expect("cat");
    assert_eq!(cat.stdout, fs::read(site.join("rocket.jpg")).expect("read"));
    assert!(
        fs::read_dir(mnt.join("store/tmp"))
            .expect("tmp")
            .next()
            .is_none(),
        "no temporary files left"
    );
}

/// `serve` over TLS (a self-signed certificate made with openssl), checked with curl: HTTP/2 by
/// ALPN, HTTP/1.1 on request, and a client that does not trust the certificate gets nothing.
#[test]
fn serves_https_with_http2() {
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    test_ca(d);
    let server = Served::start(d, &["--tls-cert", "cert.pem", "--tls-key", "key.pem"]);
    let url = format!("{}/v/site-media@stable/images/rocket.jpg", server.url);
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-s", "-o", "body", "-w", "%{http_version} %{http_code}"])
            .args(args)
            .arg(&url)
            .current_dir(d)
            .output()
            .expect("curl runs")
    };
    let h2 = curl(&["--cacert", "ca.pem"]);
    assert_eq!(String::from_utf8_lossy(&h2.stdout), "2 200");
    assert_eq!(
        fs::read(d.join("body")).expect("body"),
        fs::read(d.join("media/images/rocket.jpg")).expect("file")
    );
    let h1 = curl(&["--cacert", "ca.pem", "--http1.1"]);
    assert_eq!(String::from_utf8_lossy(&h1.stdout), "1.1 200");
    let untrusted = curl(&[]);
    assert!(
        !untrusted.status.success(),
        "a client without the CA refuses the connection"
    );
}

/// A test CA and a certificate it signed for 127.0.0.1 (`ca.pem`, `cert.pem`, `key.pem` in `d`).
fn test_ca(d: &std::path::Path) {
    std::fs::write(
        d.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for args in [
        [
            &["req", "-x509"][..],
            &ec[..],
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=tinycdn test CA",
            ][..],
        ]
        .concat(),
        [
            &["req"][..],
            &ec[..],
            &[
                "-keyout",
                "key.pem",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=localhost",
            ][..],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    ] {
        let made = Command::new("openssl")
            .args(&args)
            .current_dir(d)
            .output()
            .expect("openssl runs");
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
}

/// Upstreams and applications over https://: filled from only when their certificate verifies
/// (against --upstream-ca / --origin-ca here; the system's roots otherwise).
#[test]
fn an_edge_fills_over_https_only_from_a_verified_certificate() {
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    test_ca(d);
    let origin = Served::start(d, &["--tls-cert", "cert.pem", "--tls-key", "key.pem"]);
    assert!(origin.url.starts_with("https://"), "{}", origin.url);
    let file = "/v/site-media@stable/images/rocket.jpg";
    let want = fs::read(d.join("media/images/rocket.jpg")).expect("source");
    let fetch = |url: &str| {
        let out = Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}", url])
            .output()
            .expect("curl");
        let mut body = out.stdout;
        let code_at = body.iter().rposition(|&b| b == b'\n').expect("code");
        let code = String::from_utf8_lossy(&body[code_at + 1..]).into_owned();
        body.truncate(code_at);
        (code, body)
    };
    // The fabric: a verified upstream.
    let edge = Served::edge(d, &origin.url, &["--upstream-ca", "ca.pem"]);
    let (code, body) = fetch(&format!("{}{file}", edge.url));
    assert_eq!(code, "200");
    assert!(body == want, "the file through an https upstream");
    // The proxy: a verified application.
    let proxy = Served::spawn(
        d,
        &[
            "edge",
            "--origin",
            &origin.url,
            "--origin-ca",
            "ca.pem",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let (code, body) = fetch(&format!("{}{file}", proxy.url));
    assert_eq!(code, "200");
    assert!(body == want, "the file through an https application");
    // Without the CA neither is trusted: 502, and the body names no address.
    let untrusting = Served::edge(d, &origin.url, &[]);
    let (code, body) = fetch(&format!("{}{file}", untrusting.url));
    assert_eq!(code, "502");
    let port = origin.url.rsplit(':').next().expect("port");
    assert!(!String::from_utf8_lossy(&body).contains(port));
    let untrusting = Served::spawn(
        d,
        &["edge", "--origin", &origin.url, "--listen", "127.0.0.1:0"],
    );
    assert_eq!(fetch(&format!("{}{file}", untrusting.url)).0, "502");
    // A CA file that holds no certificate is refused at start.
    fs::write(d.join("empty.pem"), "").expect("write");
    let err = fails(
        &[
            "edge",
            "--upstream",
            &origin.url,
            "--trust",
            "pub.key.pub",
            "--upstream-ca",
            "empty.pem",
            "--listen",
            "127.0.0.1:0",
        ],
        d,
        1,
    );
    assert!(err.contains("empty.pem"), "{err}");
}

#[test]
fn delta_create_and_apply_round_trip_and_refuse_the_wrong_base() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut x: u64 = 99;
    let old: Vec<u8> = (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    let mut new = old.clone();
    for i in (0..new.len()).step_by(1500) {
        new[i] ^= 0x5a;
    }
    fs::write(d.join("old.bin"), &old).expect("write");
    fs::write(d.join("new.bin"), &new).expect("write");
    let made = json(
        &["delta", "create", "old.bin", "new.bin", "-o", "p.tdelta"],
        d,
    );
    assert!(made["delta_bytes"].as_u64().expect("n") < 60_000, "{made}");
    assert_eq!(made["attempts"].as_array().expect("attempts").len(), 2);
    ok(
        &["delta", "apply", "old.bin", "p.tdelta", "-o", "out.bin"],
        d,
    );
    assert_eq!(fs::read(d.join("out.bin")).expect("read"), new);
    // The wrong base, a truncated delta: exit 3, and no output file written.
    let err = fails(
        &["delta", "apply", "new.bin", "p.tdelta", "-o", "bad.bin"],
        d,
        3,
    );
    assert!(err.contains("this delta is for base"), "{err}");
    let patch = fs::read(d.join("p.tdelta")).expect("read");
    fs::write(d.join("cut.tdelta"), &patch[..patch.len() - 1]).expect("write");
    fails(
        &["delta", "apply", "old.bin", "cut.tdelta", "-o", "bad.bin"],
        d,
        3,
    );
    assert!(!d.join("bad.bin").exists());
}

/// `pull` from a `serve` process: `--json` reports `bytes_transferred`, `--checkout` switches a
/// read-only tree, and pulling again moves only the tag.
#[test]
fn pull_from_a_served_store_and_check_out() {
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    let server = Served::start(d, &[]);
    let url = server.url.clone();
    let args = [
        "pull",
        "site-media@stable",
        "--from",
        &url,
        "--trust",
        "pub.key.pub",
        "--store",
        "node",
        "--checkout",
        "srv/vol",
    ];
    // A node's first pull makes its store (as `git clone` does), but never in a directory that
    // holds something else: that is refused and left as it was.
    fs::create_dir_all(d.join("busy")).expect("mkdir");
    fs::write(d.join("busy/notes.txt"), "mine").expect("write");
    let mut into_busy = args.to_vec();
    into_busy[7] = "busy";
    let refused = fails(&into_busy, d, 1);
    assert!(refused.contains("not empty"), "{refused}");
    assert_eq!(fs::read_dir(d.join("busy")).expect("dir").count(), 1);
    assert!(!d.join("node").exists());
    let first = json(&args, d);
    let volume = first["volume_bytes"].as_u64().expect("n");
    assert!(first["bytes_transferred"].as_u64().expect("n") >= volume);
    assert_eq!(
        fs::read(d.join("srv/vol/video/bikes.mp4")).expect("checked out"),
        fs::read(d.join("media/video/bikes.mp4")).expect("source")
    );
    let again = json(&args, d);
    assert_eq!(again["already_had"], true);
    assert!(again["bytes_transferred"].as_u64().expect("n") < 1024);

    // Version 2: the clip rewritten with scattered one-byte edits (no chunk survives), the CSS
    // renamed. Publish makes a delta; the node fetches it instead of the clip's chunks.
    let clip_path = d.join("media/video/bikes.mp4");
    let mut clip = fs::read(&clip_path).expect("clip");
    for i in (0..clip.len()).step_by(5000) {
        clip[i] = clip[i].wrapping_add(1);
    }
    fs::write(&clip_path, &clip).expect("write");
    fs::rename(d.join("media/site/app.css"), d.join("media/site/main.css")).expect("rename");
    let published = publish(d, "media", "stable");
    assert_eq!(published["deltas"]["kept"], 1, "{published}");
    let second = json(&args, d);
    assert_eq!(second["deltas_applied"], 1, "{second}");
    assert_eq!(second["deltas_failed"], 0);
    assert_eq!(second["bytes_from_deltas"], clip.len() as u64);
    let moved = second["bytes_transferred"].as_u64().expect("n");
    assert!(
        moved < clip.len() as u64 / 10,
        "moved {moved} bytes for a {} byte clip",
        clip.len()
    );
    assert_eq!(
        fs::read(d.join("srv/vol/video/bikes.mp4")).expect("checked out"),
        clip
    );
    assert!(d.join("srv/vol/site/main.css").exists());
    // The text summary names the deltas, and stats shows their cost model.
    let stats = json(&["stats", "--store", "store"], d);
    let all = &stats["deltas"][0];
    assert_eq!(
        (all["method"].as_str(), all["count"].as_u64()),
        (Some("all"), Some(1))
    );
    assert!(
        all["compression_ratio"].as_f64().expect("ratio") > 10.0,
        "{stats}"
    );
    assert!(all["cpu_seconds"].as_f64().expect("cpu") > 0.0);
    let text = ok(&["stats", "--store", "store"], d);
    assert!(text.contains("deltas all"), "{text}");
}

/// `pull` killed with SIGKILL at spread-out instants: the node's store stays consistent (fsck
/// clean, no half-committed version), and the next pull completes with the right bytes.
#[test]
fn pull_killed_at_random_points_resumes_cleanly() {
    let dir = setup();
    let d = dir.path();
    let big = d.join("media/big");
    fs::create_dir_all(&big).expect("mkdir");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..12 {
        let data: Vec<u8> = (0..3_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as u8
            })
            .collect();
        fs::write(big.join(format!("clip{i}.mp4")), data).expect("write");
    }
    publish(d, "media", "stable");
    let server = Served::start(d, &[]);
    let url = server.url.clone();
    let args = [
        "pull",
        "site-media@stable",
        "--from",
        &url,
        "--trust",
        "pub.key.pub",
        "--store",
        "node",
    ];
    let start = Instant::now();
    let probe = run(&["init", "--store", "probe"], d);
    assert!(probe.status.success());
    let mut probe_args = args;
    probe_args[7] = "probe";
    ok(&probe_args, d);
    let full = start.elapsed();
    let mut r: u64 = 0x1234_5678_9abc_def1;
    for round in 0..8 {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        let delay = Duration::from_micros(r % (full.as_micros() as u64 + 1000));
        let mut child = bin()
            .args(args)
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let out = run(&["--json", "fsck", "--store", "node"], d);
        assert!(
            out.status.success(),
            "round {round} (delay {delay:?}): fsck found damage: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    ok(&args, d);
    assert_eq!(json(&["fsck", "--store", "node"], d)["clean"], true);
    let cat = bin()
        .args([
            "cat",
            "site-media@stable",
            "big/clip5.mp4",
            "--store",
            "node",
        ])
        .current_dir(d)
        .output()
        .expect("cat");
    assert_eq!(cat.stdout, fs::read(big.join("clip5.mp4")).expect("read"));
    let store = tinycdn_store::Store::open(&d.join("node")).expect("open");
    assert!(
        store
            .raw_backend()
            .list("staging")
            .expect("list")
            .is_empty(),
        "no staged chunk is left after the pull that completed"
    );
}

/// A trust root: thresholds, rotation that revokes a key, co-signing, expiry.
#[test]
fn trust_roots_enforce_thresholds_rotation_and_expiry() {
    let dir = setup();
    let d = dir.path();
    ok(&["key", "generate", "--out", "b.key"], d);
    let site = d.join("site");
    fs::create_dir_all(&site).expect("mkdir");
    fs::write(site.join("index.html"), "<h1>v1</h1>\n").expect("write");
    ok(
        &["trust", "init", "--key", "pub.key", "--out", "trust.json"],
        d,
    );
    // A root is never replaced by accident; the error says how to mean it.
    let again = fails(
        &["trust", "init", "--key", "pub.key", "--out", "trust.json"],
        d,
        1,
    );
    assert!(again.contains("--force"), "{again}");
    publish(d, "site", "stable");
    let server = Served::start(d, &[]);
    let url = server.url.clone();
    // The URL a server prints answers with its routes, not an error.
    let (status, home) = http_get(&format!("{url}/"));
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&home).contains("/v/VOLUME@REF/PATH"));
    let pull = |node: &str, trust: &str| {
        run(
            &[
                "pull",
                "site-media@stable",
                "--from",
                &url,
                "--trust",
                trust,
                "--store",
                node,
            ],
            d,
        )
    };
    for node in ["n1", "n2", "n3", "n4"] {
        ok(&["init", "--store", node], d);
    }
    // A one-key root works like the bare .pub.
    assert!(pull("n1", "trust.json").status.success());

    // Version 2 of the root: content now needs 2 of {pub.key, b.key}; signed by the old root key.
    ok(
        &[
            "trust",
            "rotate",
            "--root",
            "trust.json",
            "--out",
            "trust2.json",
            "--targets-key",
            "pub.key.pub",
            "--targets-key",
            "b.key.pub",
            "--targets-threshold",
            "2",
            "--sign",
            "pub.key",
        ],
        d,
    );
    let shown = json(
        &["trust", "show", "trust2.json", "--previous", "trust.json"],
        d,
    );
    assert_eq!(shown["valid_successor"], true, "{shown}");
    // Content signed by one key is below the threshold: refused, exit 3, nothing kept.
    let out = pull("n2", "trust2.json");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 are required"), "{err}");
    // Co-signed by the second key (offline: only the key and the store are needed): accepted.
    ok(
        &[
            "sign",
            "site-media@stable",
            "--store",
            "store",
            "--key",
            "b.key",
        ],
        d,
    );
    assert!(pull("n2", "trust2.json").status.success());

    // Version 3 revokes pub.key from the targets role: content it signs alone is refused.
    ok(
        &[
            "trust",
            "rotate",
            "--root",
            "trust2.json",
            "--out",
            "trust3.json",
            "--targets-key",
            "b.key.pub",
            "--targets-threshold",
            "1",
            "--sign",
            "pub.key",
        ],
        d,
    );
    fs::write(site.join("index.html"), "<h1>v2</h1>\n").expect("write");
    publish(d, "site", "stable");
    let out = pull("n3", "trust3.json");
    assert_eq!(
        out.status.code(),
        Some(3),
        "a revoked key's signature is refused"
    );
    ok(
        &[
            "sign",
            "site-media@stable",
            "--store",
            "store",
            "--key",
            "b.key",
        ],
        d,
    );
    assert!(pull("n3", "trust3.json").status.success());
    // That node has now seen root version 3. Handed version 1 again (in which the revoked key
    // alone suffices), from which no rotation it holds or the mirrors publish reaches version 3,
    // it refuses.
    let back = pull("n3", "trust.json");
    assert_eq!(back.status.code(), Some(3), "the older root was used");
    assert!(String::from_utf8_lossy(&back.stderr).contains("refusing to go back"));

    // A skipped version is not a successor; an expired root is refused for new fetches.
    let skipped = run(
        &["trust", "show", "trust3.json", "--previous", "trust.json"],
        d,
    );
    assert_eq!(skipped.status.code(), Some(3));
    // Writing an already-expired root works but says so (exit 3).
    let made = run(
        &[
            "trust",
            "init",
            "--key",
            "b.key",
            "--out",
            "expired.json",
            "--expires-in-days",
            "0",
        ],
        d,
    );
    assert_eq!(made.status.code(), Some(3));
    let out = pull("n4", "expired.json");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expired"));
    // A root file altered after signing is refused outright.
    let mut forged: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(d.join("trust3.json")).expect("read"))
            .expect("json");
    forged["expires"] = serde_json::json!(i64::MAX);
    fs::write(d.join("forged.json"), forged.to_string()).expect("write");
    let out = pull("n4", "forged.json");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not signed by its own root keys"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rotations published in the store reach nodes by themselves: a node configured with root
/// version 1 walks to version 2 (`/r/2`), checks it against version 1, pins it and from then on
/// enforces version 2's roles; a mirror serving a bogus next root stops the pull (exit 3).
#[test]
fn nodes_follow_published_root_rotations() {
    let dir = setup();
    let d = dir.path();
    ok(&["key", "generate", "--out", "b.key"], d);
    let site = d.join("site");
    fs::create_dir_all(&site).expect("mkdir");
    fs::write(site.join("index.html"), "<h1>v1</h1>\n").expect("write");
    ok(
        &["trust", "init", "--key", "pub.key", "--out", "trust.json"],
        d,
    );
    publish(d, "site", "stable");
    ok(&["trust", "publish", "trust.json", "--store", "store"], d);
    // Version 2 moves the targets role to b.key (pub.key's content signatures are revoked).
    ok(
        &[
            "trust",
            "rotate",
            "--root",
            "trust.json",
            "--out",
            "trust2.json",
            "--targets-key",
            "b.key.pub",
            "--sign",
            "pub.key",
        ],
        d,
    );
    let published = json(&["trust", "publish", "trust2.json", "--store", "store"], d);
    assert_eq!(published["predecessor_checked"], true, "{published}");
    // A root not signed by the root keys is not published.
    let unsigned = run(
        &[
            "trust",
            "rotate",
            "--root",
            "trust2.json",
            "--out",
            "trust3.json",
            "--sign",
            "b.key",
        ],
        d,
    );
    assert_eq!(unsigned.status.code(), Some(3), "written, but not usable");
    let refused = run(&["trust", "publish", "trust3.json", "--store", "store"], d);
    assert_eq!(refused.status.code(), Some(3));
    assert!(!d.join("store/roots/00000000000000000003").exists());
    let server = Served::start(d, &[]);
    let pull = |node: &str| {
        run(
            &[
                "--json",
                "pull",
                "site-media@stable",
                "--from",
                &server.url,
                "--trust",
                "trust.json",
                "--store",
                node,
            ],
            d,
        )
    };
    ok(&["init", "--store", "n1"], d);
    // The node walks to version 2: content signed by pub.key alone is now refused...
    let out = pull("n1");
    assert_eq!(out.status.code(), Some(3));
    // ...and accepted once b.key signs it.
    ok(
        &[
            "sign",
            "site-media@stable",
            "--store",
            "store",
            "--key",
            "b.key",
        ],
        d,
    );
    let out = pull("n1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["root_version"], 2, "{report}");
    assert!(
        d.join("n1/roots/00000000000000000002").exists(),
        "the node keeps the rotation it verified, to check the chain again offline"
    );
    // A mirror serving a bogus version 3 (version 2's bytes under /r/3): the pull stops.
    fs::copy(
        d.join("store/roots/00000000000000000002"),
        d.join("store/roots/00000000000000000003"),
    )
    .expect("copy");
    let out = pull("n1");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot follow"), "{err}");
}

/// An edge pins the trust root it ran with on its cache disk: started again with an older root
/// file that no rotation it kept leads from, it refuses to start (exit 3) and says why.
#[test]
fn an_edge_refuses_an_older_root_than_its_disk_has_seen() {
    let dir = setup();
    let d = dir.path();
    ok(
        &["trust", "init", "--key", "pub.key", "--out", "trust.json"],
        d,
    );
    ok(
        &[
            "trust",
            "rotate",
            "--root",
            "trust.json",
            "--out",
            "trust2.json",
            "--sign",
            "pub.key",
        ],
        d,
    );
    publish(d, "media", "stable");
    let server = Served::start(d, &[]);
    let edge = |trust: &str| {
        bin()
            .args([
                "edge",
                "--upstream",
                &server.url,
                "--trust",
                trust,
                "--cache-dir",
                "edge-cache",
                "--listen",
                "127.0.0.1:0",
            ])
            .current_dir(d)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("edge")
    };
    let mut first = edge("trust2.json");
    let mut url = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(first.stdout.take().expect("stdout")),
        &mut url,
    )
    .expect("url");
    assert!(url.starts_with("http://"), "the edge started: {url:?}");
    first.kill().expect("kill");
    let _ = first.wait();
    let second = edge("trust.json").wait_with_output().expect("exits");
    assert_eq!(second.status.code(), Some(3));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("refusing to go back"), "{err}");
}

/// Timestamps and snapshots under a trust root: an expired timestamp or snapshot is refused
/// (freeze), older ones than the node has seen are refused (rollback), a snapshot other than the
/// one the timestamp names and a tag other than the one the snapshot lists are refused
/// (mix-and-match) — each with exit 3, and fixed by the publisher's next signed metadata.
#[test]
fn snapshots_stop_freeze_rollback_and_mix_and_match() {
    let dir = setup();
    let d = dir.path();
    let site = d.join("site");
    fs::create_dir_all(&site).expect("mkdir");
    fs::write(site.join("index.html"), "<h1>v1</h1>\n").expect("write");
    ok(
        &["trust", "init", "--key", "pub.key", "--out", "trust.json"],
        d,
    );
    let publish_with = |days: &str, hours: &str| {
        ok(
            &[
                "publish",
                "site",
                "--store",
                "store",
                "--volume",
                "site-media",
                "--tag",
                "stable",
                "--key",
                "pub.key",
                "--snapshot-lifetime-days",
                days,
                "--timestamp-lifetime-hours",
                hours,
            ],
            d,
        )
    };
    publish_with("7", "24");
    let old_tag = fs::read(d.join("store/tags/site-media/stable")).expect("tag v1");
    let old_snapshot = fs::read(d.join("store/snapshot")).expect("snapshot v1");
    let old_timestamp = fs::read(d.join("store/timestamp")).expect("timestamp v1");
    let server = Served::start(d, &[]);
    let url = server.url.clone();
    let pull = |node: &str| {
        run(
            &[
                "pull",
                "site-media@stable",
                "--from",
                &url,
                "--trust",
                "trust.json",
                "--store",
                node,
            ],
            d,
        )
    };
    let replace = |rel: &str, bytes: &[u8]| {
        let p = d.join(rel);
        fs::remove_file(&p).expect("rm");
        fs::write(&p, bytes).expect("write");
    };
    for node in ["n1", "n2"] {
        ok(&["init", "--store", node], d);
    }
    assert!(pull("n1").status.success());

    // Freeze: version 2 published with a timestamp that is already expired; then with a fresh
    // timestamp but an expired snapshot.
    fs::write(site.join("index.html"), "<h1>v2</h1>\n").expect("write");
    publish_with("7", "0");
    let out = pull("n1");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("timestamp") && err.contains("expired"),
        "{err}"
    );
    ok(&["timestamp", "--store", "store", "--key", "pub.key"], d);
    assert!(pull("n1").status.success());
    fs::write(site.join("index.html"), "<h1>v3</h1>\n").expect("write");
    publish_with("0", "24");
    let out = pull("n1");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("snapshot") && err.contains("expired"), "{err}");
    ok(&["snapshot", "--store", "store", "--key", "pub.key"], d);
    assert!(pull("n1").status.success());

    // Rollback: the mirror hands back the first timestamp and snapshot (validly signed, not
    // expired).
    let current_snapshot = fs::read(d.join("store/snapshot")).expect("snapshot");
    let current_timestamp = fs::read(d.join("store/timestamp")).expect("timestamp");
    replace("store/snapshot", &old_snapshot);
    replace("store/timestamp", &old_timestamp);
    let out = pull("n1");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has seen version"));
    // Mix and match: the current timestamp next to the old snapshot.
    replace("store/timestamp", &current_timestamp);
    let out = pull("n1");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the timestamp names"), "{err}");
    replace("store/snapshot", &current_snapshot);
    assert!(pull("n1").status.success());

    // Mix and match: a fresh node, the current snapshot, but the mirror's tag is the old one
    // (validly signed, and the node has never seen a newer one).
    replace("store/tags/site-media/stable", &old_tag);
    let out = pull("n2");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not the one the snapshot lists"), "{err}");
}

/// `curl -s -D -` of a URL: the status line, lowercased headers and the body.
fn curl_head(url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", url])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    let status = text.lines().next().unwrap_or("").trim().to_owned();
    (status, text)
}

/// `edge --origin` in front of an application (here `tinycdn serve`, which is as good an HTTP
/// application as any), with a volume mounted at `/static`, and `purge` from the command line.
#[test]
fn an_edge_fronts_an_app_mounts_a_volume_and_purges_from_the_command_line() {
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    let app = Served::start(d, &[]);
    fs::write(d.join("token"), "9f86d081884c7d659a2feaa0c55ad015\n").expect("write");
    fs::set_permissions(d.join("token"), fs::Permissions::from_mode(0o600)).expect("chmod");
    let edge = Served::spawn(
        d,
        &[
            "edge",
            "--origin",
            &app.url,
            "--upstream",
            &app.url,
            "--trust",
            "pub.key.pub",
            "--mount",
            "/static=site-media@stable",
            "--purge-token-file",
            "token",
            "--cache-dir",
            "edge-cache",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let (status, head) = curl_head(&format!("{}/static/site/app.css", edge.url));
    assert!(status.ends_with("200 ok"), "{head}");
    assert!(head.contains("x-tinycdn-version:"), "{head}");
    let pinned_url = format!("{}/v/site-media@stable/site/app.css", edge.url);
    let (_, first) = curl_head(&pinned_url);
    assert!(
        first.contains("cache-status: tinycdn; fwd=uri-miss"),
        "{first}"
    );
    let (_, second) = curl_head(&pinned_url);
    assert!(second.contains("cache-status: tinycdn; hit"), "{second}");
    let purged = json(
        &[
            "purge",
            "--edge",
            &edge.url,
            "--token-file",
            "token",
            "--url",
            "/v/site-media@stable/site/app.css",
        ],
        d,
    );
    assert_eq!(purged["purged"], 1, "{purged}");
    let (_, third) = curl_head(&pinned_url);
    assert!(third.contains("fwd=uri-miss"), "{third}");
    let text = ok(
        &[
            "purge",
            "--edge",
            &edge.url,
            "--token-file",
            "token",
            "--prefix",
            "/v/",
        ],
        d,
    );
    assert_eq!(text.trim(), "purged 1 stored response");
    // A wrong token is refused by the edge; a token file others can read is refused here.
    fs::write(d.join("wrong"), "guess\n").expect("write");
    fs::set_permissions(d.join("wrong"), fs::Permissions::from_mode(0o600)).expect("chmod");
    let with_wrong = [
        "purge",
        "--edge",
        &edge.url,
        "--token-file",
        "wrong",
        "--key",
        "x",
    ];
    let err = fails(&with_wrong, d, 1);
    assert!(err.contains("401") && !err.contains("9f86d"), "{err}");
    fs::set_permissions(d.join("wrong"), fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = fails(&with_wrong, d, 1);
    assert!(err.contains("readable by other users"), "{err}");
    let err = fails(
        &["purge", "--edge", &edge.url, "--token-file", "token"],
        d,
        2,
    );
    assert!(err.contains("--url, --prefix or --key"), "{err}");
    // An edge refuses a purge token that could be guessed (under 128 bits).
    fs::write(d.join("weak"), "s3cret-purge-token\n").expect("write");
    fs::set_permissions(d.join("weak"), fs::Permissions::from_mode(0o600)).expect("chmod");
    let err = fails(
        &[
            "edge",
            "--origin",
            &app.url,
            "--purge-token-file",
            "weak",
            "--listen",
            "127.0.0.1:0",
        ],
        d,
        2,
    );
    assert!(err.contains("128") && err.contains("openssl rand"), "{err}");
    // Security flags that do not parse are refused at start, saying which value is wrong.
    for (flag, bad, says) in [
        ("--trusted-proxies", "10.0.0.0/33", "10.0.0.0/33"),
        ("--admin-allow", "everyone", "everyone"),
        ("--ignore-cookie", "a b", "a b"),
        ("--credential-header", "bad header", "bad header"),
    ] {
        let err = fails(
            &[
                "edge",
                "--origin",
                &app.url,
                flag,
                bad,
                "--listen",
                "127.0.0.1:0",
            ],
            d,
            2,
        );
        assert!(err.contains(says), "{flag}: {err}");
    }
    // Usage errors: an edge needs --upstream or --origin; mounts need --upstream.
    fails(&["edge", "--listen", "127.0.0.1:0"], d, 2);
    fails(
        &[
            "edge",
            "--origin",
            &app.url,
            "--mount",
            "/s=site-media@stable",
        ],
        d,
        2,
    );
    let err = fails(
        &["edge", "--origin", "ftp://app:1", "--listen", "127.0.0.1:0"],
        d,
        2,
    );
    assert!(err.contains("h2c://"), "{err}");
}

#[test]
fn image_variants_offline_at_publish_and_through_a_signed_edge() {
    let dir = setup();
    let d = dir.path();
    // Offline, with the edge's code.
    let r = json(
        &[
            "image",
            "media/images/rocket.jpg",
            "--w",
            "200",
            "--fmt",
            "webp",
            "-o",
            "rocket.webp",
        ],
        d,
    );
    assert_eq!(
        (&r["output"]["width"], &r["output"]["height"]),
        (&200.into(), &133.into())
    );
    let webp = fs::read(d.join("rocket.webp")).expect("written");
    assert_eq!(&webp[..4], b"RIFF");
    assert_eq!(r["output"]["bytes"], webp.len());
    let err = fails(
        &[
            "image",
            "media/images/rocket.jpg",
            "--w",
            "0",
            "-o",
            "x.jpg",
        ],
        d,
        1,
    );
    assert!(err.contains("w=0"), "{err}");
    fs::write(
        d.join("cut.jpg"),
        &fs::read(d.join("media/images/rocket.jpg")).expect("read")[..5000],
    )
    .expect("write");
    let err = fails(&["image", "cut.jpg", "--w", "64", "-o", "cut-64.jpg"], d, 1);
    assert!(err.contains("truncated"), "{err}");
    assert!(
        !d.join("cut-64.jpg").exists(),
        "nothing written for a refused source"
    );

    // At publish: variants signed into the volume, reused when the source is unchanged.
    fs::write(
        d.join("variants.toml"),
        "[[rule]]\npaths = [\"images/*.jpg\"]\nwidths = [128, 256]\nformats = [\"webp\", \"jpeg\"]\n",
    )
    .expect("write");
    let variants = ["--variants", "variants.toml"];
    let mut args = vec![
        "publish",
        "media",
        "--store",
        "store",
        "--volume",
        "site-media",
        "--tag",
        "stable",
        "--key",
        "pub.key",
    ];
    args.extend_from_slice(&variants);
    let first = json(&args, d);
    // rocket, hubble_deep_field and retina: 3 sources x 2 widths x 2 formats.
    assert_eq!(first["variants"]["variants"], 12, "{first}");
    assert_eq!(first["variants"]["transformed"], 12);
    fs::write(d.join("media/site/app.css"), "body { margin: 1px }\n").expect("write");
    let second = json(&args, d);
    assert_eq!(
        second["variants"]["transformed"], 0,
        "unchanged sources keep their variants"
    );
    let shown = ok(&["show", "site-media@stable", "--store", "store"], d);
    assert_eq!(shown.matches(".tinycdn-variants/").count(), 13, "{shown}");

    // An edge requiring signed URLs serves the published variant without transforming.
    fs::write(d.join("url.keys"), "# current\nk-2026\n").expect("write");
    fs::set_permissions(d.join("url.keys"), fs::Permissions::from_mode(0o600)).expect("chmod");
    let origin = Served::start(d, &[]);
    let edge = Served::spawn(
        d,
        &[
            "edge",
            "--upstream",
            &origin.url,
            "--trust",
            "pub.key.pub",
            "--image-sign-keys",
            "url.keys",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let path = "/v/site-media@stable/images/rocket.jpg?w=128&fmt=webp";
    let (status, _) = curl_head(&format!("{}{path}", edge.url));
    assert!(status.ends_with("403 forbidden"), "{status}");
    let signed = ok(
        &[
            "sign-url",
            &format!("{}{path}", edge.url),
            "--key-file",
            "url.keys",
        ],
        d,
    );
    let signed = signed.trim();
    assert!(signed.contains("&sig="), "{signed}");
    let (status, head) = curl_head(signed);
    assert!(status.ends_with("200 ok"), "{status} {head}");
    assert!(head.contains("content-type: image/webp"), "{head}");
    // The signature covers the host: the same URL asked on another host is refused.
    let elsewhere = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Host: other.example",
        ])
        .arg(signed.replace("w=128", "w=129").replace("w=129", "w=128"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&elsewhere.stdout), "403");
    let metrics = String::from_utf8(
        Command::new("curl")
            .args(["-fsS", &format!("{}/metrics", edge.url)])
            .output()
            .expect("curl")
            .stdout,
    )
    .expect("utf-8");
    assert!(
        tinycdn_telemetry::scrape::value(
            &metrics,
            "tinycdn_image_variants_total",
            &[("role", "edge"), ("result", "published")]
        ) == Some(1.0),
        "{metrics}"
    );
    assert!(
        tinycdn_telemetry::scrape::value(
            &metrics,
            "tinycdn_image_variants_total",
            &[("role", "edge"), ("result", "made")]
        ) == Some(0.0)
    );
}
