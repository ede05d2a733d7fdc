//! Fuzz target: `tinycdn_delta::invariants::apply` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_delta::invariants::apply(data));
