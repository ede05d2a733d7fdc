//! Fuzz target: `tinycdn_image::invariants::transform` on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_image::invariants::transform(data));
