//! Garbage collection: drop versions beyond the newest `keep` of each volume (never a tagged or
//! checked-out one), then every object no remaining version references.
//!
//! gc holds the store's writer lock, so it never races a publish or a checkout. It removes index
//! entries before manifests and manifests before chunks, so an interrupted gc leaves only garbage
//! for the next run, never a version that points at missing data.

use std::collections::HashSet;
use std::path::Path;

use tinycdn_core::{ChunkId, VersionId};
use tinycdn_store::Store;

use crate::checkout::versions_dir;
use crate::{Progress, VolumeError};

/// What gc removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Versions dropped, as `volume version-number`.
    pub versions_removed: Vec<String>,
    /// Manifests deleted (dropped versions and orphans of interrupted publishes).
    pub manifests_removed: u64,
    /// Chunks deleted.
    pub chunks_removed: u64,
    /// Bytes of chunks deleted.
    pub chunk_bytes_freed: u64,
    /// Assembled files deleted.
    pub files_removed: u64,
    /// Bytes of assembled files deleted.
    pub file_bytes_freed: u64,
    /// Checkout records whose destination no longer uses this store.
    pub checkouts_forgotten: u64,
}

/// Whether the checkout at `dest` still points at `version`'s directory.
fn checkout_is_live(dest: &Path, version: &VersionId) -> bool {
    std::fs::read_link(dest).is_ok_and(|target| {
        target
            .file_name()
            .is_some_and(|n| n == version.to_hex().as_str())
            && versions_dir(dest).join(version.to_hex()).is_dir()
    })
}

/// Runs gc keeping the newest `keep` versions of every volume.
///
/// # Errors
/// Store errors; what was removed before the error stays removed, nothing referenced is.
pub fn gc(store: &Store, keep: usize, progress: &dyn Progress) -> Result<GcReport, VolumeError> {
    let _lock = store.lock()?;
    let mut report = GcReport::default();

    let mut checked_out: HashSet<VersionId> = HashSet::new();
    for rec in store.checkouts()? {
        if checkout_is_live(&rec.dest, &rec.version) {
            checked_out.insert(rec.version);
        } else {
            store.delete_checkout(&rec.dest)?;
            report.checkouts_forgotten += 1;
        }
    }

    let mut kept: HashSet<VersionId> = HashSet::new();
    for volume in store.volumes()? {
        let versions = store.versions(&volume)?;
        let tagged: HashSet<VersionId> = store
            .tags(&volume)?
            .into_iter()
            .map(|t| t.record.version)
            .collect();
        let newest = versions.len().saturating_sub(keep);
        for (i, (number, id)) in versions.iter().enumerate() {
            if i >= newest || tagged.contains(id) || checked_out.contains(id) {
                kept.insert(*id);
            } else {
                store.delete_version(&volume, *number)?;
                report.versions_removed.push(format!("{volume} {number}"));
            }
        }
    }
    for id in store.manifest_ids()? {
        if !kept.contains(&id) {
            store.delete_manifest(&id)?;
            report.manifests_removed += 1;
        }
    }

    let mut live_chunks: HashSet<ChunkId> = HashSet::new();
    let mut live_files: HashSet<String> = HashSet::new();
    for id in &kept {
        let (m, _) = store.read_manifest(id)?;
        for (entry, f) in m.files() {
            live_chunks.extend(f.chunks.iter().map(|c| c.id));
            if checked_out.contains(id) {
                live_files.insert(Store::file_key(&f.hash, entry.mode & 0o111 != 0));
            }
        }
    }
    let chunk_keys = store.backend().list("chunks")?;
    let file_keys = store.file_keys()?;
    progress.start("collecting", (chunk_keys.len() + file_keys.len()) as u64);
    for key in chunk_keys {
        let live = key
            .rsplit('/')
            .next()
            .and_then(|n| n.parse::<ChunkId>().ok())
            .is_some_and(|id| live_chunks.contains(&id));
        if !live {
            report.chunk_bytes_freed += store.backend().size(&key)?.unwrap_or(0);
            store.backend().delete(&key)?;
            report.chunks_removed += 1;
        }
        progress.advance(1);
    }
    for key in file_keys {
        if !live_files.contains(&key) {
            report.file_bytes_freed += store.backend().size(&key)?.unwrap_or(0);
            store.backend().delete(&key)?;
            report.files_removed += 1;
        }
        progress.advance(1);
    }
    progress.finish();
    Ok(report)
}
