//! Making the store's snapshot: every current tag, pinned by the hash of its signed record, with a
//! version one above the previous snapshot's and an expiry (see [`tinycdn_core::snapshot`]).

use tinycdn_core::sign::SecretKey;
use tinycdn_core::snapshot::{SignedSnapshot, Snapshot, TagPin};
use tinycdn_store::Store;

use crate::VolumeError;

/// Signs a new snapshot of every tag in the store, valid until `expires` (Unix seconds). The
/// caller holds the store lock.
///
/// # Errors
/// Store errors.
pub fn make_snapshot(
    store: &Store,
    key: &SecretKey,
    expires: i64,
) -> Result<SignedSnapshot, VolumeError> {
    let version = store
        .read_snapshot()?
        .map_or(1, |s| s.snapshot.version.saturating_add(1));
    let mut tags = Vec::new();
    for volume in store.volumes()? {
        for t in store.tags(&volume)? {
            tags.push(TagPin {
                volume: t.record.volume.clone(),
                tag: t.record.tag.clone(),
                number: t.record.number,
                hash: t.record_hash(),
            });
        }
    }
    let signed = Snapshot {
        version,
        expires,
        tags,
    }
    .sign(key);
    store.put_snapshot(&signed)?;
    Ok(signed)
}

/// Re-signs the snapshot with a new expiry (run before the old one expires, from cron or CI).
///
/// # Errors
/// Store errors.
pub fn refresh(
    store: &Store,
    key: &SecretKey,
    expires: i64,
) -> Result<SignedSnapshot, VolumeError> {
    let _lock = store.lock()?;
    make_snapshot(store, key, expires)
}
