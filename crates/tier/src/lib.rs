//! The edge's cache tiers as policy, without I/O.
//!
//! - [`disk`]: which chunks the disk tier keeps and which it evicts ([`DiskPolicy`]: FIFO,
//!   SIEVE or S3-FIFO over keys with sizes), and its state as a checked snapshot so the order
//!   and the access marks survive restarts.
//! - [`memory`]: the memory tier's construction (`quick_cache`, weighted by bytes).
//!
//! The edge (`tinycdn-edge`) wraps these around files and sockets; `tinycdn audit` runs the
//! same code over a trace, so the curves it draws for `edge` are the edge's own.

pub mod disk;
pub mod invariants;
pub mod memory;

pub use disk::{DiskKind, DiskPolicy, Key, Restored, SnapshotError};
