//! Metadata files on the cache disk (manifests, tags, stored response records, image variant
//! records, the disk tier's own state) and what they cost: they count against `--cache-size`
//! with the chunks. Their bytes, rounded up to whole 4 KiB blocks as a file system stores them,
//! are reserved out of the disk tier's capacity (chunks are evicted to make room), and the
//! records a request can make (everything but the trust and log state below) may take at most a
//! quarter of it: past that a write is refused and counted, and the edge serves on without it.

use std::sync::atomic::Ordering;

use tinycdn_store::{Backend, Durability};

use super::{chunk_key, ChunkCache, Disk};

/// A file's cost on disk: its bytes rounded up to whole blocks (an empty file still takes an
/// inode and a directory entry: one block).
pub fn blocks(len: u64) -> u64 {
    const BLOCK: u64 = 4096;
    len.div_ceil(BLOCK).max(1) * BLOCK
}

/// Metadata an edge keeps whatever it costs: trust state (`root`, rotations, timestamp,
/// snapshot), accepted tags (the rollback floors) and the transparency-log checkpoint. They
/// are few, small and come only from signed sources; losing them would weaken the edge.
fn essential(key: &str) -> bool {
    matches!(key, "root" | "ts" | "n" | "log-checkpoint")
        || key.starts_with("r/")
        || key.starts_with("t/")
}

impl Disk {
    /// The metadata share of the tier that records made by requests may take.
    pub(super) fn meta_cap(&self) -> u64 {
        self.max_bytes / 4
    }

    /// Charges `add` bytes more and `sub` fewer to the metadata and evicts chunks until
    /// chunks, metadata and the tier's saved state fit in `--cache-size` together.
    pub(super) fn charge(&self, add: u64, sub: u64) {
        {
            let mut m = self.meta_bytes();
            *m = m.saturating_add(add).saturating_sub(sub);
        }
        let evicted = self.reserve();
        if evicted > 0 {
            self.changed(evicted);
        }
    }

    /// Reserves what metadata and state take out of the tier; deletes the chunks that no
    /// longer fit and returns how many.
    pub(super) fn reserve(&self) -> u64 {
        let total = *self.meta_bytes()
            + *self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut victims = Vec::new();
        self.lock().reserve(total, &mut victims);
        for v in &victims {
            let _ = self.backend.delete(&chunk_key(v));
        }
        victims.len() as u64
    }

    pub(super) fn meta_bytes(&self) -> std::sync::MutexGuard<'_, u64> {
        self.meta
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What the metadata files found at start cost.
    pub(super) fn scan_meta(backend: &impl Backend) -> u64 {
        backend
            .list("meta")
            .unwrap_or_default()
            .iter()
            .map(|k| blocks(backend.size(k).ok().flatten().unwrap_or(0)))
            .sum()
    }
}

impl ChunkCache {
    /// Keeps metadata (manifests, signatures, records) on disk so that it outlives restarts.
    /// `false` when it was not written: no disk tier, a write error, or records already holding
    /// their share of `--cache-size` (`tinycdn_cache_meta_refused_total`).
    pub fn put_meta(&self, key: &str, bytes: &[u8]) -> bool {
        let Some(disk) = &self.disk else {
            return false;
        };
        let path = format!("meta/{key}");
        let new = blocks(bytes.len() as u64);
        tokio::task::block_in_place(|| {
            let old = disk.backend.size(&path).ok().flatten().map_or(0, blocks);
            let grows = new > old;
            if grows && !essential(key) && *disk.meta_bytes() + new - old > disk.meta_cap() {
                self.counters.meta_refused.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            if disk
                .backend
                .write(&path, bytes, Durability::AtBarrier)
                .is_err()
            {
                self.counters
                    .disk_write_errors
                    .fetch_add(1, Ordering::Relaxed);
                return false;
            }
            disk.charge(new, old);
            true
        })
    }

    /// Removes metadata from disk.
    pub fn delete_meta(&self, key: &str) {
        if let Some(disk) = &self.disk {
            let path = format!("meta/{key}");
            tokio::task::block_in_place(|| {
                let old = disk.backend.size(&path).ok().flatten();
                if disk.backend.delete(&path).is_ok() {
                    if let Some(old) = old {
                        disk.charge(0, blocks(old));
                    }
                }
            });
        }
    }

    /// The metadata keys under `prefix` on disk (none without a disk tier).
    #[must_use]
    pub fn list_meta(&self, prefix: &str) -> Vec<String> {
        let Some(disk) = &self.disk else {
            return Vec::new();
        };
        let under = format!("meta/{prefix}");
        tokio::task::block_in_place(|| disk.backend.list(&under))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|k| k.strip_prefix("meta/").map(str::to_owned))
            .collect()
    }

    /// Metadata from disk (unverified: the caller verifies it as if it came from upstream).
    #[must_use]
    pub fn get_meta(&self, key: &str) -> Option<Vec<u8>> {
        let disk = self.disk.as_ref()?;
        tokio::task::block_in_place(|| disk.backend.read(&format!("meta/{key}"))).ok()
    }

    /// Bytes the metadata files take on disk (whole blocks), counted in `--cache-size`.
    #[must_use]
    pub fn meta_disk_bytes(&self) -> u64 {
        self.disk.as_ref().map_or(0, |d| *d.meta_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_cost_whole_blocks() {
        assert_eq!(blocks(0), 4096);
        assert_eq!(blocks(1), 4096);
        assert_eq!(blocks(4096), 4096);
        assert_eq!(blocks(4097), 8192);
    }

    #[test]
    fn only_trust_tags_and_the_log_are_kept_whatever_they_cost() {
        for k in ["root", "r/3", "ts", "n", "t/media/stable", "log-checkpoint"] {
            assert!(essential(k), "{k}");
        }
        for k in ["m/ab", "s/ab", "x/ab", "img/00", "p/abc", "rootless", "tsx"] {
            assert!(!essential(k), "{k}");
        }
    }
}
