//! Fuzz target: `tinycdn_volume::trust::root_json_invariant` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_volume::trust::root_json_invariant(data));
