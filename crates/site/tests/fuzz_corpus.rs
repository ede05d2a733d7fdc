//! Replays the committed fuzz corpora of the `_redirects` and `_headers` parsers through their
//! invariant checks.

fn replay(target: &str, check: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        check(&std::fs::read(entry.expect("corpus entry").path()).expect("corpus file"));
        n += 1;
    }
    assert!(n > 0, "the {target} corpus is empty");
}

#[test]
fn site_redirects_corpus() {
    replay("site_redirects", tinycdn_site::invariants::redirects);
}

#[test]
fn site_headers_corpus() {
    replay("site_headers", tinycdn_site::invariants::headers);
}

#[test]
fn site_host_corpus() {
    replay("site_host", tinycdn_site::invariants::request_host);
}
