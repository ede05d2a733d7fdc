//! Replays the committed fuzz corpora of this crate's parsers through their invariant checks.

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
fn cache_control_corpus() {
    replay(
        "cache_control",
        tinycdn_cache_policy::invariants::cache_control,
    );
}

#[test]
fn cache_key_corpus() {
    replay("cache_key", tinycdn_cache_policy::invariants::cache_key);
}

#[test]
fn cache_record_corpus() {
    replay(
        "cache_record",
        tinycdn_cache_policy::invariants::cache_record,
    );
}

#[test]
fn forwarding_corpus() {
    replay("forwarding", tinycdn_cache_policy::invariants::forwarding);
}

#[test]
fn credentials_corpus() {
    replay("credentials", tinycdn_cache_policy::invariants::credentials);
}
