//! Fuzz target: `tinycdn_site::invariants::request_host` (`Host` normalisation, preview labels,
//! the pinning cookie) on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_site::invariants::request_host(data));
