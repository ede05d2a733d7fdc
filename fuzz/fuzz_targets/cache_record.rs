//! Fuzz target: `tinycdn_cache_policy::invariants::cache_record` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_cache_policy::invariants::cache_record(data));
