//! Replays the committed fuzz corpus of the access-log parsers through their invariant checks.

#[test]
fn log_line_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/log_line");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        tinycdn_audit::invariants::log_line(&data);
        n += 1;
    }
    assert!(n > 0, "the corpus is empty");
}
