//! The pull itself.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use thiserror::Error;
use tinycdn_core::delta_index::{DeltaEntry, SignedDeltaIndex};
use tinycdn_core::manifest::Manifest;
use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::root::{RootError, SignedRoot};
use tinycdn_core::sign::{SignatureSet, MANIFEST_CONTEXT};
use tinycdn_core::tag::SignedTag;
use tinycdn_core::{ChunkId, DecodeError, FileId, SignatureError, VersionId};
use tinycdn_fetch::{FetchError, Upstreams};
use tinycdn_store::{Durability, Store, StoreError};
use tinycdn_volume::read::FileRef;
use tinycdn_volume::trust::Trust;
use tinycdn_volume::Progress;

use crate::metadata::{current_metadata, update_root, VerifiedMetadata};
use crate::plan::{pieces, runs, LocalChunk, Piece};

/// Largest manifest, signature set or tag accepted.
const MAX_METADATA: u64 = 64 << 20;
/// Largest single range request for adjacent missing chunks.
const MAX_RUN: u64 = 8 << 20;

/// A pull failed; nothing that was not verified was kept, and what was verified stays staged.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PullError {
    /// No mirror could provide something.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Metadata did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A signature did not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The reference is neither a tag nor a full version id.
    #[error("{0:?} is neither a tag nor a 64-digit version id")]
    BadReference(String),
    /// The local store already has a different version under that number.
    #[error("the store already has {volume} version {number} as {local}, not {remote}; remove it or pull into another store")]
    Conflict {
        /// The volume.
        volume: String,
        /// The version number.
        number: u64,
        /// The local version id.
        local: String,
        /// The pulled version id.
        remote: String,
    },
    /// The mirrors' tag was signed before the store's copy of the same tag (by signing time, then
    /// version number): a stale or hostile mirror (a rollback).
    #[error("refusing to roll {volume}@{tag} back from version {local} to version {offered}: the mirrors serve an older tag than this store has seen")]
    Rollback {
        /// The volume.
        volume: String,
        /// The tag.
        tag: String,
        /// The version number the store's tag names.
        local: u64,
        /// The older version number offered.
        offered: u64,
    },
    /// The snapshot of current tags is missing, expired, older than one seen, or does not list
    /// the tag offered.
    #[error("snapshot check failed: {why}")]
    Snapshot {
        /// What is wrong.
        why: String,
    },
    /// The trust rotations the store holds do not verify.
    #[error(transparent)]
    Volume(#[from] tinycdn_volume::VolumeError),
    /// A trust root update did not verify, or the newest trust root has expired.
    #[error(transparent)]
    Root(#[from] RootError),
    /// A rebuilt file did not hash to its manifest entry.
    #[error("the rebuilt file {0} does not match its hash")]
    Rebuild(String),
    /// The transparency log check failed (a split view, or the version is not logged).
    #[error(transparent)]
    Log(#[from] crate::log::LogCheckError),
}

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullReport {
    /// The version now in the store.
    pub version: Option<VersionId>,
    /// Under a trust root: the root used (newer than the one given when the store had pinned a
    /// newer one or the mirrors published rotations); later reads should verify with it.
    pub root: Option<SignedRoot>,
    /// Its number.
    pub number: u64,
    /// Bytes of all its files.
    pub volume_bytes: u64,
    /// Every byte read from the network (metadata and chunks).
    pub bytes_transferred: u64,
    /// File bytes taken from chunks the store already had.
    pub bytes_from_local_chunks: u64,
    /// File bytes whose whole files the store already had.
    pub bytes_already_present: u64,
    /// File bytes taken from chunks staged by an earlier, interrupted pull.
    pub bytes_from_staging: u64,
    /// File bytes rebuilt from binary deltas applied to files the store had.
    pub bytes_from_deltas: u64,
    /// Deltas applied.
    pub deltas_applied: u64,
    /// Bytes of those deltas (included in `bytes_transferred`).
    pub delta_bytes: u64,
    /// Deltas that failed (fetch, verification or apply); their files came as chunks instead.
    pub deltas_failed: u64,
    /// Chunks fetched.
    pub chunks_fetched: u64,
    /// Range requests made for chunks.
    pub requests: u64,
    /// True when the store already had this version (only the tag was fetched).
    pub already_had: bool,
    /// With a log policy: the size of the checkpoint accepted.
    pub log_size: Option<u64>,
    /// With `require`: the index of the log entry that published the version.
    pub log_index: Option<u64>,
}

fn staging_key(id: &ChunkId) -> String {
    let hex = id.to_hex();
    format!("staging/{}/{hex}", &hex[..2])
}

fn staged_delta_key(hash: &FileId) -> String {
    format!("staging/deltas/{hash}")
}

fn remote_bytes(pieces: &[Piece]) -> u64 {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Remote { len, .. } => u64::from(*len),
            _ => 0,
        })
        .sum()
}

/// The version's signed delta index from the mirrors, if any mirror has one that verifies.
async fn delta_index(
    upstreams: &Upstreams,
    trust: &Trust,
    id: &VersionId,
) -> Option<SignedDeltaIndex> {
    let verify = |b: &[u8]| {
        SignedDeltaIndex::from_bytes(b)
            .is_ok_and(|x| x.index.version == *id && x.verify(trust.ring()).is_ok())
    };
    let bytes = upstreams
        .fetch(&format!("/x/{id}"), None, MAX_METADATA, verify)
        .await
        .ok()?;
    SignedDeltaIndex::from_bytes(&bytes).ok()
}

/// The last step of a pull (the caller holds the lock): the tag and the metadata that vouched
/// for it, then staging cleared.
fn record_tag_and_clear(
    store: &Store,
    tag: Option<&SignedTag>,
    fresh: Option<&VerifiedMetadata>,
) -> Result<(), StoreError> {
    if let Some(t) = tag {
        store.put_tag(t)?;
    }
    if let Some(f) = fresh {
        f.pin(store)?;
    }
    clear_staging(store)
}

/// When no mirror sent metadata that verifies, fetches it once more without the check to report
/// *why* (a signature below the threshold, an untrusted signer) rather than only that it failed.
pub(crate) async fn explain(
    upstreams: &Upstreams,
    path: &str,
    limit: u64,
    fetched: Result<Bytes, FetchError>,
    check: impl Fn(&[u8]) -> Result<(), PullError>,
) -> Result<Bytes, PullError> {
    match fetched {
        Err(e @ FetchError::Exhausted { .. }) => {
            let Ok(bytes) = upstreams.fetch(path, None, limit, |_| true).await else {
                return Err(e.into());
            };
            check(&bytes)?;
            Ok(bytes)
        }
        other => Ok(other?),
    }
}

/// Fetches (or takes from staging) one delta, verifies it against its signed hash, applies it to
/// the base the store holds and stores the verified target. Returns the delta bytes fetched.
async fn apply_delta(
    store: &Store,
    upstreams: &Upstreams,
    e: &DeltaEntry,
    base_exec: bool,
    target_exec: bool,
) -> Result<u64, String> {
    let staged = staged_delta_key(&e.delta);
    let (delta, fetched) = match blocking(|| store.backend().read(&staged)) {
        Ok(b) if FileId::of(&b) == e.delta => (Bytes::from(b), 0),
        _ => {
            let b = upstreams
                .fetch(
                    &format!("/d/{}/{}", e.base, e.target),
                    None,
                    e.delta_size,
                    |b| b.len() as u64 == e.delta_size && FileId::of(b) == e.delta,
                )
                .await
                .map_err(|err| err.to_string())?;
            blocking(|| store.backend().write(&staged, &b, Durability::AtBarrier))
                .map_err(|err| err.to_string())?;
            let n = b.len() as u64;
            (b, n)
        }
    };
    blocking(|| -> Result<(), String> {
        let base = store
            .backend()
            .read(&Store::object_key(&e.base, base_exec))
            .map_err(|err| err.to_string())?;
        let header = tinycdn_delta::Delta::from_bytes(&delta).map_err(|err| err.to_string())?;
        if header.header.target != e.target {
            return Err("the delta produces another file than its index says".into());
        }
        let target = tinycdn_delta::apply(&base, &delta).map_err(|err| err.to_string())?;
        store
            .put_object(&e.target, target_exec, &target)
            .map_err(|err| err.to_string())?;
        Ok(())
    })?;
    Ok(fetched)
}

/// Removes every staged chunk (the caller holds the store lock).
fn clear_staging(store: &Store) -> Result<(), StoreError> {
    for key in store.backend().list("staging")? {
        store.backend().delete(&key)?;
    }
    Ok(())
}

pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Maps every chunk of every file the store holds to where it is.
fn local_index(store: &Store) -> Result<HashMap<ChunkId, LocalChunk>, StoreError> {
    let mut index = HashMap::new();
    let mut seen = HashSet::new();
    for volume in store.volumes()? {
        for (_, id) in store.versions(&volume)? {
            let Ok((m, _)) = store.read_manifest(&id) else {
                continue;
            };
            for e in &m.entries {
                let Some(f) = FileRef::of(e) else { continue };
                if !seen.insert((f.content.hash, f.exec))
                    || !store.has_object(&f.content.hash, f.exec, f.content.size)?
                {
                    continue;
                }
                for (offset, c) in f.content.chunk_offsets() {
                    index.entry(c.id).or_insert(LocalChunk {
                        object: f.content.hash,
                        exec: f.exec,
                        offset,
                    });
                }
            }
        }
    }
    Ok(index)
}

/// Reads a file's pieces in order from local objects and staged chunks, each verified, and checks
/// the whole-file hash at the end.
struct Rebuild<'a> {
    store: &'a Store,
    pieces: std::vec::IntoIter<Piece>,
    current: Bytes,
    hasher: blake3::Hasher,
    expected: FileId,
    /// Set when the bytes failed verification (as opposed to the store failing to write them).
    unverified: bool,
}

impl Read for Rebuild<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            let Some(p) = self.pieces.next() else {
                if FileId::from_bytes(*self.hasher.finalize().as_bytes()) != self.expected {
                    self.unverified = true;
                    return Err(std::io::Error::other(
                        "the rebuilt file does not match its hash",
                    ));
                }
                return Ok(0);
            };
            let bytes = match p {
                Piece::Local { id, len, at } => self
                    .store
                    .read_chunk(&at.object, at.exec, at.offset, &id, len)
                    .map_err(|e| std::io::Error::other(e.to_string()))?,
                Piece::Staged { id, .. } | Piece::Remote { id, .. } => {
                    let b = self
                        .store
                        .backend()
                        .read(&staging_key(&id))
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                    if ChunkId::of(&b) != id {
                        self.unverified = true;
                        return Err(std::io::Error::other("a staged chunk is corrupt"));
                    }
                    b
                }
            };
            self.hasher.update(&bytes);
            self.current = Bytes::from(bytes);
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// Pulls `volume@spec` (a tag or a full version id) from `upstreams` into `store`.
///
/// # Errors
/// [`PullError`]: fetch, verification, store or conflict errors. Nothing unverified is kept; the
/// version becomes visible only once every file is in the store.
pub async fn pull(
    store: Arc<Store>,
    upstreams: Arc<Upstreams>,
    trust: &Trust,
    volume: &VolumeName,
    spec: &str,
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<PullReport, PullError> {
    pull_logged(
        store,
        upstreams,
        trust,
        volume,
        spec,
        concurrency,
        progress,
        None,
    )
    .await
}

/// What a pull asks of the origin's transparency log.
#[derive(Debug, Clone)]
pub struct LogPolicy {
    /// The log's verifier key.
    pub verifier: tinycdn_tlog::LogVerifier,
    /// Refuse a version the log does not prove was published (Go's checksum database rule).
    pub require: bool,
}

/// [`pull`], first checking the origin's transparency log: the newest checkpoint must extend
/// the last one this store accepted (else a split view, and nothing is installed), and with
/// `require` the version must be proved in it.
///
/// # Errors
/// As [`pull`], and [`PullError::Log`].
#[allow(clippy::too_many_arguments)]
pub async fn pull_logged(
    store: Arc<Store>,
    upstreams: Arc<Upstreams>,
    trust: &Trust,
    volume: &VolumeName,
    spec: &str,
    concurrency: usize,
    progress: &dyn Progress,
    log: Option<&LogPolicy>,
) -> Result<PullReport, PullError> {
    let start_bytes = upstreams.fetched_bytes();
    let mut report = PullReport::default();
    let updated;
    let mut trust = trust;
    if let Some(root) = trust.root() {
        let newest = update_root(&store, &upstreams, root).await?;
        report.root = Some(newest.clone());
        updated = Trust::from_root(newest);
        trust = &updated;
    }
    // 1. Which version.
    let mut tag: Option<SignedTag> = None;
    let mut fresh: Option<VerifiedMetadata> = None;
    let id = if spec.len() == 64 {
        spec.parse::<VersionId>()?
    } else {
        let tag_name = TagName::new(spec).map_err(|_| PullError::BadReference(spec.to_owned()))?;
        // The newest copy of this tag the store has seen: a mirror offering an older one is
        // stale or hostile, and the next mirror is tried.
        let seen = blocking(|| store.read_tag(volume.as_str(), tag_name.as_str()))?
            .filter(|s| s.verify(trust.ring()).is_ok());
        // Under a trust root, the tag must be the one the current snapshot lists.
        let pin = match trust.root() {
            Some(_) => {
                let f = current_metadata(&store, &upstreams, trust).await?;
                let s = &f.snapshot;
                let pin = s
                    .snapshot
                    .find(volume.as_str(), tag_name.as_str())
                    .cloned()
                    .ok_or_else(|| PullError::Snapshot {
                        why: format!(
                            "snapshot version {} does not list {volume}@{tag_name}",
                            s.snapshot.version
                        ),
                    })?;
                fresh = Some(f);
                Some(pin)
            }
            None => None,
        };
        let check = |b: &[u8]| -> Result<SignedTag, PullError> {
            let t = SignedTag::from_bytes(b)?;
            if let Some(pin) = &pin {
                if t.record_hash() != pin.hash {
                    return Err(PullError::Snapshot {
                        why: format!(
                            "the tag {volume}@{tag_name} offered is not the one the snapshot lists (version {}): tags from different moments cannot be mixed",
                            pin.number
                        ),
                    });
                }
            }
            if t.record.volume != *volume || t.record.tag != tag_name {
                return Err(PullError::BadReference(format!(
                    "{spec} (a mirror answered with the tag {}@{})",
                    t.record.volume, t.record.tag
                )));
            }
            t.verify(trust.ring())?;
            if let Some(seen) = &seen {
                if t.is_older_than(seen) {
                    return Err(PullError::Rollback {
                        volume: volume.to_string(),
                        tag: tag_name.to_string(),
                        local: seen.record.number,
                        offered: t.record.number,
                    });
                }
            }
            Ok(t)
        };
        let path = format!("/t/{volume}/{tag_name}");
        let fetched = upstreams
            .fetch(&path, None, MAX_METADATA, |b| check(b).is_ok())
            .await;
        let bytes = explain(&upstreams, &path, MAX_METADATA, fetched, |b| {
            check(b).map(|_| ())
        })
        .await?;
        let t = check(&bytes)?;
        let id = t.record.version;
        tag = Some(t);
        id
    };
    // 1b. The transparency log, before anything is installed.
    if let Some(policy) = log {
        let cp = crate::log::witness(&store, &upstreams, &policy.verifier).await?;
        report.log_size = Some(cp.size);
        if policy.require {
            let proved = crate::log::RemoteLog::new(&upstreams, &policy.verifier)
                .prove(&cp, &id)
                .await?;
            report.log_index = Some(proved.index);
        }
    }
    // 2. Already here?
    if let Ok((m, sigs)) = blocking(|| store.read_manifest(&id)) {
        trust
            .ring()
            .verify(&sigs, MANIFEST_CONTEXT, id.as_bytes(), "manifest")?;
        report.already_had = true;
        report.version = Some(id);
        report.number = m.version;
        report.volume_bytes = m.logical_size();
        report.bytes_already_present = report.volume_bytes;
        blocking(|| -> Result<(), StoreError> {
            let _lock = store.lock()?;
            // Also clears what a pull killed after its commit but before its clean-up staged.
            record_tag_and_clear(&store, tag.as_ref(), fresh.as_ref())
        })?;
        report.bytes_transferred = upstreams.fetched_bytes() - start_bytes;
        return Ok(report);
    }
    // 3. The signed manifest.
    let manifest_bytes = upstreams
        .fetch(&format!("/m/{id}"), None, MAX_METADATA, |b| {
            VersionId::of(b) == id
        })
        .await?;
    let sig_path = format!("/s/{id}");
    let check_sigs = |b: &[u8]| -> Result<(), PullError> {
        let s = SignatureSet::from_bytes(b)?;
        trust
            .ring()
            .verify(&s, MANIFEST_CONTEXT, id.as_bytes(), "manifest")?;
        Ok(())
    };
    let fetched = upstreams
        .fetch(&sig_path, None, MAX_METADATA, |b| check_sigs(b).is_ok())
        .await;
    let sig_bytes = explain(&upstreams, &sig_path, MAX_METADATA, fetched, check_sigs).await?;
    let manifest = Manifest::from_bytes(&manifest_bytes)?;
    let sigs = SignatureSet::from_bytes(&sig_bytes)?;
    trust
        .ring()
        .verify(&sigs, MANIFEST_CONTEXT, id.as_bytes(), "manifest")?;
    if manifest.volume != *volume {
        return Err(PullError::BadReference(format!(
            "{spec} (the manifest belongs to volume {})",
            manifest.volume
        )));
    }
    if let Some((number, local)) = blocking(|| store.versions(volume.as_str()))?
        .into_iter()
        .find(|(n, _)| *n == manifest.version)
    {
        if local != id {
            return Err(PullError::Conflict {
                volume: volume.to_string(),
                number,
                local: local.short(),
                remote: id.short(),
            });
        }
    }
    report.version = Some(id);
    report.number = manifest.version;
    report.volume_bytes = manifest.logical_size();

    let _lock = blocking(|| store.lock())?;
    // 4. What is missing.
    let index = blocking(|| local_index(&store))?;
    let mut todo: Vec<(FileRef<'_>, Vec<Piece>)> = Vec::new();
    let mut seen = HashSet::new();
    for e in &manifest.entries {
        let Some(f) = FileRef::of(e) else { continue };
        if !seen.insert((f.content.hash, f.exec)) {
            continue;
        }
        if blocking(|| store.has_object(&f.content.hash, f.exec, f.content.size))? {
            report.bytes_already_present += f.content.size;
            continue;
        }
        let mut ps = pieces(f.content, &index);
        for p in &mut ps {
            if let Piece::Remote { id, len, .. } = *p {
                let staged = blocking(|| store.backend().size(&staging_key(&id)))?;
                if staged == Some(u64::from(len)) {
                    *p = Piece::Staged { id, len };
                }
            }
        }
        todo.push((f, ps));
    }
    // 5. Binary deltas, for files whose base the store holds and whose delta is smaller than
    // their missing chunks; any failure leaves the file to the chunks.
    let mut via_delta: Vec<(usize, DeltaEntry, bool)> = Vec::new();
    if !index.is_empty() && todo.iter().any(|(_, ps)| remote_bytes(ps) > 0) {
        if let Some(dx) = delta_index(&upstreams, trust, &id).await {
            for (i, (f, ps)) in todo.iter().enumerate() {
                let remote = remote_bytes(ps);
                let mut best: Option<(DeltaEntry, bool)> = None;
                for e in dx.index.to_target(&f.content.hash) {
                    if e.delta_size >= remote
                        || best.is_some_and(|(b, _)| b.delta_size <= e.delta_size)
                    {
                        continue;
                    }
                    for exec in [false, true] {
                        if blocking(|| store.has_object(&e.base, exec, e.base_size))? {
                            best = Some((*e, exec));
                            break;
                        }
                    }
                }
                if let Some((e, exec)) = best {
                    via_delta.push((i, e, exec));
                }
            }
        }
    }
    let mut done = vec![false; todo.len()];
    if !via_delta.is_empty() {
        progress.start(
            "fetching deltas",
            via_delta.iter().map(|(_, e, _)| e.delta_size).sum(),
        );
        let slots = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        let mut set = tokio::task::JoinSet::new();
        for (i, e, base_exec) in via_delta {
            let target_exec = todo[i].0.exec;
            let (store, upstreams, slots) = (store.clone(), upstreams.clone(), slots.clone());
            set.spawn(async move {
                let _slot = slots.acquire_owned().await;
                let r = apply_delta(&store, &upstreams, &e, base_exec, target_exec).await;
                (i, e, r)
            });
        }
        while let Some(joined) = set.join_next().await {
            let (i, e, r) =
                joined.map_err(|err| PullError::Rebuild(format!("a delta task failed: {err}")))?;
            progress.advance(e.delta_size);
            match r {
                Ok(fetched) => {
                    done[i] = true;
                    report.deltas_applied += 1;
                    report.delta_bytes += fetched;
                    report.bytes_from_deltas += e.target_size;
                }
                Err(_) => report.deltas_failed += 1,
            }
        }
        progress.finish();
    }
    // 6. Fetch the missing runs in parallel, staging each verified chunk.
    let mut jobs = Vec::new();
    let mut to_fetch = 0u64;
    for (f, ps) in todo.iter().zip(&done).filter(|(_, d)| !**d).map(|(t, _)| t) {
        for p in ps {
            match p {
                Piece::Local { len, .. } => report.bytes_from_local_chunks += u64::from(*len),
                Piece::Staged { len, .. } => report.bytes_from_staging += u64::from(*len),
                Piece::Remote { .. } => {}
            }
        }
        for run in runs(ps, MAX_RUN) {
            let (chunks, first, last) = (run.chunks, run.first, run.last);
            to_fetch += last - first + 1;
            let path = format!("/o/{}{}", f.content.hash, if f.exec { ".x" } else { "" });
            jobs.push((path, chunks, first, last));
        }
    }
    progress.start("pulling", to_fetch);
    let slots = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let fetched_chunks = Arc::new(AtomicU64::new(0));
    let mut set = tokio::task::JoinSet::new();
    for (path, chunks, first, last) in jobs {
        let (store, upstreams, slots, counter) = (
            store.clone(),
            upstreams.clone(),
            slots.clone(),
            fetched_chunks.clone(),
        );
        set.spawn(async move {
            let _slot = slots.acquire_owned().await;
            let total = last - first + 1;
            let verify = |b: &[u8]| {
                if b.len() as u64 != total {
                    return false;
                }
                let mut at = 0usize;
                chunks.iter().all(|(id, len)| {
                    let end = at + *len as usize;
                    let ok = ChunkId::of(&b[at..end]) == *id;
                    at = end;
                    ok
                })
            };
            let bytes = upstreams
                .fetch(&path, Some((first, last)), total, verify)
                .await?;
            let mut at = 0usize;
            for (id, len) in &chunks {
                let end = at + *len as usize;
                blocking(|| {
                    store
                        .backend()
                        .write(&staging_key(id), &bytes[at..end], Durability::AtBarrier)
                })?;
                at = end;
            }
            counter.fetch_add(chunks.len() as u64, Ordering::Relaxed);
            Ok::<u64, PullError>(total)
        });
    }
    let mut requests = 0u64;
    while let Some(done) = set.join_next().await {
        let n = done.map_err(|e| PullError::Rebuild(format!("a fetch task failed: {e}")))??;
        progress.advance(n);
        requests += 1;
    }
    progress.finish();
    report.requests = requests;
    report.chunks_fetched = fetched_chunks.load(Ordering::Relaxed);
    // 7. Rebuild every other missing file from local and staged chunks, verified.
    for ((f, ps), _) in todo.into_iter().zip(done).filter(|(_, d)| !d) {
        let mut reader = Rebuild {
            store: &store,
            pieces: ps.into_iter(),
            current: Bytes::new(),
            hasher: blake3::Hasher::new(),
            expected: f.content.hash,
            unverified: false,
        };
        // A write that fails (a full disk) is a store error, not a verification failure.
        blocking(|| store.put_object_stream(&f.content.hash, f.exec, &mut reader)).map_err(
            |e| {
                if reader.unverified {
                    PullError::Rebuild(f.content.hash.short())
                } else {
                    PullError::Store(e)
                }
            },
        )?;
    }
    // 8. Make it visible: objects durable, then manifest, index and tag.
    blocking(|| -> Result<(), StoreError> {
        store.barrier()?;
        store.put_manifest(&manifest_bytes, &sigs)?;
        store.put_version(volume, manifest.version, &id)?;
        record_tag_and_clear(&store, tag.as_ref(), fresh.as_ref())
    })?;
    report.bytes_transferred = upstreams.fetched_bytes() - start_bytes;
    Ok(report)
}

impl tinycdn_core::error::Classified for PullError {
    fn class(&self) -> tinycdn_core::error::ErrorClass {
        use tinycdn_core::error::ErrorClass;
        match self {
            Self::Fetch(e) => e.class(),
            Self::Store(e) => e.class(),
            Self::Volume(e) => e.class(),
            Self::Log(e) => e.class(),
            Self::Decode(e) => e.class(),
            Self::Signature(_)
            | Self::Rollback { .. }
            | Self::Snapshot { .. }
            | Self::Root(_)
            | Self::Rebuild(_) => ErrorClass::Integrity,
            Self::BadReference(_) => ErrorClass::Usage,
            Self::Conflict { .. } => ErrorClass::Failure,
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Fetch(e) => e.hint(),
            Self::Store(e) => e.hint(),
            Self::Volume(e) => e.hint(),
            Self::Log(e) => e.hint(),
            Self::Signature(_) => {
                Some("check that --trust names the publisher's .pub file or the current trust root")
            }
            _ => None,
        }
    }
}
