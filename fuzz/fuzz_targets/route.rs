//! Fuzz target: `tinycdn_http::invariants::route` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_http::invariants::route(data));
