//! Fuzz target: `tinycdn_core::invariants::timestamp` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_core::invariants::timestamp(data));
