//! The trust root in force and the records it signs: root rotations (followed at start from the
//! cache disk and then from upstream at every timestamp refresh), the timestamp (the newest of all
//! mirrors, never older than one accepted before, even across restarts) and the snapshot it names.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;
use tinycdn_core::root::{RootError, SignedRoot};
use tinycdn_core::snapshot::SignedSnapshot;
use tinycdn_core::timestamp::{FreshnessError, SignedTimestamp, Timestamp};
use tinycdn_server::respond::Reply;
use tinycdn_volume::trust::{Trust, MAX_ROTATIONS};

use super::{fetch_reply, unix_now, Fabric, HeldMetadata, MAX_ROOT, MAX_TIMESTAMP};
use tinycdn_fetch::FetchError;

impl Fabric {
    /// Refuses new metadata fetches once the trust root has expired (content already verified
    /// and cached is still served: pinned URLs keep working, tags stop moving).
    pub(super) fn expired_trust(&self) -> Option<Reply> {
        self.expired_trust_text()
            .map(|text| Reply::text(StatusCode::SERVICE_UNAVAILABLE, text))
    }

    /// [`Fabric::expired_trust`]'s text.
    pub(super) fn expired_trust_text(&self) -> Option<String> {
        self.trust()
            .check_fresh(unix_now())
            .err()
            .map(|e| format!("{e}\n"))
    }

    /// The newest version of a record this edge has accepted, from memory or its disk (so a
    /// restart does not lower the floor): upstream copies older than this are refused.
    fn floor(
        &self,
        memory: Option<&Bytes>,
        key: &str,
        version: impl Fn(&[u8]) -> Option<u64>,
    ) -> u64 {
        let disk = self.cache.get_meta(key).and_then(|b| version(&b));
        memory.and_then(|b| version(b)).max(disk).unwrap_or(0)
    }

    /// A timestamp this edge may serve: signed by the timestamp role, unexpired, and naming a
    /// timestamp and snapshot version no older than the floors.
    fn check_timestamp(&self, bytes: &[u8], floor: (u64, u64)) -> Option<SignedTimestamp> {
        let t = SignedTimestamp::from_bytes(bytes).ok()?;
        t.check(&self.trust().timestamp_ring(), unix_now(), floor)
            .ok()?;
        Some(t)
    }

    /// Why no upstream timestamp was usable, for the error the edge answers with: one more
    /// fetch without the check, then the check's own words (an expired one is a 503).
    async fn explain_timestamp(&self, floor: (u64, u64), failed: &FetchError) -> Reply {
        let fallback = || fetch_reply(failed);
        let Ok(bytes) = self
            .upstreams
            .fetch("/ts", None, MAX_TIMESTAMP, |_| true)
            .await
        else {
            return fallback();
        };
        let Ok(t) = SignedTimestamp::from_bytes(&bytes) else {
            return fallback();
        };
        match t.check(&self.trust().timestamp_ring(), unix_now(), floor) {
            Err(e @ FreshnessError::Expired { .. }) => {
                Reply::text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n"))
            }
            Err(e) => Reply::text(StatusCode::BAD_GATEWAY, format!("{e}\n")),
            Ok(()) => fallback(),
        }
    }

    /// The newest verified, unexpired timestamp: from memory within the tag max-age, else from
    /// upstream (never older than one accepted before, even across restarts), else — every
    /// upstream failing — the last one accepted while it has not expired.
    pub(super) async fn timestamp(&self) -> Result<(Bytes, SignedTimestamp), Reply> {
        let fresh = Duration::from_secs(u64::from(self.tag_policy.max_age));
        let cached = self.lock_meta().timestamp.clone();
        // Verified when it was accepted; within the max-age only its expiry can change.
        if let Some((b, t, at)) = &cached {
            if at.elapsed() < fresh && !t.timestamp.expired(unix_now()) {
                return Ok((b.clone(), t.clone()));
            }
        }
        // A rotation first: it may replace an expired root or revoke a key.
        self.follow_rotations().await;
        if let Some(refused) = self.expired_trust() {
            return Err(refused);
        }
        let snapshot = self.lock_meta().snapshot.clone();
        let floor = (
            self.floor(cached.as_ref().map(|c| &c.0), "ts", |b| {
                SignedTimestamp::from_bytes(b)
                    .ok()
                    .map(|t| t.timestamp.version)
            }),
            self.floor(snapshot.as_ref(), "n", |b| {
                SignedSnapshot::from_bytes(b)
                    .ok()
                    .map(|s| s.snapshot.version)
            }),
        );
        match self
            .upstreams
            .fetch_newest("/ts", MAX_TIMESTAMP, |b| {
                self.check_timestamp(b, floor).map(|t| t.timestamp.version)
            })
            .await
        {
            Ok(bytes) => {
                let t = self.check_timestamp(&bytes, floor).ok_or_else(|| {
                    Reply::text(StatusCode::BAD_GATEWAY, "the timestamp does not verify\n")
                })?;
                self.cache.put_meta("ts", &bytes);
                self.lock_meta().timestamp = Some((bytes.clone(), t.clone(), Instant::now()));
                Ok((bytes, t))
            }
            Err(e) => {
                let last = cached
                    .map(|c| c.0)
                    .or_else(|| self.cache.get_meta("ts").map(Bytes::from));
                match last.and_then(|b| self.check_timestamp(&b, floor).map(|t| (b, t))) {
                    Some(found) => Ok(found),
                    None => Err(self.explain_timestamp(floor, &e).await),
                }
            }
        }
    }

    /// A snapshot this edge may serve: exactly the one `timestamp` names, signed by the snapshot
    /// role and unexpired.
    fn check_snapshot(&self, bytes: &[u8], timestamp: &Timestamp) -> Option<SignedSnapshot> {
        timestamp
            .open_snapshot(bytes, &self.trust().snapshot_ring(), unix_now())
            .ok()
    }

    /// The snapshot the current timestamp names: from memory or disk when it is that one, else
    /// from upstream, reading no more than the length the timestamp declares.
    pub(super) async fn snapshot(&self) -> Result<(Bytes, SignedSnapshot), Reply> {
        let (_, t) = self.timestamp().await?;
        let named = &t.timestamp;
        let held = self
            .lock_meta()
            .snapshot
            .clone()
            .or_else(|| self.cache.get_meta("n").map(Bytes::from));
        if let Some(b) = held {
            if let Some(s) = self.check_snapshot(&b, named) {
                self.lock_meta().snapshot = Some(b.clone());
                return Ok((b, s));
            }
        }
        let bytes = self
            .upstreams
            .fetch("/n", None, named.snapshot_length, |b| {
                self.check_snapshot(b, named).is_some()
            })
            .await
            .map_err(|e| fetch_reply(&e))?;
        let s = self.check_snapshot(&bytes, named).ok_or_else(|| {
            Reply::text(StatusCode::BAD_GATEWAY, "the snapshot does not verify\n")
        })?;
        self.cache.put_meta("n", &bytes);
        self.lock_meta().snapshot = Some(bytes.clone());
        Ok((bytes, s))
    }

    /// A published trust root version, from disk or upstream, passed on only when it decodes, is
    /// that version and is signed by its own root threshold (the node walking the chain checks
    /// each step against its predecessor). It is kept on disk only as the edge's own rotations
    /// are, as a verified successor of the root in force (a hostile mirror's self-signed root
    /// stored at `r/N` would stop the next start's walk); an older version, which the edge
    /// cannot check as a step, is passed on without being kept.
    pub(super) async fn published_root(&self, version: u64) -> Result<Bytes, Reply> {
        let check = |b: &[u8]| {
            SignedRoot::from_bytes(b)
                .is_ok_and(|r| r.root.version == version && r.verify_self().is_ok())
        };
        let key = format!("r/{version}");
        if let Some(b) = self.cache.get_meta(&key).filter(|b| check(b)) {
            return Ok(Bytes::from(b));
        }
        let current = self.trust().root().map_or(0, |r| r.root.version);
        if version > current {
            // Newer than the root in force: only what the edge itself follows as a valid chain
            // of successors is served (and kept).
            self.follow_rotations().await;
            return match self.cache.get_meta(&key).filter(|b| check(b)) {
                Some(b) => Ok(Bytes::from(b)),
                None => Err(Reply::text(
                    StatusCode::NOT_FOUND,
                    format!("no root version {version} that succeeds the one in force\n"),
                )),
            };
        }
        let bytes = self
            .upstreams
            .fetch(&format!("/r/{version}"), None, MAX_ROOT, check)
            .await
            .map_err(|e| fetch_reply(&e))?;
        // The root in force itself is kept: it is what this edge trusts.
        if self
            .trust()
            .root()
            .is_some_and(|r| r.to_bytes() == bytes.as_ref())
        {
            self.cache.put_meta(&key, &bytes);
        }
        Ok(bytes)
    }

    pub(super) fn lock_meta(&self) -> std::sync::MutexGuard<'_, HeldMetadata> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The trust in force (replaced when the edge follows a root rotation).
    pub(super) fn trust(&self) -> Arc<Trust> {
        self.trust
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `root` in force: pinned on disk, and everything verified under the previous root
    /// (manifests, tags, delta indexes, timestamp, snapshot) dropped from memory, to be verified
    /// again under the new one (chunks, named by their hash, stay).
    fn adopt_root(&self, root: SignedRoot) {
        self.cache.put_meta("root", &root.to_bytes());
        *self.trust.write().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(Trust::from_root(root));
        self.tables.manifests.clear();
        self.tags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.tables.deltas.clear();
        *self.lock_meta() = HeldMetadata::default();
        self.forget_prepared();
    }

    /// Before serving: the root given, followed through the rotations this edge's disk holds
    /// (each a valid successor of the one before), and never older than the root its disk
    /// pinned (which would restore revoked keys). A stored step that is not a valid successor
    /// (an older edge kept what a hostile mirror offered) is removed with a warning and counted,
    /// and the walk stops before it: it never keeps the edge from starting. Without a disk tier
    /// there is nothing to remember.
    ///
    /// # Errors
    /// [`RootError::Rollback`]: the given root and its stored successors are older than the
    /// root the disk pinned (an operator handed an older root than this edge has seen).
    pub fn start_root(&self) -> Result<(), RootError> {
        let Some(given) = self.trust().root().cloned() else {
            return Ok(());
        };
        let seen = self
            .cache
            .get_meta("root")
            .and_then(|b| SignedRoot::from_bytes(&b).ok());
        let (mut newest, cut) = self.walk_stored(given.clone());
        if let Some(seen) = &seen {
            if cut && newest.check_not_older(seen).is_err() && seen.verify_self().is_ok() {
                // The walk stopped at a bad step it removed; the pinned root was verified when
                // it was adopted, so the walk goes on from there.
                newest = self.walk_stored(seen.clone()).0;
            }
            newest.check_not_older(seen)?;
            if *seen == newest && newest == given {
                return Ok(());
            }
        }
        self.adopt_root(newest);
        Ok(())
    }

    /// `from`, followed through the valid successors stored on disk; a stored step that is not
    /// one is removed and counted (then the second value is `true`).
    fn walk_stored(&self, from: SignedRoot) -> (SignedRoot, bool) {
        let mut current = from;
        for _ in 0..MAX_ROTATIONS {
            let key = format!("r/{}", current.root.version.saturating_add(1));
            let Some(bytes) = self.cache.get_meta(&key) else {
                break;
            };
            match SignedRoot::from_bytes(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|n| {
                    current
                        .verify_successor(&n)
                        .map(|()| n)
                        .map_err(|e| e.to_string())
                }) {
                Ok(next) => current = next,
                Err(why) => {
                    tracing::warn!(%key, %why, "a stored trust root is not a valid successor: removed");
                    self.bad_stored_roots.fetch_add(1, Ordering::Relaxed);
                    self.cache.delete_meta(&key);
                    return (current, true);
                }
            }
        }
        (current, false)
    }

    /// Follows the root rotations the upstreams publish (`/r/N+1`, …; each a valid successor of
    /// the root in force), keeping each on disk. Run whenever the timestamp is refreshed, so an
    /// edge applies a rotation without a restart. Returns the root version in force.
    async fn follow_rotations(&self) -> Option<u64> {
        let mut current = self.trust().root().cloned()?;
        let start = current.root.version;
        for _ in 0..MAX_ROTATIONS {
            let path = format!("/r/{}", current.root.version.saturating_add(1));
            let successor = |b: &[u8]| {
                SignedRoot::from_bytes(b)
                    .ok()
                    .filter(|n| current.verify_successor(n).is_ok())
            };
            // Not published, or no mirror offered a valid one: the root in force stays.
            let Ok(bytes) = self
                .upstreams
                .fetch(&path, None, MAX_ROOT, |b| successor(b).is_some())
                .await
            else {
                break;
            };
            let Some(next) = successor(&bytes) else {
                break;
            };
            self.cache
                .put_meta(&format!("r/{}", next.root.version), &bytes);
            current = next;
        }
        let version = current.root.version;
        if version != start {
            self.adopt_root(current);
        }
        Some(version)
    }
}
