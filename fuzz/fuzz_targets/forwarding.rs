//! Fuzz target: `tinycdn_cache_policy::invariants::forwarding` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_cache_policy::invariants::forwarding(data));
