//! Garbage collection: drop versions beyond the newest `keep` of each volume (never a tagged or
//! checked-out one), then every object no remaining version references.
//!
//! gc holds the store's writer lock, so it never races a publish or a checkout. It removes index
//! entries before manifests and manifests before objects, so an interrupted gc leaves only garbage
//! for the next run, never a version that points at missing data.

use std::collections::HashSet;
use std::path::Path;

use tinycdn_core::VersionId;
use tinycdn_store::{Key, Prefix, Store};

use crate::checkout::versions_dir;
use crate::read::FileRef;
use crate::{Progress, VolumeError};

/// What gc removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Versions dropped, as `volume version-number`.
    pub versions_removed: Vec<String>,
    /// Manifests deleted (dropped versions and orphans of interrupted publishes).
    pub manifests_removed: u64,
    /// File objects deleted.
    pub objects_removed: u64,
    /// Bytes freed.
    pub bytes_freed: u64,
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
    let mut removed = Vec::new();
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
                removed.push(tinycdn_core::log_entry::Event::Gc {
                    volume: volume.to_string(),
                    number: *number,
                    version: *id.as_bytes(),
                });
            }
        }
    }
    if !removed.is_empty() {
        crate::log::append(store, removed)?;
    }
    for id in store.manifest_ids()? {
        if !kept.contains(&id) {
            store.delete_manifest(&id)?;
            report.manifests_removed += 1;
        }
    }

    let mut live: HashSet<String> = HashSet::new();
    for id in &kept {
        let (m, _) = store.read_manifest(id)?;
        live.extend(
            m.entries
                .iter()
                .filter_map(FileRef::of)
                .map(|f| f.object_key()),
        );
    }
    // Deltas and delta indexes of removed versions; a delta another kept index lists stays.
    let mut live_deltas: HashSet<String> = HashSet::new();
    for id in &kept {
        if let Some(index) = store.read_delta_index(id)? {
            live_deltas.extend(
                index
                    .index
                    .entries
                    .iter()
                    .map(|e| Store::delta_key(&e.base, &e.target)),
            );
        }
    }
    for key in store.keys(Prefix::DeltaIndexes)? {
        if !matches!(&key, Key::DeltaIndex(id) if kept.contains(id)) {
            store.delete_key(&key)?;
        }
    }
    for key in store.keys(Prefix::Deltas)? {
        if !live_deltas.contains(&key.to_string()) {
            report.bytes_freed += store.key_size(&key)?.unwrap_or(0);
            store.delete_key(&key)?;
        }
    }
    // Chunks staged by pulls that were interrupted: under the lock no pull is running.
    for key in store.keys(Prefix::Staging)? {
        store.delete_key(&key)?;
    }
    let keys = store.keys(Prefix::Objects)?;
    progress.start("collecting", keys.len() as u64);
    for key in keys {
        if !live.contains(&key.to_string()) {
            report.bytes_freed += store.key_size(&key)?.unwrap_or(0);
            store.delete_key(&key)?;
            report.objects_removed += 1;
        }
        progress.advance(1);
    }
    progress.finish();
    Ok(report)
}
