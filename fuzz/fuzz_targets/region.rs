//! Fuzz target: the region's parsers (the peer route another member sends, a members file, a
//! `--peers-dns` target) with their invariants in `tinycdn_region::invariants`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tinycdn_region::invariants::parsers(data));
