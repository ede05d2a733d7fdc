//! Fuzz target: `tinycdn_tlog::invariants::proof` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_tlog::invariants::proof(data));
