//! Fuzz target: `tinycdn_tier::invariants::state` (restoring the disk tier's state) on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_tier::invariants::state(data));
