//! The tinycdn edge: serves volumes from a verified two-tier chunk cache (memory and disk) filled
//! from origin or parent-edge mirrors chosen by health and latency. Manifests are accepted only
//! with a trusted signature and tags only signed by a trusted key; every chunk is checked against
//! its BLAKE3 hash before any of its bytes are cached or sent.

pub mod cache;
pub mod edge;

pub use cache::ChunkCache;
pub use edge::Edge;
pub use tinycdn_fetch::{FetchError, Upstreams};
