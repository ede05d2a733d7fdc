//! Fuzz target: `tinycdn_core::invariants::signature_set` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_core::invariants::signature_set(data));
