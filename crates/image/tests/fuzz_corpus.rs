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
fn image_probe_corpus() {
    replay("image_probe", tinycdn_image::invariants::probe);
}

#[test]
fn image_params_corpus() {
    replay("image_params", tinycdn_image::invariants::params);
}

#[test]
fn image_transform_corpus() {
    replay("image_transform", tinycdn_image::invariants::transform);
}
