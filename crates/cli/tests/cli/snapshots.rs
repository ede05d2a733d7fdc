//! The output contract of the main commands, as snapshots (`insta`): text and `--json` of
//! publish, volumes, show, checkout, fsck, gc and stats on a small fixed tree published at a
//! fixed time. Ids that depend on the random signing key, times and paths are filtered. A change
//! of output shows in review as a change of `snapshots/*.snap` (`cargo insta review`, or
//! `INSTA_UPDATE=always cargo test -p tinycdn --test cli snapshots`).

use std::fs;
use std::path::Path;

use crate::support::{ok, run};

/// A tree whose version id is the same on every run: fixed bytes, modes and creation time.
fn tree(d: &Path) {
    let src = d.join("tree");
    fs::create_dir_all(src.join("img")).expect("mkdir");
    fs::write(src.join("index.html"), "<h1>hello</h1>\n").expect("write");
    fs::write(
        src.join("img/dot.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n",
    )
    .expect("write");
    fs::write(src.join("data.bin"), vec![7u8; 300_000]).expect("write");
    std::os::unix::fs::symlink("index.html", src.join("home.html")).expect("link");
    // Modes as published, whatever the umask.
    use std::os::unix::fs::PermissionsExt;
    for (path, mode) in [
        ("", 0o755),
        ("img", 0o755),
        ("index.html", 0o644),
        ("img/dot.svg", 0o644),
        ("data.bin", 0o644),
    ] {
        fs::set_permissions(src.join(path), fs::Permissions::from_mode(mode)).expect("chmod");
    }
    ok(&["init", "--store", "store"], d);
    ok(&["key", "generate", "--out", "k.key"], d);
}

/// stdout of a command that succeeds.
fn out(args: &[&str], d: &Path) -> String {
    let o = run(args, d);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// What varies from run to run: the signing key's id, durations, the temporary folder.
fn settings(d: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("snapshots");
    s.set_prepend_module_to_snapshot(false);
    s.add_filter(&regex_escape(&d.display().to_string()), "[dir]");
    // The key id, short (12 hex) or in full (64 hex), in text and JSON.
    s.add_filter(r"key [0-9a-f]{12}\b", "key [key]");
    s.add_filter(r"signer   [0-9a-f]{12}", "signer   [key]");
    s.add_filter(
        r#""(key|key_id|verified_by)": "[0-9a-f]{64}""#,
        r#""$1": "[key]""#,
    );
    s.add_filter(
        r#""signers": \[\s*"[0-9a-f]{64}"\s*\]"#,
        r#""signers": ["[key]"]"#,
    );
    s.add_filter(r"in \d+\.\d+s", "in [secs]s");
    s.add_filter(r#""seconds": [0-9.e-]+"#, r#""seconds": [secs]"#);
    s.add_filter(r#""cpu_seconds": [0-9.e-]+"#, r#""cpu_seconds": [secs]"#);
    s
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn the_main_commands_print_what_the_snapshots_say() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    tree(d);
    let publish = [
        "publish",
        "tree",
        "--store",
        "store",
        "--volume",
        "site",
        "--tag",
        "stable",
        "--key",
        "k.key",
        "--created",
        "1767225600",
    ];
    let checks: Vec<(&str, Vec<&str>)> = vec![
        ("publish", publish.to_vec()),
        ("volumes", vec!["volumes", "--store", "store"]),
        (
            "show",
            vec![
                "show",
                "site@stable",
                "--store",
                "store",
                "--trust",
                "k.key.pub",
            ],
        ),
        (
            "checkout",
            vec![
                "checkout",
                "site@stable",
                "co",
                "--store",
                "store",
                "--trust",
                "k.key.pub",
            ],
        ),
        ("fsck", vec!["fsck", "--store", "store"]),
        ("gc", vec!["gc", "--store", "store", "--keep", "1"]),
        ("stats", vec!["stats", "--store", "store"]),
    ];
    let settings = settings(d);
    settings.bind(|| {
        for (name, args) in &checks {
            insta::assert_snapshot!(format!("{name}.txt"), out(args, d));
        }
        // Publishing the same tree again is `unchanged`; the JSON of every command.
        for (name, args) in &checks {
            let mut json = vec!["--json"];
            json.extend(args.iter().copied());
            let value: serde_json::Value =
                serde_json::from_str(&out(&json, d)).expect("one JSON document");
            insta::assert_json_snapshot!(format!("{name}.json"), value);
        }
    });
}
