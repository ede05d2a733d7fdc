//! Pulling a volume version into a local store: verify the tag and the signed manifest, work out
//! which chunks the store lacks, fetch only those (adjacent ones merged into one range request, in
//! parallel with bounded concurrency, from mirrors ranked by health and latency), verify every
//! chunk before keeping it, and assemble and verify each new file before it becomes an object.
//! Files whose predecessor the store holds can instead come as a publish-time binary delta, listed
//! in the version's signed delta index and checked against it, then against the file's hash; any
//! failure falls back to chunks.
//!
//! Fetched chunks and deltas are staged in the store as they arrive (`staging/`), so an interrupted pull
//! resumes without fetching them again; staging is cleared once the version is complete.

mod error;
mod fetched;
pub mod log;
pub mod metadata;
pub mod plan;
pub mod pull;
pub mod repair;
pub mod vault;

pub use error::PullError;
pub use pull::{pull, pull_logged, LogPolicy, PullReport};
