//! `tinycdn edge --site`: the example site (`examples/site/`) published as a signed volume and
//! served as a website by `Host`: clean URLs, indexes, the nearest `404.html`, the single-page
//! app fallback, `_headers` and `_redirects`, content-hashed assets immutable and the rest
//! revalidated under strong entity tags, `/api` answered by a real backend through the cache,
//! previews of every version on its own host, pages pinned to the version they started on across
//! a switch (with the previous version's files kept for the grace period), and hostile hosts,
//! paths and rules refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::support::*;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the example site as version `label` into `d/name` (the gallery's images from
/// `media`, when given).
pub fn build_example(d: &Path, name: &str, label: &str, media: Option<&Path>) {
    let mut c = Command::new("bash");
    c.arg(root().join("examples/site/build.sh"))
        .arg(d.join(name))
        .arg(label);
    if let Some(m) = media {
        c.arg(m);
    }
    let out = c.output().expect("build.sh runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `publish DIR --volume VOLUME --tag stable --site --pwa`, as JSON.
pub fn publish_site(d: &Path, dir: &str, volume: &str) -> serde_json::Value {
    json(
        &[
            "publish", dir, "--store", "store", "--volume", volume, "--tag", "stable", "--key",
            "pub.key", "--site", "--pwa",
        ],
        d,
    )
}

/// The example's backend (`examples/site/api.py`) on `port`, stopped when dropped.
pub struct Api(Child);

impl Api {
    pub fn start(port: u16) -> Self {
        let child = Command::new("python3")
            .arg(root().join("examples/site/api.py"))
            .arg(port.to_string())
            .spawn()
            .expect("python3 runs");
        let api = Self(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while http_get(&format!("http://127.0.0.1:{port}/api/hello")).0 != 200 {
            assert!(Instant::now() < deadline, "the backend did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        api
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn asset(d: &Path, dir: &str, stem: &str) -> String {
    std::fs::read_dir(d.join(dir).join("assets"))
        .expect("assets")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with(stem))
        .expect("a hashed asset")
}

const HOST: &str = "Host: localhost";
const REVALIDATE: &str = "public, max-age=0, must-revalidate";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn version_of(g: &Got) -> String {
    // The shell names its version in a meta tag, the other pages in their text.
    let t = g.text();
    if let Some(rest) = t.split("name=\"site-version\" content=\"").nth(1) {
        return rest.split('"').next().unwrap_or("").to_owned();
    }
    t.find("(version ")
        .map_or(String::new(), |i| t[i + 9..i + 10].to_owned())
}

#[test]
fn edge_serves_a_volume_as_a_site() {
    let dir = setup();
    let d = dir.path();
    build_example(d, "v1", "1", None);
    let v1 = publish_site(d, "v1", "www");
    let v1_id = v1["version"].as_str().expect("version").to_owned();
    let v1_label = v1["preview_label"].as_str().expect("label").to_owned();
    // Another volume, and one whose rules are broken (published without --site's check).
    build_example(d, "other", "9", None);
    let other = publish_site(d, "other", "other");
    std::fs::create_dir_all(d.join("broken")).expect("mkdir");
    std::fs::write(d.join("broken/index.html"), "<p>broken</p>").expect("write");
    std::fs::write(d.join("broken/_redirects"), "/a /b 301\n/b /a 301\n").expect("write");
    ok(
        &[
            "publish", "broken", "--store", "store", "--volume", "broken", "--tag", "stable",
            "--key", "pub.key",
        ],
        d,
    );
    let origin = Served::start(d, &[]);
    let port = free_port();
    let _api = Api::start(port);
    let api = format!("/api=http://127.0.0.1:{port}");
    let e = Served::edge(
        d,
        &origin.url,
        &[
            "--site",
            "localhost=www@stable",
            "--site",
            "broken.localhost=broken@stable",
            "--site-api",
            &api,
            "--tag-max-age",
            "1",
            "--site-grace",
            "600",
        ],
    );
    let url = e.url.as_str();

    // The shell: revalidated under a strong entity tag, the site's headers, the pinning cookie.
    let home = http_full(url, "/", &[HOST]);
    assert_eq!(home.status, 200);
    assert_eq!(home.header("cache-control"), Some(REVALIDATE));
    assert_eq!(home.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(home.header("x-tinycdn-version"), Some(v1_id.as_str()));
    assert!(home.all("vary").contains(&"Cookie"));
    let cookie = home.header("set-cookie").expect("a cookie");
    assert!(cookie.starts_with(&format!("tinycdn-site={v1_id}; Path=/; HttpOnly")));
    assert!(!cookie.contains("Secure"), "plain http: {cookie}");
    // A client claiming TLS through X-Forwarded-Proto is not a trusted terminator: no Secure.
    let claimed = http_full(url, "/", &[HOST, "X-Forwarded-Proto: https"]);
    let claimed = claimed.header("set-cookie").expect("a cookie");
    assert!(!claimed.contains("Secure"), "{claimed}");
    let etag = home.header("etag").expect("an etag").to_owned();
    assert!(etag.starts_with('"'), "strong: {etag}");
    let inm = format!("If-None-Match: {etag}");
    assert_eq!(http_full(url, "/", &[HOST, &inm]).status, 304);
    // Content-hashed assets are immutable and the same for every cookie.
    let app1 = asset(d, "v1", "app.");
    let js = http_full(url, &format!("/assets/{app1}"), &[HOST]);
    assert_eq!(js.status, 200);
    assert_eq!(js.header("cache-control"), Some(IMMUTABLE));
    assert!(!js.all("vary").contains(&"Cookie"));
    assert!(
        js.header("set-cookie").is_none(),
        "assets do not set the cookie"
    );
    // Clean URLs, indexes, redirects (keeping the query), the docs' own 404, the SPA fallback.
    let about = http_full(url, "/about", &[HOST]);
    assert_eq!((about.status, version_of(&about).as_str()), (200, "1"));
    for (path, status, to) in [
        ("/about.html", 308, "/about"),
        ("/docs", 308, "/docs/"),
        ("/docs/index.html", 308, "/docs/"),
        ("/home?utm=x", 301, "/?utm=x"),
        ("/photos", 301, "/gallery"),
        ("/blog/intro", 302, "/docs/intro"),
    ] {
        let g = http_full(url, path, &[HOST]);
        assert_eq!(
            (g.status, g.header("location")),
            (status, Some(to)),
            "{path}"
        );
    }
    let docs = http_full(url, "/docs/", &[HOST]);
    assert_eq!(docs.header("x-frame-options"), Some("DENY"));
    let nf = http_full(url, "/docs/nope", &[HOST, "Range: bytes=0-3", &inm]);
    assert_eq!(nf.status, 404, "a whole 404, never a range or a 304");
    assert!(nf.text().contains("No such page in the docs"));
    let spa = http_full(url, "/some/client/route", &[HOST]);
    assert_eq!(spa.status, 200);
    assert!(spa.text().contains("name=\"site-version\""));
    assert_eq!(http_full(url, "/assets/missing.js", &[HOST]).status, 404);
    for hidden in ["/_redirects", "/_headers"] {
        assert!(
            !http_full(url, hidden, &[HOST]).text().contains("/photos"),
            "{hidden}"
        );
    }
    // The service worker is revalidated and precaches what the volume holds.
    let sw = http_full(url, "/sw.js", &[HOST, "Service-Worker: script"]);
    assert_eq!(sw.header("cache-control"), Some(REVALIDATE));
    assert!(sw.text().contains(&format!("\"/assets/{app1}\"")));
    // The API prefix is the application's, through the RFC 9111 cache (max-age=5).
    let a = http_full(url, "/api/hello", &[HOST]);
    assert_eq!(a.status, 200);
    assert!(a.text().contains("hello from the backend"));
    let again = http_full(url, "/api/hello", &[HOST]);
    assert!(
        again
            .header("cache-status")
            .is_some_and(|c| c.contains("hit")),
        "{:?}",
        again.headers
    );
    assert_eq!(
        again.text(),
        a.text(),
        "the stored response, not a second call"
    );

    // Hostile paths and hosts: clear 4xx, never a file of another site.
    for path in [
        "/../etc/passwd",
        "/%2e%2e/x",
        "/a%00b",
        "//evil.example/",
        "/docs/%2F..",
        "/a\\b",
    ] {
        let g = http_full(url, path, &[HOST]);
        assert!((400..500).contains(&g.status), "{path}: {}", g.status);
    }
    for host in [
        "Host: other.test",
        "Host: www.localhost",
        "Host: localhost.evil",
    ] {
        assert_eq!(http_full(url, "/", &[host]).status, 421, "{host}");
    }
    assert_eq!(
        http_full(url, "/.tinycdn/healthz", &["Host: other.test"]).status,
        200
    );
    let broken = http_full(url, "/", &["Host: broken.localhost"]);
    assert_eq!(broken.status, 502);
    assert!(broken.text().contains("_redirects"), "{}", broken.text());
    // Previews: a version's own host; another volume's version is not this site's.
    let preview_host = format!("Host: {v1_label}.localhost");
    let p = http_full(url, "/about", &[&preview_host]);
    assert_eq!((p.status, version_of(&p).as_str()), (200, "1"));
    assert_eq!(p.header("x-robots-tag"), Some("noindex"));
    assert!(p.header("set-cookie").is_none());
    let foreign = format!(
        "Host: {}.localhost",
        other["preview_label"].as_str().expect("label")
    );
    assert_eq!(http_full(url, "/", &[&foreign]).status, 404);

    // A new version: the next navigation is it; pages of version 1 keep theirs.
    build_example(d, "v2", "2", None);
    let v2 = publish_site(d, "v2", "www");
    let v2_id = v2["version"].as_str().expect("version").to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let g = http_full(url, "/", &[HOST]);
        if g.header("x-tinycdn-version") == Some(v2_id.as_str()) {
            assert_eq!(version_of(&g), "2");
            break;
        }
        assert!(Instant::now() < deadline, "the tag's move never showed");
        std::thread::sleep(Duration::from_millis(200));
    }
    let pinned = format!("Cookie: a=b; tinycdn-site={v1_id}");
    let sub = http_full(url, "/about", &[HOST, &pinned, "Sec-Fetch-Dest: empty"]);
    assert_eq!(
        version_of(&sub),
        "1",
        "a page of version 1 gets version 1's files"
    );
    let app2 = asset(d, "v2", "app.");
    let newer = http_full(url, &format!("/assets/{app2}"), &[HOST, &pinned]);
    assert_eq!(
        newer.status, 200,
        "a file only the current version has is served to pinned pages"
    );
    let css1 = asset(d, "v1", "style.");
    let css = http_full(url, &format!("/assets/{css1}"), &[HOST]);
    assert_eq!(
        css.status, 200,
        "version 1's assets stay for the grace period"
    );
    assert!(css.text().contains("\"1\""));
    let nav = http_full(url, "/about", &[HOST, &pinned, "Sec-Fetch-Dest: document"]);
    assert_eq!(version_of(&nav), "2", "a navigation is the current version");
    assert!(nav.header("set-cookie").is_some_and(|c| c.contains(&v2_id)));
    let unknown = format!("Cookie: tinycdn-site={}", "ab".repeat(32));
    assert_eq!(
        version_of(&http_full(
            url,
            "/about",
            &[HOST, &unknown, "Sec-Fetch-Dest: empty"]
        )),
        "2"
    );
    let p = http_full(url, "/about", &[&preview_host]);
    assert_eq!(version_of(&p), "1", "a preview is immutable");
    // An edge that never served version 1 has no grace to give it.
    let fresh = Served::edge(d, &origin.url, &["--site", "localhost=www@stable"]);
    assert_eq!(
        http_full(&fresh.url, &format!("/assets/{css1}"), &[HOST]).status,
        404
    );
    let metrics = http_get(&format!("{url}/.tinycdn/metrics")).1;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains(
            "tinycdn_site_responses_total{role=\"edge\",pop=\"default\",result=\"grace\"} 1"
        ),
        "{metrics}"
    );
}

#[test]
fn site_flags_are_checked() {
    let dir = setup();
    let d = dir.path();
    for (flag, value, says) in [
        ("--site", "Example.com=www@stable", "not a host name"),
        ("--site", "example.com=www", "HOST=VOLUME@REF"),
        ("--site", "example.com:80=www@stable", "not a host name"),
    ] {
        let err = fails(
            &[
                "edge",
                "--upstream",
                "http://127.0.0.1:1",
                "--trust",
                "pub.key.pub",
                flag,
                value,
            ],
            d,
            1,
        );
        assert!(err.contains(says), "{value}: {err}");
    }
    let err = fails(
        &[
            "edge",
            "--upstream",
            "http://127.0.0.1:1",
            "--trust",
            "pub.key.pub",
            "--site",
            "a.test=www@stable",
            "--site-api",
            "/api=http://127.0.0.1:1",
            "--site-api",
            "/v2=http://127.0.0.1:2",
        ],
        d,
        1,
    );
    assert!(err.contains("one application per edge"), "{err}");
}
