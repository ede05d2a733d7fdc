//! The pull itself: a [`Pull`] runs its steps in order — which version, the transparency log,
//! already here, the signed manifest, what is missing, binary deltas, chunks, rebuild, commit —
//! each a method; where each file's bytes come from is decided in [`crate::plan`].

mod local;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tinycdn_core::delta_index::{DeltaEntry, SignedDeltaIndex};
use tinycdn_core::manifest::Manifest;
use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::root::SignedRoot;
use tinycdn_core::sign::{SignatureSet, MANIFEST_CONTEXT};
use tinycdn_core::tag::SignedTag;
use tinycdn_core::{ChunkId, VersionId};
use tinycdn_fetch::Upstreams;
use tinycdn_store::{Durability, Store, StoreError};
use tinycdn_volume::read::FileRef;
use tinycdn_volume::trust::Trust;
use tinycdn_volume::Progress;

pub use crate::error::PullError;
use crate::fetched::{blocking, explain};
use crate::metadata::{current_metadata, update_root, VerifiedMetadata};
use crate::plan::{choose_delta, pieces, remote_bytes, runs, Piece};
use local::{apply_delta, local_index, record_tag_and_clear, staging_key, Rebuild};

/// Largest manifest, signature set or tag accepted.
const MAX_METADATA: u64 = 64 << 20;
/// Largest single range request for adjacent missing chunks.
const MAX_RUN: u64 = 8 << 20;

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
    let mut pull = Pull {
        start_bytes: upstreams.fetched_bytes(),
        store,
        upstreams,
        trust: trust.clone(),
        volume,
        spec,
        concurrency,
        progress,
        report: PullReport::default(),
    };
    pull.follow_root().await?;
    let (id, tag, fresh) = pull.which_version().await?;
    if let Some(policy) = log {
        pull.check_log(policy, &id).await?;
    }
    if pull.already_here(&id, tag.as_ref(), fresh.as_ref())? {
        return Ok(pull.finish());
    }
    let (manifest_bytes, manifest, sigs) = pull.manifest(&id).await?;
    let store = pull.store.clone();
    let _lock = blocking(|| store.lock())?;
    let (has_local, todo) = pull.missing(&manifest)?;
    let done = pull.deltas(&id, has_local, &todo).await?;
    pull.chunks(&todo, &done).await?;
    pull.rebuild(todo, done)?;
    pull.commit(
        &id,
        &manifest,
        &manifest_bytes,
        &sigs,
        tag.as_ref(),
        fresh.as_ref(),
    )?;
    Ok(pull.finish())
}

/// The files a version needs that the store lacks, with where each piece of each comes from.
type Todo<'m> = Vec<(FileRef<'m>, Vec<Piece>)>;

/// One pull in progress: where from, where to, under what trust, and what it did so far.
struct Pull<'a> {
    store: Arc<Store>,
    upstreams: Arc<Upstreams>,
    /// The trust given, or the newest root the mirrors or the store know of.
    trust: Trust,
    volume: &'a VolumeName,
    spec: &'a str,
    concurrency: usize,
    progress: &'a dyn Progress,
    report: PullReport,
    /// The mirrors' byte count when the pull started.
    start_bytes: u64,
}

impl Pull<'_> {
    /// The report, with the bytes read from the network.
    fn finish(mut self) -> PullReport {
        self.report.bytes_transferred = self.upstreams.fetched_bytes() - self.start_bytes;
        self.report
    }

    /// Under a trust root: walk to the newest root the mirrors publish (or the store pinned).
    async fn follow_root(&mut self) -> Result<(), PullError> {
        if let Some(root) = self.trust.root() {
            let newest = update_root(&self.store, &self.upstreams, root).await?;
            self.report.root = Some(newest.clone());
            self.trust = Trust::from_root(newest);
        }
        Ok(())
    }

    /// Step 1: Which version: a full id as given, or the tag's (verified, never older than the
    /// store has seen, and under a trust root the one the current snapshot lists).
    async fn which_version(
        &self,
    ) -> Result<(VersionId, Option<SignedTag>, Option<VerifiedMetadata>), PullError> {
        let (store, trust, volume, spec) = (&self.store, &self.trust, self.volume, self.spec);
        if spec.len() == 64 {
            return Ok((spec.parse::<VersionId>()?, None, None));
        }
        let tag_name = TagName::new(spec).map_err(|_| PullError::BadReference(spec.to_owned()))?;
        // The newest copy of this tag the store has seen: a mirror offering an older one is
        // stale or hostile, and the next mirror is tried.
        let seen = blocking(|| store.read_tag(volume, &tag_name))?
            .filter(|s| s.verify(trust.ring()).is_ok());
        // Under a trust root, the tag must be the one the current snapshot lists.
        let (pin, fresh) = match trust.root() {
            Some(_) => {
                let f = current_metadata(store, &self.upstreams, trust).await?;
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
                (Some(pin), Some(f))
            }
            None => (None, None),
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
        let fetched = self
            .upstreams
            .fetch(&path, None, MAX_METADATA, |b| check(b).is_ok())
            .await;
        let bytes = explain(&self.upstreams, &path, MAX_METADATA, fetched, |b| {
            check(b).map(|_| ())
        })
        .await?;
        let t = check(&bytes)?;
        Ok((t.record.version, Some(t), fresh))
    }

    /// Step 1b: The transparency log, before anything is installed: the newest checkpoint extends
    /// the last one this store accepted, and with `require` the version is proved in it.
    async fn check_log(&mut self, policy: &LogPolicy, id: &VersionId) -> Result<(), PullError> {
        let cp = crate::log::witness(&self.store, &self.upstreams, &policy.verifier).await?;
        self.report.log_size = Some(cp.size);
        if policy.require {
            let proved = crate::log::RemoteLog::new(&self.upstreams, &policy.verifier)
                .prove(&cp, id)
                .await?;
            self.report.log_index = Some(proved.index);
        }
        Ok(())
    }

    /// Step 2: Already here? Then only the tag and the metadata that vouched for it are recorded.
    fn already_here(
        &mut self,
        id: &VersionId,
        tag: Option<&SignedTag>,
        fresh: Option<&VerifiedMetadata>,
    ) -> Result<bool, PullError> {
        let store = &self.store;
        let Ok((m, sigs)) = blocking(|| store.read_manifest(id)) else {
            return Ok(false);
        };
        self.trust
            .ring()
            .verify(&sigs, MANIFEST_CONTEXT, id.as_bytes(), "manifest")?;
        let r = &mut self.report;
        r.already_had = true;
        r.version = Some(*id);
        r.number = m.version;
        r.volume_bytes = m.logical_size();
        r.bytes_already_present = r.volume_bytes;
        blocking(|| -> Result<(), StoreError> {
            let _lock = store.lock()?;
            // Also clears what a pull killed after its commit but before its clean-up staged.
            record_tag_and_clear(store, tag, fresh)
        })?;
        Ok(true)
    }

    /// Step 3: The signed manifest: its bytes hash to the id, its signatures meet the trust, it
    /// belongs to the volume asked for and does not contradict a version the store has.
    async fn manifest(
        &mut self,
        id: &VersionId,
    ) -> Result<(Bytes, Manifest, SignatureSet), PullError> {
        let (trust, volume) = (&self.trust, self.volume);
        let manifest_bytes = self
            .upstreams
            .fetch(&format!("/m/{id}"), None, MAX_METADATA, |b| {
                VersionId::of(b) == *id
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
        let fetched = self
            .upstreams
            .fetch(&sig_path, None, MAX_METADATA, |b| check_sigs(b).is_ok())
            .await;
        let sig_bytes = explain(
            &self.upstreams,
            &sig_path,
            MAX_METADATA,
            fetched,
            check_sigs,
        )
        .await?;
        let manifest = Manifest::from_bytes(&manifest_bytes)?;
        let sigs = SignatureSet::from_bytes(&sig_bytes)?;
        trust
            .ring()
            .verify(&sigs, MANIFEST_CONTEXT, id.as_bytes(), "manifest")?;
        if manifest.volume != *volume {
            return Err(PullError::BadReference(format!(
                "{} (the manifest belongs to volume {})",
                self.spec, manifest.volume
            )));
        }
        let store = &self.store;
        if let Some((number, local)) = blocking(|| store.versions(volume))?
            .into_iter()
            .find(|(n, _)| *n == manifest.version)
        {
            if local != *id {
                return Err(PullError::Conflict {
                    volume: volume.to_string(),
                    number,
                    local: local.short(),
                    remote: id.short(),
                });
            }
        }
        self.report.version = Some(*id);
        self.report.number = manifest.version;
        self.report.volume_bytes = manifest.logical_size();
        Ok((manifest_bytes, manifest, sigs))
    }

    /// Step 4: What is missing: each file the store lacks, cut into pieces held locally, staged by
    /// an earlier pull, or to fetch. Returns whether the store holds any chunk at all.
    fn missing<'m>(&mut self, manifest: &'m Manifest) -> Result<(bool, Todo<'m>), PullError> {
        let store = &self.store;
        let index = blocking(|| local_index(store))?;
        let mut todo: Todo<'m> = Vec::new();
        let mut seen = HashSet::new();
        for e in &manifest.entries {
            let Some(f) = FileRef::of(e) else { continue };
            if !seen.insert((f.content.hash, f.exec)) {
                continue;
            }
            if blocking(|| store.has_object(&f.content.hash, f.exec, f.content.size))? {
                self.report.bytes_already_present += f.content.size;
                continue;
            }
            let mut ps = pieces(f.content, &index);
            for p in &mut ps {
                if let Piece::Remote { id, len, .. } = *p {
                    let staged = blocking(|| store.key_size(&staging_key(&id)))?;
                    if staged == Some(u64::from(len)) {
                        *p = Piece::Staged { id, len };
                    }
                }
            }
            todo.push((f, ps));
        }
        Ok((!index.is_empty(), todo))
    }

    /// Step 5: Binary deltas, for files whose base the store holds and whose delta is smaller than
    /// their missing chunks ([`choose_delta`]); any failure leaves the file to the chunks.
    /// Returns which files of `todo` are done.
    async fn deltas(
        &mut self,
        id: &VersionId,
        has_local: bool,
        todo: &Todo<'_>,
    ) -> Result<Vec<bool>, PullError> {
        let mut done = vec![false; todo.len()];
        if !has_local || todo.iter().all(|(_, ps)| remote_bytes(ps) == 0) {
            return Ok(done);
        }
        let Some(dx) = delta_index(&self.upstreams, &self.trust, id).await else {
            return Ok(done);
        };
        let store = &self.store;
        let mut via_delta: Vec<(usize, DeltaEntry, bool)> = Vec::new();
        for (i, (f, ps)) in todo.iter().enumerate() {
            let mut failed = None;
            let chosen = choose_delta(
                dx.index.to_target(&f.content.hash),
                remote_bytes(ps),
                |base, exec, size| match blocking(|| store.has_object(base, exec, size)) {
                    Ok(has) => has,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                },
            );
            if let Some(e) = failed {
                return Err(e.into());
            }
            if let Some((e, exec)) = chosen {
                via_delta.push((i, e, exec));
            }
        }
        if via_delta.is_empty() {
            return Ok(done);
        }
        self.progress.start(
            "fetching deltas",
            via_delta.iter().map(|(_, e, _)| e.delta_size).sum(),
        );
        let slots = Arc::new(tokio::sync::Semaphore::new(self.concurrency.max(1)));
        let mut set = tokio::task::JoinSet::new();
        for (i, e, base_exec) in via_delta {
            let target_exec = todo[i].0.exec;
            let (store, upstreams, slots) =
                (self.store.clone(), self.upstreams.clone(), slots.clone());
            set.spawn(async move {
                let _slot = slots.acquire_owned().await;
                let r = apply_delta(&store, &upstreams, &e, base_exec, target_exec).await;
                (i, e, r)
            });
        }
        while let Some(joined) = set.join_next().await {
            let (i, e, r) =
                joined.map_err(|err| PullError::Rebuild(format!("a delta task failed: {err}")))?;
            self.progress.advance(e.delta_size);
            match r {
                Ok(fetched) => {
                    done[i] = true;
                    self.report.deltas_applied += 1;
                    self.report.delta_bytes += fetched;
                    self.report.bytes_from_deltas += e.target_size;
                }
                Err(_) => self.report.deltas_failed += 1,
            }
        }
        self.progress.finish();
        Ok(done)
    }

    /// Step 6: Fetch the missing runs in parallel, staging each verified chunk.
    async fn chunks(&mut self, todo: &Todo<'_>, done: &[bool]) -> Result<(), PullError> {
        let mut jobs = Vec::new();
        let mut to_fetch = 0u64;
        for (f, ps) in todo.iter().zip(done).filter(|(_, d)| !**d).map(|(t, _)| t) {
            for p in ps {
                match p {
                    Piece::Local { len, .. } => {
                        self.report.bytes_from_local_chunks += u64::from(*len);
                    }
                    Piece::Staged { len, .. } => self.report.bytes_from_staging += u64::from(*len),
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
        self.progress.start("pulling", to_fetch);
        let slots = Arc::new(tokio::sync::Semaphore::new(self.concurrency.max(1)));
        let fetched_chunks = Arc::new(AtomicU64::new(0));
        let mut set = tokio::task::JoinSet::new();
        for (path, chunks, first, last) in jobs {
            let (store, upstreams, slots, counter) = (
                self.store.clone(),
                self.upstreams.clone(),
                slots.clone(),
                fetched_chunks.clone(),
            );
            set.spawn(async move {
                let _slot = slots.acquire_owned().await;
                fetch_run(&store, &upstreams, &path, &chunks, first, last).await?;
                counter.fetch_add(chunks.len() as u64, Ordering::Relaxed);
                Ok::<u64, PullError>(last - first + 1)
            });
        }
        let mut requests = 0u64;
        while let Some(joined) = set.join_next().await {
            let n =
                joined.map_err(|e| PullError::Rebuild(format!("a fetch task failed: {e}")))??;
            self.progress.advance(n);
            requests += 1;
        }
        self.progress.finish();
        self.report.requests = requests;
        self.report.chunks_fetched = fetched_chunks.load(Ordering::Relaxed);
        Ok(())
    }

    /// Step 7: Rebuild every other missing file from local and staged chunks, verified.
    fn rebuild(&self, todo: Todo<'_>, done: Vec<bool>) -> Result<(), PullError> {
        let store = &self.store;
        for ((f, ps), _) in todo.into_iter().zip(done).filter(|(_, d)| !d) {
            let mut reader = Rebuild {
                store,
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
        Ok(())
    }

    /// Step 8: Make it visible: objects durable, then manifest, index and tag.
    fn commit(
        &self,
        id: &VersionId,
        manifest: &Manifest,
        manifest_bytes: &[u8],
        sigs: &SignatureSet,
        tag: Option<&SignedTag>,
        fresh: Option<&VerifiedMetadata>,
    ) -> Result<(), PullError> {
        let store = &self.store;
        blocking(|| -> Result<(), StoreError> {
            store.barrier()?;
            store.put_manifest(manifest_bytes, sigs)?;
            store.put_version(self.volume, manifest.version, id)?;
            record_tag_and_clear(store, tag, fresh)
        })?;
        Ok(())
    }
}

/// Fetches one run of adjacent chunks in one range request, verifies each, and stages it.
async fn fetch_run(
    store: &Store,
    upstreams: &Upstreams,
    path: &str,
    chunks: &[(ChunkId, u32)],
    first: u64,
    last: u64,
) -> Result<(), PullError> {
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
        .fetch(path, Some((first, last)), total, verify)
        .await?;
    let mut at = 0usize;
    for (id, len) in chunks {
        let end = at + *len as usize;
        blocking(|| store.write_key(&staging_key(id), &bytes[at..end], Durability::AtBarrier))?;
        at = end;
    }
    Ok(())
}
