//! Rebuilding a lost origin from a vault: every object, manifest, signature, version record,
//! delta, tag, root, snapshot, timestamp and the log copied into a new store, then checked
//! (fsck and the log) before the result is reported usable.

use std::path::Path;

use tinycdn_store::{Durability, Key, Prefix, Store};

use crate::fsck::{fsck, FsckReport};
use crate::log::LogReport;
use crate::trust::Trust;
use crate::{Progress, VolumeError};

/// What a vault holds that an origin serves (`history/` stays in the vault; of `log/`, the
/// tiles, the index and the checkpoint: never a signing key or a node's seen checkpoints).
const PREFIXES: &[Prefix] = &[
    Prefix::Objects,
    Prefix::Manifests,
    Prefix::Signatures,
    Prefix::Versions,
    Prefix::Tags,
    Prefix::DeltaIndexes,
    Prefix::Deltas,
    Prefix::Roots,
    Prefix::Log,
];

/// Whether a key the vault lists under [`PREFIXES`] is one an origin serves (the checkpoint
/// is copied last, after the tiles it signs).
fn served(key: &Key) -> bool {
    match key {
        Key::Log(path) => path.starts_with("tile/") || path.starts_with("index/"),
        _ => true,
    }
}

/// What a restore did.
#[derive(Debug)]
pub struct RestoreReport {
    /// Objects (of every kind) copied.
    pub copied: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// The check of the restored store.
    pub fsck: FsckReport,
    /// The check of its log.
    pub log: LogReport,
}

/// Copies `vault` into a new store at `dest` (which must not hold a store) and checks it.
///
/// # Errors
/// An existing store at `dest`, store errors; a restored store that does not check out is
/// reported in [`RestoreReport`] (the caller decides), a damaged log is an error.
pub fn restore(
    vault: &Store,
    dest: &Path,
    trust: &Trust,
    progress: &dyn Progress,
) -> Result<RestoreReport, VolumeError> {
    if Store::open(dest).is_ok() {
        return Err(VolumeError::Destination {
            path: dest.to_owned(),
            why: "it already holds a store; restore into a new directory".into(),
        });
    }
    let target = Store::init(dest)?;
    let lock = target.lock()?;
    let mut keys: Vec<Key> = Vec::new();
    for prefix in PREFIXES {
        keys.extend(vault.keys(*prefix)?.into_iter().filter(served));
    }
    for key in [
        Key::Snapshot,
        Key::Timestamp,
        Key::Log("checkpoint".to_owned()),
    ] {
        if vault.key_size(&key)?.is_some() {
            keys.push(key);
        }
    }
    progress.start("restoring", keys.len() as u64);
    let (mut copied, mut bytes) = (0u64, 0u64);
    for key in &keys {
        let data = vault.read_key(key)?;
        // Bulk data at the barrier, records immediately: the checkpoint and tags go last.
        let durability = if matches!(key, Key::Object { .. } | Key::Delta { .. }) {
            Durability::AtBarrier
        } else {
            Durability::Immediate
        };
        target.write_key(key, &data, durability)?;
        copied += 1;
        bytes += data.len() as u64;
        progress.advance(1);
    }
    target.barrier()?;
    progress.finish();
    drop(lock);
    let fsck = fsck(&target, trust, progress)?;
    let log = crate::log::verify(&target)?;
    Ok(RestoreReport {
        copied,
        bytes,
        fsck,
        log,
    })
}
