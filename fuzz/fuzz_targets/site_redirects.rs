//! Fuzz target: `tinycdn_site::invariants::redirects` (the `_redirects` parser) on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_site::invariants::redirects(data));
