//! Replays the committed `delta` fuzz corpus through its invariant check.

#[test]
fn delta_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/delta");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        tinycdn_delta::invariants::apply(
            &std::fs::read(entry.expect("entry").path()).expect("file"),
        );
        n += 1;
    }
    assert!(n > 0, "the delta corpus is empty");
}
