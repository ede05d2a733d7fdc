use super::*;
use proptest::prelude::*;

const FILE: &str = r#"
listen = "0.0.0.0:8080"
pop = "fra1"

[cache]
dir = "cache"
size = "20GiB"

[upstream]
mirrors = ["http://origin:7070"]
trust = ["trust.json"]

[[site]]
name = "shop"
hosts = ["shop.example", "*.shop.example"]
origin = "http://shop:8080"
mounts = { "/static" = "shop-media@stable" }
headers = { "X-Served-By" = "edge", "Authorization-Hint" = "s3cret" }
[site.images]
widths = [320, 640]

[[site]]
hosts = ["docs.example"]
static = "docs@stable"

[[site]]
hosts = ["*"]                 # the default site
origin = "http://user:pw@app:3000"
"#;

fn parse(text: &str) -> Result<EdgeConfig, ConfigError> {
    EdgeConfig::parse(text, Path::new("/etc/tinycdn/edge.toml"))
}

fn error(text: &str) -> String {
    parse(text).expect_err("refused").to_string()
}

#[test]
fn the_example_parses() {
    let c = parse(FILE).expect("valid");
    assert_eq!(c.listen, "0.0.0.0:8080");
    assert_eq!(c.cache.size, Size(20 << 30));
    assert_eq!(
        c.cache.dir.as_deref(),
        Some(Path::new("/etc/tinycdn/cache"))
    );
    assert_eq!(c.upstream.trust, [PathBuf::from("/etc/tinycdn/trust.json")]);
    assert_eq!(c.sites.len(), 3);
    assert_eq!(c.sites[0].name(), "shop");
    assert_eq!(c.sites[1].name(), "docs.example");
    assert_eq!(c.sites[2].hosts, [HostPattern::Any]);
    assert_eq!(c.sites[0].line, Some(13));
    assert_eq!(c.sites[0].parsed_mounts().len(), 1);
    assert_eq!(c.sites[0].images.widths.as_deref(), Some(&[320, 640][..]));
    // Defaults where the file is silent.
    assert_eq!(c.limits, LimitsConfig::default());
    assert_eq!(c.sites[0].origin_timeout, 30);
}

#[test]
fn check_prints_a_file_that_parses_back_with_secrets_redacted() {
    let c = parse(FILE).expect("valid");
    let shown = c.redacted_toml();
    assert!(!shown.contains("pw@"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("<redacted>"));
    let again = parse(&shown).expect("the printed configuration is a valid file");
    assert_eq!(again.sites.len(), 3);
    assert_eq!(again.cache, c.cache);
    assert_eq!(again.sites[0].hosts, c.sites[0].hosts);
}

#[test]
fn unknown_keys_are_refused_with_their_line() {
    let e = error("listen = \"127.0.0.1:1\"\n[cache]\nsise = \"1GiB\"\n");
    assert!(e.contains("sise") && e.contains("line 3"), "{e}");
    let e = error("[[site]]\nhosts = [\"*\"]\norigin = \"http://a\"\norign = \"x\"\n");
    assert!(e.contains("orign") && e.contains("line 4"), "{e}");
}

#[test]
fn bad_values_name_key_and_line() {
    let e = error("[cache]\nsize = \"20 parsecs\"\n[[site]]\nhosts=[\"*\"]\norigin=\"http://a\"\n");
    assert!(e.contains("parsecs") && e.contains("line 2"), "{e}");
    let e = error("[[site]]\nhosts = [\"Shop.example\"]\norigin = \"http://a\"\n");
    assert!(e.contains("Shop.example") && e.contains("line 2"), "{e}");
    let e = error("listen = \"nowhere\"\n[[site]]\nhosts=[\"*\"]\norigin=\"http://a\"\n");
    assert!(e.contains("line 1: listen"), "{e}");
    let e = error("\n[cache]\npolicy = \"lru\"\n[[site]]\nhosts=[\"*\"]\norigin=\"http://a\"\n");
    assert!(e.contains("line 3: cache.policy"), "{e}");
}

#[test]
fn two_sites_with_one_host_are_refused() {
    let e = error(
        "[[site]]\nhosts = [\"a.example\"]\norigin = \"http://a\"\n\n[[site]]\nhosts = [\"b.example\", \"a.example\"]\norigin = \"http://b\"\n",
    );
    assert!(
        e.contains("line 5: site[1].hosts") && e.contains("a.example"),
        "{e}"
    );
    let e = error("[[site]]\nhosts=[\"*\"]\norigin=\"http://a\"\n[[site]]\nhosts=[\"*\"]\norigin=\"http://b\"\n");
    assert!(e.contains("site[1].hosts"), "{e}");
    let e = error("[[site]]\nname=\"x\"\nhosts=[\"a.b\"]\norigin=\"http://a\"\n[[site]]\nname=\"x\"\nhosts=[\"c.d\"]\norigin=\"http://b\"\n");
    assert!(e.contains("site[1].name"), "{e}");
}

#[test]
fn volumes_need_upstreams_and_trust() {
    let e = error("[[site]]\nhosts=[\"*\"]\nmounts = { \"/s\" = \"media@stable\" }\n");
    assert!(
        e.contains("site[0].mounts") && e.contains("upstream"),
        "{e}"
    );
    let e = error("[upstream]\nmirrors=[\"http://o\"]\n");
    assert!(e.contains("upstream.trust"), "{e}");
    let e = error("[upstream]\nmirrors=[\"ftp://o\"]\ntrust=[\"t\"]\n");
    assert!(e.contains("upstream.mirrors"), "{e}");
}

#[test]
fn site_rules() {
    let base = "[upstream]\nmirrors=[\"http://o\"]\ntrust=[\"t\"]\n[[site]]\n";
    for (body, key) in [
        ("hosts=[]\norigin=\"http://a\"", "hosts"),
        ("hosts=[\"*.a.b\"]\nstatic=\"docs@stable\"", "static"),
        ("hosts=[\"a.b\"]\nstatic=\"docs\"", "static"),
        (
            "hosts=[\"a.b\"]\nstatic=\"docs@stable\"\napi=[\"/api\"]",
            "api",
        ),
        ("hosts=[\"a.b\"]\nmounts={\"/.tinycdn\"=\"m@s\"}", "mounts"),
        ("hosts=[\"a.b\"]\norigin=\"file:///x\"", "origin"),
        (
            "hosts=[\"a.b\"]\npurge_token_file=\"t\"",
            "purge_token_file",
        ),
        (
            "hosts=[\"a.b\"]\norigin=\"http://a\"\nheaders={\"Content-Length\"=\"1\"}",
            "headers",
        ),
        (
            "hosts=[\"a.b\"]\norigin=\"http://a\"\nheaders={\"X\"=\"a\\nb\"}",
            "headers",
        ),
        (
            "hosts=[\"a.b\"]\norigin=\"http://a\"\ncredential_headers=[\"bad header\"]",
            "credential_headers",
        ),
        (
            "hosts=[\"a.b\"]\norigin=\"http://a\"\n[site.images]\nallow_any=true\nwidths=[1]",
            "images.allow_any",
        ),
        (
            "hosts=[\"a.b\"]\norigin=\"http://a\"\n[site.images]\nqualities=[101]",
            "images",
        ),
        ("name=\"a b\"\nhosts=[\"a.b\"]\norigin=\"http://a\"", "name"),
    ] {
        let e = error(&format!("{base}{body}\n"));
        assert!(e.contains(&format!("site[0].{key}")), "{body}: {e}");
        assert!(e.contains("line 4"), "{body}: {e}");
    }
}

#[test]
fn restart_keys_name_what_a_reload_cannot_change() {
    let a = parse(FILE).expect("valid");
    let mut b = a.clone();
    b.sites.pop();
    b.sites[0].origin = Some("http://elsewhere:1".into());
    assert!(a.restart_keys(&b).is_empty());
    b.cache.size = Size(1 << 30);
    b.listen = "0.0.0.0:9".into();
    assert_eq!(a.restart_keys(&b), ["listen", "cache"]);
}

proptest! {
    /// Whatever the text, parsing returns (never panics), and what it accepts prints as a file
    /// that parses to the same sites.
    #[test]
    fn any_text_is_parsed_or_refused(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn generated_files_round_trip(
        hosts in proptest::collection::btree_set("[a-z]{1,8}\\.(example|test)", 1..6),
        size in 1u64..(1 << 40),
        port in 1u16..,
    ) {
        let mut text = format!("listen = \"127.0.0.1:{port}\"\n[cache]\nsize = {size}\n");
        for (i, h) in hosts.iter().enumerate() {
            text.push_str(&format!("[[site]]\nhosts = [\"{h}\", \"*.{h}\"]\norigin = \"http://app{i}:80\"\n"));
        }
        let c = parse(&text).expect("valid");
        prop_assert_eq!(c.sites.len(), hosts.len());
        prop_assert_eq!(c.cache.size, Size(size));
        let mut again = parse(&c.redacted_toml()).expect("round trip");
        let mut c = c;
        for s in again.sites.iter_mut().chain(c.sites.iter_mut()) {
            s.line = None;
        }
        prop_assert_eq!(again, c);
    }

    /// Mutating one byte of a valid file never makes it panic.
    #[test]
    fn mutated_files_never_panic(at in 0usize..600, byte in any::<u8>()) {
        let mut b = FILE.as_bytes().to_vec();
        let at = at % b.len();
        b[at] = byte;
        if let Ok(t) = std::str::from_utf8(&b) {
            let _ = parse(t);
        }
    }
}
