//! What every role of a tinycdn edge shares: the verified two-tier chunk cache and the image
//! variants made from what it holds.
//!
//! - [`cache`]: chunks by BLAKE3 id in memory and on disk (the disk tier's policy is
//!   `tinycdn-tier`'s), each checked against its id when read from disk, single-flight fills,
//!   a background scrub;
//! - [`images`]: image variants (resize, re-encode, negotiate) on a bounded, lower-priority
//!   worker pool, kept as verified chunks, under per-site policies.

pub mod cache;
pub mod images;

pub use cache::ChunkCache;
