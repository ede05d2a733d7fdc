//! Replays the committed `cargo fuzz` corpus of the trust root JSON parser as an ordinary test.

use std::path::Path;

#[test]
fn root_json_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/root_json");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let data = std::fs::read(entry.expect("entry").path()).expect("corpus file");
        tinycdn_volume::trust::root_json_invariant(&data);
        n += 1;
    }
    assert!(n > 0, "the root_json corpus is empty");
}
