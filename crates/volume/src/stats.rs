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
    /// File objects in the store.
    pub objects: u64,
    /// Their bytes: what the store holds on disk.
    pub physical_bytes: u64,
    /// Distinct chunks the versions reference.
    pub unique_chunks: u64,
    /// Their bytes: every distinct byte sequence counted once.
    pub unique_chunk_bytes: u64,
    /// `logical_bytes / physical_bytes`: how much content addressing saves.
    pub dedup_ratio: f64,
    /// `physical_bytes / unique_chunk_bytes`: how many copies of each distinct chunk the store
    /// keeps (1.0 means every distinct byte is stored once; above 1.0 when a changed file shares
    /// chunks with its earlier version, both stored whole).
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
    let mut chunks: HashMap<ChunkId, u32> = HashMap::new();
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
            for (_, f) in m.files() {
                chunks.extend(f.chunks.iter().map(|c| (c.id, c.len)));
            }
        }
        logical += v.logical_bytes;
        volumes.push(v);
    }
    let mut objects = 0u64;
    let mut physical = 0u64;
    for key in store.object_keys()? {
        objects += 1;
        physical += store.backend().size(&key)?.unwrap_or(0);
    }
    let unique: u64 = chunks.values().map(|l| u64::from(*l)).sum();
    Ok(StoreStats {
        volumes,
        logical_bytes: logical,
        objects,
        physical_bytes: physical,
        unique_chunks: chunks.len() as u64,
        unique_chunk_bytes: unique,
        dedup_ratio: ratio(logical, physical),
        duplication_factor: ratio(physical, unique),
    })
}
