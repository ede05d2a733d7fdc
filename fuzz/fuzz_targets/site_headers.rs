//! Fuzz target: `tinycdn_site::invariants::headers` (the `_headers` parser) on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_site::invariants::headers(data));
