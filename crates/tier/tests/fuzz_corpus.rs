//! Replays the committed fuzz corpus of the disk tier's state through its invariant checks.

#[test]
fn disk_tier_state_corpus() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/disk_tier_state");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        tinycdn_tier::invariants::state(
            &std::fs::read(entry.expect("corpus entry").path()).expect("corpus file"),
        );
        n += 1;
    }
    assert!(n > 0, "the corpus is empty");
}
