//! Fuzz target: `tinycdn_core::invariants::log_entry` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_core::invariants::log_entry(data));
