//! Making the store's snapshot — every current tag, pinned by the hash of its signed record, with
//! a version one above the previous snapshot's and an expiry (see [`tinycdn_core::snapshot`]) —
//! and the short-lived timestamp that names it (see [`tinycdn_core::timestamp`]).

use tinycdn_core::sign::SecretKey;
use tinycdn_core::snapshot::{SignedSnapshot, Snapshot, TagPin};
use tinycdn_core::timestamp::{SignedTimestamp, Timestamp};
use tinycdn_store::Store;

use crate::VolumeError;

/// When the snapshot and the timestamp signed after a change stop being valid (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Expiry of the snapshot.
    pub snapshot_expires: i64,
    /// Expiry of the timestamp (shorter: its key is online and signs often).
    pub timestamp_expires: i64,
}

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

/// Signs a new timestamp naming the store's snapshot, valid until `expires` (Unix seconds). The
/// caller holds the store lock.
///
/// # Errors
/// [`VolumeError::NoSnapshot`] when the store has none; store errors.
pub fn make_timestamp(
    store: &Store,
    key: &SecretKey,
    expires: i64,
) -> Result<SignedTimestamp, VolumeError> {
    let snapshot = store.read_snapshot()?.ok_or(VolumeError::NoSnapshot)?;
    let version = store
        .read_timestamp()?
        .map_or(1, |t| t.timestamp.version.saturating_add(1));
    let signed = Timestamp::naming(version, expires, &snapshot).sign(key);
    store.put_timestamp(&signed)?;
    Ok(signed)
}

/// Re-signs the snapshot with a new expiry, then a timestamp naming it (run before the old ones
/// expire, from cron or CI).
///
/// # Errors
/// Store errors.
pub fn refresh(
    store: &Store,
    snapshot_key: &SecretKey,
    timestamp_key: &SecretKey,
    freshness: Freshness,
) -> Result<(SignedSnapshot, SignedTimestamp), VolumeError> {
    let _lock = store.lock()?;
    let snapshot = make_snapshot(store, snapshot_key, freshness.snapshot_expires)?;
    let timestamp = make_timestamp(store, timestamp_key, freshness.timestamp_expires)?;
    crate::log::append(
        store,
        vec![
            crate::log::snapshot_event(&snapshot),
            crate::log::timestamp_event(&timestamp),
        ],
    )?;
    Ok((snapshot, timestamp))
}

/// Re-signs only the timestamp (the frequent, online job).
///
/// # Errors
/// [`VolumeError::NoSnapshot`]; store errors.
pub fn refresh_timestamp(
    store: &Store,
    key: &SecretKey,
    expires: i64,
) -> Result<SignedTimestamp, VolumeError> {
    let _lock = store.lock()?;
    let timestamp = make_timestamp(store, key, expires)?;
    crate::log::append(store, vec![crate::log::timestamp_event(&timestamp)])?;
    Ok(timestamp)
}
