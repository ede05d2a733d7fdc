//! Rebuilding a lost origin from a vault: every object, manifest, signature, version record,
//! delta, tag, root, snapshot, timestamp and the log copied into a new store, then checked
//! (fsck and the log) before the result is reported usable.

use std::path::Path;

use tinycdn_store::{Durability, Store};

use crate::fsck::{fsck, FsckReport};
use crate::log::LogReport;
use crate::trust::Trust;
use crate::{Progress, VolumeError};

/// What a vault holds that an origin serves (`history/` stays in the vault).
const PREFIXES: &[&str] = &[
    "objects",
    "manifests",
    "signatures",
    "versions",
    "tags",
    "delta-indexes",
    "deltas",
    "roots",
    "log/tile",
    "log/index",
];
const SINGLE: &[&str] = &["snapshot", "timestamp", "log/checkpoint"];

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
    let mut keys: Vec<String> = Vec::new();
    for prefix in PREFIXES {
        keys.extend(vault.backend().list(prefix)?);
    }
    for key in SINGLE {
        if vault.backend().size(key)?.is_some() {
            keys.push((*key).to_owned());
        }
    }
    progress.start("restoring", keys.len() as u64);
    let (mut copied, mut bytes) = (0u64, 0u64);
    for key in &keys {
        let data = vault.backend().read(key)?;
        // Bulk data at the barrier, records immediately: the checkpoint and tags go last.
        let durability = if key.starts_with("objects/") || key.starts_with("deltas/") {
            Durability::AtBarrier
        } else {
            Durability::Immediate
        };
        target.backend().write(key, &data, durability)?;
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
