//! Replays the committed fuzz corpora of the HTTP parsers through their invariant checks.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
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
fn range_corpus() {
    replay("range", tinycdn_http::invariants::range);
}

#[test]
fn route_corpus() {
    replay("route", tinycdn_http::invariants::route);
}

#[test]
fn etag_corpus() {
    replay("etag", tinycdn_http::invariants::etag);
}
