//! The fuzz target `region`'s committed corpus (`fuzz/corpus/region`), replayed against its
//! invariants on every test run.

#[test]
fn region_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/region");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("the corpus folder") {
        let data = std::fs::read(entry.expect("corpus entry").path()).expect("corpus file");
        tinycdn_region::invariants::parsers(&data);
        n += 1;
    }
    assert!(n > 0, "the region corpus is empty");
}
