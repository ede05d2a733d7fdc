//! The immutable vault end to end: `vault sync` copies what the origin's log names and never
//! deletes what the origin's gc removed, refuses a forked log, `vault restore` rebuilds a lost
//! origin that nodes accept under the original log key, and `fsck --repair` fetches damaged
//! objects again.

use std::fs;
use std::path::{Path, PathBuf};

use crate::support::*;

fn write_site(d: &Path, text: &str) {
    fs::create_dir_all(d.join("site")).expect("mkdir");
    fs::write(d.join("site/index.html"), text).expect("write");
    fs::write(d.join("site/big.bin"), text.repeat(20_000)).expect("write");
}

fn publish_site(d: &Path) {
    ok(
        &[
            "publish", "site", "--store", "store", "--volume", "www", "--tag", "stable", "--key",
            "pub.key",
        ],
        d,
    );
}

fn vault_sync<'a>(url: &'a str, key: &'a str) -> Vec<&'a str> {
    vec![
        "vault",
        "sync",
        "--from",
        url,
        "--to",
        "vault",
        "--log-key",
        key,
        "--trust",
        "pub.key.pub",
    ]
}

fn objects(store: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![store.join("objects")];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort_by_key(|p| std::cmp::Reverse(fs::metadata(p).map_or(0, |m| m.len())));
    out
}

#[test]
fn a_vault_keeps_everything_refuses_forks_restores_an_origin_and_fsck_repairs() {
    let dir = setup();
    let d = dir.path();
    write_site(d, "one");
    publish_site(d);
    write_site(d, "two");
    publish_site(d);
    let key = ok(&["log", "key", "--store", "store"], d).trim().to_owned();
    let origin = Served::start(d, &[]);
    let first = json(&vault_sync(&origin.url, &key), d);
    assert_eq!(
        (
            first["log_after"].as_u64(),
            first["versions_copied"].as_array().map(Vec::len)
        ),
        (Some(8), Some(2)),
        "{first}"
    );
    // The origin's gc drops version 1 and a third version is published: the vault gets the
    // third and keeps the first.
    ok(&["gc", "--store", "store", "--keep", "1"], d);
    write_site(d, "three");
    publish_site(d);
    let second = json(&vault_sync(&origin.url, &key), d);
    assert_eq!(
        second["versions_copied"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    assert_eq!(second["log_before"], 8);
    let vols = json(&["volumes", "--store", "vault"], d);
    let versions = vols.to_string();
    for n in ["\"number\":1", "\"number\":2", "\"number\":3"] {
        assert!(versions.contains(n), "{versions}");
    }
    let shown = json(&["log", "show", "--store", "vault"], d);
    assert!(shown.to_string().contains("\"kind\":\"gc\""), "{shown}");

    // A forked log (the origin's checkpoint rewound and another version published there) is
    // refused and the vault left as it was.
    let held = fs::read(d.join("vault/log/checkpoint")).expect("checkpoint");
    drop(origin);
    let first_cp =
        fs::read(d.join("vault/history/log/checkpoint/00000000000000000008")).expect("history");
    fs::write(d.join("store/log/checkpoint"), first_cp).expect("rewind");
    write_site(d, "other");
    publish_site(d);
    let forked = Served::start(d, &[]);
    let err = fails(&vault_sync(&forked.url, &key), d, 3);
    assert!(
        err.contains("split view") || err.contains("extend"),
        "{err}"
    );
    assert_eq!(
        fs::read(d.join("vault/log/checkpoint")).expect("checkpoint"),
        held
    );
    drop(forked);
    fs::remove_dir_all(d.join("store")).expect("rm");

    // The origin is lost: restore it from the vault, serve it, and a node that requires the log
    // (under the original log key) pulls from it.
    let restored = json(
        &[
            "vault",
            "restore",
            "--from",
            "vault",
            "--to",
            "store",
            "--trust",
            "pub.key.pub",
        ],
        d,
    );
    assert_eq!(restored["clean"], true, "{restored}");
    assert_eq!(restored["log_size"], 13);
    let origin = Served::start(d, &[]);
    let pulled = json(
        &[
            "pull",
            "www@stable",
            "--from",
            &origin.url,
            "--trust",
            "pub.key.pub",
            "--store",
            "node",
            "--log-key",
            &key,
            "--require-log",
            "--checkout",
            "srv",
        ],
        d,
    );
    assert_eq!(pulled["number"], 3, "{pulled}");
    assert_eq!(
        fs::read_to_string(d.join("srv/index.html")).expect("file"),
        "three"
    );
    // Publishing there without the log's key is refused, not a new log.
    write_site(d, "four");
    let err = fails(
        &[
            "publish", "site", "--store", "store", "--volume", "www", "--tag", "stable", "--key",
            "pub.key",
        ],
        d,
        1,
    );
    assert!(err.contains("log") && err.contains("key"), "{err}");

    // fsck --repair: one object damaged, one deleted in the node; both fetched again, verified.
    let objs = objects(&d.join("node"));
    let (big, other) = (&objs[0], &objs[1]);
    let good = fs::read(big).expect("object");
    let mut perms = fs::metadata(big).expect("meta").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    fs::set_permissions(big, perms).expect("chmod");
    let mut bad = good.clone();
    bad[100] ^= 1;
    fs::write(big, &bad).expect("damage");
    fs::remove_file(other).expect("rm");
    fails(&["fsck", "--store", "node", "--trust", "pub.key.pub"], d, 3);
    let fixed = json(
        &[
            "fsck",
            "--store",
            "node",
            "--trust",
            "pub.key.pub",
            "--repair",
            "--from",
            &origin.url,
        ],
        d,
    );
    assert_eq!(fixed["clean"], true, "{fixed}");
    assert_eq!(
        fixed["repaired"]["objects"].as_array().map(Vec::len),
        Some(2),
        "{fixed}"
    );
    assert_eq!(fs::read(big).expect("repaired"), good);
}
