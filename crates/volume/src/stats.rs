//! Space accounting: logical bytes the versions describe against physical bytes the store holds;
//! and the delta cost model: compression ratio against CPU spent, per method.

use std::collections::HashMap;

use tinycdn_core::ChunkId;
use tinycdn_store::Store;

use crate::VolumeError;

/// Per-volume figures.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

/// The binary deltas of one method (or of all).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeltaStats {
    /// The method (`all` for the total).
    pub method: String,
    /// Deltas kept.
    pub count: u64,
    /// Bytes of the files they produce.
    pub target_bytes: u64,
    /// Their bytes.
    pub delta_bytes: u64,
    /// Missing chunk bytes they replace for a node holding the parent version.
    pub replaced_bytes: u64,
    /// CPU seconds spent making them.
    pub cpu_seconds: f64,
    /// Deltas made and not kept (only in the `all` row).
    pub rejected: u64,
    /// CPU seconds spent on those.
    pub rejected_cpu_seconds: f64,
}

impl DeltaStats {
    /// `target_bytes / delta_bytes`.
    #[must_use]
    pub fn compression_ratio(&self) -> f64 {
        ratio(self.target_bytes, self.delta_bytes)
    }

    /// `replaced_bytes / delta_bytes`: how many times fewer bytes than the chunks.
    #[must_use]
    pub fn saving_over_chunks(&self) -> f64 {
        ratio(self.replaced_bytes, self.delta_bytes)
    }

    /// Bytes of target saved over chunks per CPU second spent (kept and rejected).
    #[must_use]
    pub fn saved_bytes_per_cpu_second(&self) -> f64 {
        let cpu = self.cpu_seconds + self.rejected_cpu_seconds;
        if cpu > 0.0 {
            self.replaced_bytes.saturating_sub(self.delta_bytes) as f64 / cpu
        } else {
            0.0
        }
    }
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
    /// Binary deltas: the total first, then per method.
    pub deltas: Vec<DeltaStats>,
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
    let mut deltas: Vec<DeltaStats> = Vec::new();
    for name in store.volumes()? {
        let versions = store.versions(&name)?;
        let mut v = VolumeStats {
            name: name.to_string(),
            versions: versions.len() as u64,
            latest: 0,
            latest_bytes: 0,
            logical_bytes: 0,
        };
        for (number, id) in &versions {
            if let Some(index) = store.read_delta_index(id)? {
                let i = &index.index;
                let total = delta_row(&mut deltas, "all");
                total.rejected += i.rejected;
                total.rejected_cpu_seconds += i.rejected_cpu_micros as f64 / 1e6;
                for e in &i.entries {
                    let name = tinycdn_delta::Method::from_code(e.method)
                        .map_or("unknown", tinycdn_delta::Method::name);
                    for row in ["all", name] {
                        let r = delta_row(&mut deltas, row);
                        r.count += 1;
                        r.target_bytes += e.target_size;
                        r.delta_bytes += e.delta_size;
                        r.replaced_bytes += e.replaces;
                        r.cpu_seconds += e.cpu_micros as f64 / 1e6;
                    }
                }
            }
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
        physical += store.object_key_size(&key)?.unwrap_or(0);
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
        deltas,
    })
}

fn delta_row<'a>(rows: &'a mut Vec<DeltaStats>, method: &str) -> &'a mut DeltaStats {
    let at = match rows.iter().position(|r| r.method == method) {
        Some(i) => i,
        None => {
            rows.push(DeltaStats {
                method: method.to_owned(),
                ..DeltaStats::default()
            });
            rows.len() - 1
        }
    };
    &mut rows[at]
}
