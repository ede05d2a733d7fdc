//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the same invariant checks
//! the `cargo fuzz` targets run, so every input that ever found a bug stays a regression test.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        check(&data);
        n += 1;
    }
    assert!(n > 0, "the {target} corpus is empty");
}

#[test]
fn manifest_corpus() {
    replay("manifest", tinycdn_core::invariants::manifest);
}

#[test]
fn tag_corpus() {
    replay("tag", tinycdn_core::invariants::tag);
}

#[test]
fn snapshot_corpus() {
    replay("snapshot", tinycdn_core::invariants::snapshot);
}

#[test]
fn timestamp_corpus() {
    replay("timestamp", tinycdn_core::invariants::timestamp);
}

#[test]
fn root_corpus() {
    replay("root", tinycdn_core::invariants::root);
}

#[test]
fn delta_index_corpus() {
    replay("delta_index", tinycdn_core::invariants::delta_index);
}

#[test]
fn signature_set_corpus() {
    replay("signature_set", tinycdn_core::invariants::signature_set);
}

#[test]
fn names_corpus() {
    replay("names", tinycdn_core::invariants::names);
}

#[test]
fn chunking_corpus() {
    replay("chunking", tinycdn_core::invariants::chunking);
}
