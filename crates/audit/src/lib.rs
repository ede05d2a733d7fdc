//! Audit and sizing without I/O: what an operator's access logs say should move to the edge,
//! how big its cache must be, and what it buys.
//!
//! - [`parse`]: one request per log line, from nginx `combined` (with `$request_time` and
//!   `$upstream_response_time` when appended), Apache `common`, tinycdn's JSON access log and
//!   CloudFront standard logs; the format detected from the first lines.
//! - [`pattern`]: paths folded into groups (`/media/*/thumb.jpg`).
//! - [`rank`]: objects and groups ranked by requests, bytes, bytes × frequency and latency.
//! - [`sim`]: the trace the simulators replay, and the policies: LRU, FIFO, SIEVE, S3-FIFO, a
//!   W-TinyLFU, Belady's optimum; SHARDS sampling for big traces; miss-ratio curves.

pub mod invariants;
pub mod parse;
pub mod pattern;
pub mod rank;
pub mod sim;
