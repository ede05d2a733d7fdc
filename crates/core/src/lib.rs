//! The sans-IO model of tinycdn: content hashes, content-defined chunking, volume manifests and their
//! canonical encoding, signatures and thresholds, trust roots, snapshots and timestamps, delta indexes, and the rules that
//! names must follow.
//!
//! Nothing in this crate touches a file, a socket or a clock: every function takes bytes or values and
//! returns values, so the model can be tested deterministically and reused by the store, the servers
//! and the command line alike.

pub mod chunking;
pub mod delta_index;
pub mod encoding;
pub mod error;
pub mod id;
pub mod invariants;
pub mod log_entry;
pub mod manifest;
pub mod media_type;
pub mod names;
pub mod root;
pub mod sign;
pub mod snapshot;
pub mod tag;
pub mod time;
pub mod timestamp;

pub use error::{DecodeError, NameError, SignatureError};
pub use id::{ChunkId, FileId, KeyId, VersionId};
