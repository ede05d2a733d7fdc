//! `tinycdn site` and `publish --site`: a site's rules checked before it is published (a broken
//! `_redirects` refuses the publish, naming its line), its cache-first service worker generated
//! from the signed version (checked by Node's parser, integrity checked against openssl), and
//! two versions diffed as a site.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::support::*;

fn site(d: &Path, app_js: &str) {
    let s = d.join("www");
    fs::create_dir_all(s.join("assets")).expect("mkdir");
    fs::write(
        s.join("index.html"),
        "<!doctype html><script src=/assets/app.3f9a1c.js></script>",
    )
    .expect("write");
    fs::write(s.join("about.html"), "<p>about</p>").expect("write");
    fs::write(s.join("404.html"), "<p>not here</p>").expect("write");
    fs::write(s.join("assets/app.3f9a1c.js"), app_js).expect("write");
    fs::write(
        s.join("_headers"),
        "/*\n  X-Frame-Options: DENY\n/sw.js\n  Cache-Control: no-cache\n",
    )
    .expect("write");
    fs::write(
        s.join("_redirects"),
        "/old /about 301\n/app/* /index.html 200\n",
    )
    .expect("write");
}

fn publish_site(d: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "publish", "www", "--store", "store", "--volume", "www", "--tag", "stable", "--key",
        "pub.key", "--site",
    ];
    args.extend_from_slice(extra);
    run(&args, d)
}

fn sri(path: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl dgst -sha384 -binary '{}' | openssl base64 -A",
            path.display()
        ))
        .output()
        .expect("openssl");
    format!("sha384-{}", String::from_utf8_lossy(&out.stdout).trim())
}

#[test]
fn a_site_is_checked_published_given_a_service_worker_and_diffed() {
    let dir = setup();
    let d = dir.path();
    site(d, "console.log(1)");
    let out = ok(&["site", "check", "www"], d);
    assert!(
        out.contains("2 redirect rule(s), 2 header rule(s): ok"),
        "{out}"
    );
    let p = publish_site(d, &["--json"]);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let first: serde_json::Value = serde_json::from_slice(&p.stdout).expect("json");
    let first = first["version"].as_str().expect("version").to_owned();

    // The service worker: parsed by Node, its precache the site's files by clean URL, with the
    // integrity openssl computes, and nothing of the rules files.
    ok(
        &[
            "site",
            "sw",
            "www@stable",
            "--store",
            "store",
            "--trust",
            "pub.key.pub",
            "-o",
            "sw.js",
        ],
        d,
    );
    let sw = fs::read_to_string(d.join("sw.js")).expect("sw");
    let node = Command::new("node")
        .arg("--check")
        .arg(d.join("sw.js"))
        .status()
        .expect("node");
    assert!(node.success(), "the worker is valid JavaScript");
    let v = json(
        &[
            "site",
            "sw",
            "www@stable",
            "--store",
            "store",
            "--trust",
            "pub.key.pub",
        ],
        d,
    );
    let urls: Vec<&str> = v["precache"]
        .as_array()
        .expect("precache")
        .iter()
        .map(|e| e["url"].as_str().expect("url"))
        .collect();
    assert_eq!(urls, ["/", "/404", "/about", "/assets/app.3f9a1c.js"]);
    let app = v["precache"]
        .as_array()
        .expect("precache")
        .iter()
        .find(|e| e["url"] == "/assets/app.3f9a1c.js")
        .expect("app");
    assert_eq!(
        app["integrity"].as_str().expect("sri"),
        sri(&d.join("www/assets/app.3f9a1c.js"))
    );
    assert_eq!(app["revision"].as_str().expect("rev").len(), 64);
    assert!(sw.contains(app["integrity"].as_str().expect("sri")));
    assert!(!sw.contains("_redirects") && !sw.contains("_headers"));

    // A new version: one asset changed, a page added; the diff says so, with headers.
    site(d, "console.log(2)");
    fs::write(d.join("www/contact.html"), "<p>write</p>").expect("write");
    let p = publish_site(d, &[]);
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let diff = json(
        &[
            "site",
            "diff",
            &format!("www@{}", &first[..12]),
            "www@stable",
            "--store",
            "store",
            "--trust",
            "pub.key.pub",
        ],
        d,
    );
    let changes: Vec<(String, String)> = diff["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().expect("p").to_owned(),
                f["change"].as_str().expect("c").to_owned(),
            )
        })
        .collect();
    assert!(
        changes.contains(&("assets/app.3f9a1c.js".into(), "changed".into())),
        "{changes:?}"
    );
    assert!(
        changes.contains(&("contact.html".into(), "added".into())),
        "{changes:?}"
    );
    assert!(
        !changes.iter().any(|(p, _)| p == "about.html"),
        "unchanged files are not listed"
    );
    let app = diff["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == "assets/app.3f9a1c.js")
        .expect("app");
    assert!(
        app["headers_after"].to_string().contains("immutable"),
        "{app}"
    );
}

#[test]
fn broken_site_rules_refuse_the_publish_and_name_the_line() {
    let dir = setup();
    let d = dir.path();
    site(d, "x");
    fs::write(d.join("www/_redirects"), "/ok /about 301\n/a /b 418\n").expect("write");
    let err = fails(&["site", "check", "www"], d, 1);
    assert!(err.contains("_redirects line 2: status \"418\""), "{err}");
    let p = publish_site(d, &[]);
    assert_eq!(p.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&p.stderr).contains("_redirects line 2"));
    assert!(!d.join("store/tags/www").exists(), "nothing was published");
    fs::write(
        d.join("www/_redirects"),
        "/x https://elsewhere.example/ 301\n",
    )
    .expect("write");
    fs::write(d.join("www/_headers"), "/*\n  X-Bad: a\rSet-Cookie: s=1\n").expect("write");
    let err = String::from_utf8_lossy(&publish_site(d, &["--allow-external-redirects"]).stderr)
        .into_owned();
    assert!(err.contains("_headers line 2: control character"), "{err}");
    fs::write(d.join("www/_headers"), "/*\n  X-Ok: a\n").expect("write");
    assert!(publish_site(d, &["--allow-external-redirects"])
        .status
        .success());
    let err = String::from_utf8_lossy(&publish_site(d, &[]).stderr).into_owned();
    assert!(err.contains("another host (elsewhere.example)"), "{err}");
}
