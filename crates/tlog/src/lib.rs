//! A transparency log without I/O, as Certificate Transparency and Go's checksum database run
//! them: RFC 6962 hashing ([`hash`]), inclusion and consistency proofs ([`proof`], RFC 9162's
//! algorithms), the C2SP tlog-tiles layout and entry bundles ([`tile`]), appending ([`append`])
//! and checkpoints as C2SP signed notes ([`checkpoint`]).
//!
//! Proofs are made from tiles the reader fetched ([`reader::TileHashes`]) and always checked
//! against signed roots, so tiles may come from any untrusted mirror or cache.

pub mod append;
pub mod checkpoint;
pub mod hash;
pub mod invariants;
pub mod proof;
pub mod reader;
pub mod tile;

pub use append::Appender;
pub use checkpoint::{Checkpoint, CheckpointError, LogSigner, LogVerifier};
pub use hash::{empty_root, leaf_hash, node_hash, Hash};
pub use proof::{
    consistency_proof, inclusion_proof, verify_consistency, verify_inclusion, ProofError, Subtree,
};
pub use reader::{ReadError, TileHashes};
pub use tile::{TileError, TileId, TileKind};
