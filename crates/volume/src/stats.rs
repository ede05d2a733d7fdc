//! Space accounting: logical bytes the versions describe against physical bytes the store holds.

use std::collections::HashMap;

use tinycdn_core::ChunkId;
use tinycdn_store::Store;

use crate::VolumeError;

/// Per-volume figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeStats {
    /// The volume.
    pub name: String,
    /// Versions in the store.
    pub versions: u64,
    /// The newest version's number.
    pub latest: u64,
    /// Bytes of the newest version's files.
    pub latest_bytes: u64,
    /// Bytes of the files of all its versions added up.
    pub logical_bytes: u64,
}

/// Store-wide figures.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreStats {
    /// Per volume.
    pub volumes: Vec<VolumeStats>,
    /// Bytes of the files of every version of every volume: what storing each version as a plain
    /// copy would take.
    pub logical_bytes: u64,
    /// Chunks in the store.
    pub chunks: u64,
    /// Bytes of those chunks: every distinct byte sequence once.
    pub chunk_bytes: u64,
    /// Whole files assembled for hardlinked checkouts.
    pub assembled_files: u64,
    /// Their bytes (a second copy of multi-chunk files that are checked out here).
    pub assembled_bytes: u64,
    /// `chunk_bytes + assembled_bytes`.
    pub physical_bytes: u64,
    /// `logical_bytes / chunk_bytes`: how much content addressing saves.
    pub dedup_ratio: f64,
    /// `physical_bytes / chunk_bytes`: how many copies of each distinct byte the store keeps
    /// (1.0 means every byte is stored once).
    pub duplication_factor: f64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        1.0
    } else {
        a as f64 / b as f64
    }
}

/// Computes the figures.
///
/// # Errors
/// Store errors.
pub fn stats(store: &Store) -> Result<StoreStats, VolumeError> {
    let mut volumes = Vec::new();
    let mut logical = 0u64;
    for name in store.volumes()? {
        let versions = store.versions(&name)?;
        let mut v = VolumeStats {
            name: name.clone(),
            versions: versions.len() as u64,
            latest: 0,
            latest_bytes: 0,
            logical_bytes: 0,
        };
        for (number, id) in &versions {
            let (m, _) = store.read_manifest(id)?;
            let size = m.logical_size();
            v.logical_bytes += size;
            v.latest = *number;
            v.latest_bytes = size;
        }
        logical += v.logical_bytes;
        volumes.push(v);
    }
    let backend = store.backend();
    let mut sizes: HashMap<ChunkId, u64> = HashMap::new();
    for key in backend.list("chunks")? {
        if let Some(id) = key.rsplit('/').next().and_then(|n| n.parse().ok()) {
            sizes.insert(id, backend.size(&key)?.unwrap_or(0));
        }
    }
    let chunk_bytes: u64 = sizes.values().sum();
    let mut assembled_files = 0u64;
    let mut assembled_bytes = 0u64;
    for key in store.file_keys()? {
        assembled_files += 1;
        assembled_bytes += backend.size(&key)?.unwrap_or(0);
    }
    let physical = chunk_bytes + assembled_bytes;
    Ok(StoreStats {
        volumes,
        logical_bytes: logical,
        chunks: sizes.len() as u64,
        chunk_bytes,
        assembled_files,
        assembled_bytes,
        physical_bytes: physical,
        dedup_ratio: ratio(logical, chunk_bytes),
        duplication_factor: ratio(physical, chunk_bytes),
    })
}
