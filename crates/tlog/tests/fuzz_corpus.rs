//! Replays the committed fuzz corpora of the log's parsers through their invariant checks.

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
fn checkpoint_corpus() {
    replay("checkpoint", tinycdn_tlog::invariants::checkpoint);
}

#[test]
fn tile_path_corpus() {
    replay("tile_path", tinycdn_tlog::invariants::tile_path);
}

#[test]
fn bundle_corpus() {
    replay("bundle", tinycdn_tlog::invariants::bundle);
}

#[test]
fn proof_corpus() {
    replay("proof", tinycdn_tlog::invariants::proof);
}

#[test]
fn log_entry_corpus() {
    replay("log_entry", tinycdn_core::invariants::log_entry);
}
