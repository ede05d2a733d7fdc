//! Fuzz target: `tinycdn_audit::invariants::log_line` (every access-log parser) on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_audit::invariants::log_line(data));
