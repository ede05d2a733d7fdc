//! The trust metadata a pull relies on, fetched and pinned TUF's way: the trust root (walked
//! forward through published rotations), the timestamp, and the snapshot it names.

use tinycdn_core::root::SignedRoot;
use tinycdn_core::snapshot::SignedSnapshot;
use tinycdn_core::timestamp::{FreshnessError, SignedTimestamp};
use tinycdn_fetch::{FetchError, Upstreams};
use tinycdn_store::{Durability, Key, Store, StoreError};
use tinycdn_volume::trust::{follow_stored, Trust, MAX_ROTATIONS, PINNED_ROOT_KEY as ROOT_KEY};

use crate::fetched::{blocking, explain};
use crate::PullError;

/// Where a store keeps the newest snapshot it pulled under a trust root.
const SNAPSHOT_KEY: Key = Key::PinnedSnapshot;
/// Where a store keeps the newest timestamp it pulled under a trust root.
const TIMESTAMP_KEY: Key = Key::PinnedTimestamp;
/// Largest timestamp accepted (a few hundred bytes, plus signatures).
const MAX_TIMESTAMP: u64 = 64 << 10;

/// The timestamp and the snapshot it names, as verified for one pull.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedMetadata {
    timestamp: SignedTimestamp,
    /// The snapshot the timestamp names.
    pub(crate) snapshot: SignedSnapshot,
}

impl VerifiedMetadata {
    /// Pins the snapshot and timestamp in the store (the caller holds the lock).
    pub(crate) fn pin(&self, store: &Store) -> Result<(), StoreError> {
        store.write_key(
            &SNAPSHOT_KEY,
            &self.snapshot.to_bytes(),
            Durability::Immediate,
        )?;
        store.write_key(
            &TIMESTAMP_KEY,
            &self.timestamp.to_bytes(),
            Durability::Immediate,
        )
    }
}

pub(crate) use tinycdn_core::time::unix_now;

/// The version of the record this store pinned under `key` (0 when none).
fn pinned_version(
    store: &Store,
    key: &Key,
    version: impl Fn(&[u8]) -> Option<u64>,
) -> Result<u64, PullError> {
    let pinned = blocking(|| store.read_key_if_any(key))?;
    Ok(pinned.and_then(|b| version(&b)).unwrap_or(0))
}

/// The mirrors' current metadata, TUF's way: first the newest timestamp any mirror offers
/// (signed by the root's timestamp role, unexpired — a frozen mirror is refused —, not older than
/// the one this store pinned; every healthy mirror is asked, so one honest mirror outvotes stale
/// ones), then the snapshot it names (no longer than it declares, hashing to it, signed by the
/// snapshot role, unexpired, not older than the pinned one). Each check happens per mirror, so
/// a stale or lying mirror is passed over for the next.
pub(crate) async fn current_metadata(
    store: &Store,
    upstreams: &Upstreams,
    trust: &Trust,
) -> Result<VerifiedMetadata, PullError> {
    let pinned_ts = pinned_version(store, &TIMESTAMP_KEY, |b| {
        SignedTimestamp::from_bytes(b)
            .ok()
            .map(|t| t.timestamp.version)
    })?;
    let pinned_snap = pinned_version(store, &SNAPSHOT_KEY, |b| {
        SignedSnapshot::from_bytes(b)
            .ok()
            .map(|s| s.snapshot.version)
    })?;
    let now = unix_now();
    let stale = |why: String| PullError::Snapshot { why };
    let check_ts = |b: &[u8]| -> Result<SignedTimestamp, PullError> {
        let t = SignedTimestamp::from_bytes(b)?;
        match t.check(&trust.timestamp_ring(), now, (pinned_ts, pinned_snap)) {
            Ok(()) => Ok(t),
            Err(FreshnessError::Signature(e)) => Err(e.into()),
            Err(e) => Err(stale(e.to_string())),
        }
    };
    let fetched = upstreams
        .fetch_newest("/ts", MAX_TIMESTAMP, |b| {
            check_ts(b).ok().map(|t| t.timestamp.version)
        })
        .await;
    let bytes = explain(upstreams, "/ts", MAX_TIMESTAMP, fetched, |b| {
        check_ts(b).map(|_| ())
    })
    .await?;
    let timestamp = check_ts(&bytes)?;
    let named = &timestamp.timestamp;
    let check_snap = |b: &[u8]| -> Result<SignedSnapshot, PullError> {
        named
            .open_snapshot(b, &trust.snapshot_ring(), now)
            .map_err(|e| match e {
                FreshnessError::Signature(e) => e.into(),
                e => stale(e.to_string()),
            })
    };
    let fetched = upstreams
        .fetch("/n", None, named.snapshot_length, |b| check_snap(b).is_ok())
        .await;
    let bytes = explain(upstreams, "/n", named.snapshot_length, fetched, |b| {
        check_snap(b).map(|_| ())
    })
    .await?;
    let snapshot = check_snap(&bytes)?;
    Ok(VerifiedMetadata {
        timestamp,
        snapshot,
    })
}

/// Largest trust root accepted.
const MAX_ROOT: u64 = 1 << 20;

/// The trust root a pull uses, TUF's way: from the root given, every rotation this store already
/// holds (`roots/N`), then each successor the mirrors publish (`/r/N+1`, …) — each accepted only
/// when a threshold of the current root keys *and* of its own signed it, one version at a time,
/// and kept in the store so that the chain can be checked again without the mirrors. A node
/// configured once thus follows rotations by itself; the result must not be older than the root
/// the store pinned (`trust/root`: an older file handed back would restore revoked keys), is
/// pinned in turn, and must not have expired.
///
/// # Errors
/// A successor that does not verify on any mirror, a chain that does not reach the pinned root,
/// store errors, or the newest root expired.
pub(crate) async fn update_root(
    store: &Store,
    upstreams: &Upstreams,
    given: &SignedRoot,
) -> Result<SignedRoot, PullError> {
    let mut current = blocking(|| follow_stored(store, given.clone()))?;
    for _ in 0..MAX_ROTATIONS {
        let path = format!("/r/{}", current.root.version.saturating_add(1));
        let check = |b: &[u8]| -> Result<SignedRoot, PullError> {
            let next = SignedRoot::from_bytes(b)?;
            current.verify_successor(&next)?;
            Ok(next)
        };
        let fetched = upstreams
            .fetch(&path, None, MAX_ROOT, |b| check(b).is_ok())
            .await;
        // No successor: every mirror said 404, or some did and the others failed or lied (a
        // liar can only withhold a rotation, which a 404 does too).
        if matches!(
            fetched,
            Err(FetchError::NotFound { .. }
                | FetchError::Exhausted {
                    not_found: true,
                    ..
                })
        ) {
            break;
        }
        let bytes = explain(upstreams, &path, MAX_ROOT, fetched, |b| {
            check(b).map(|_| ())
        })
        .await?;
        let next = check(&bytes)?;
        blocking(|| store.put_root(&next))?;
        current = next;
    }
    blocking(|| -> Result<(), PullError> {
        let _lock = store.lock()?;
        let held = store.read_key_if_any(&ROOT_KEY)?;
        if let Some(pinned) = held.as_deref().and_then(|b| SignedRoot::from_bytes(b).ok()) {
            current.check_not_older(&pinned)?;
        }
        let bytes = current.to_bytes();
        if held.as_deref() != Some(&bytes[..]) {
            store.write_key(&ROOT_KEY, &bytes, Durability::Immediate)?;
        }
        Ok(())
    })?;
    current.check_fresh(unix_now())?;
    Ok(current)
}
