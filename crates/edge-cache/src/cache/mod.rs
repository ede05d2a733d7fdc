//! The edge's two-tier cache of verified chunks and metadata.
//!
//! - Memory: `quick_cache` (S3-FIFO-like admission: a small probationary queue in front of the
//!   main one, so a scan of one-hit objects cannot flush the hot set), weighted by bytes and
//!   bounded by `--memory`. It also coalesces concurrent misses of one chunk into one fill.
//! - Disk: one file per chunk under the cache directory, written atomically through the store's
//!   local backend, bounded by `--cache-size`, verified against the chunk hash on every read
//!   from disk (a damaged file is dropped, never served). What it keeps is decided by
//!   `tinycdn-tier`'s [`DiskPolicy`] (S3-FIFO by default, chosen on real traces with
//!   `tinycdn audit`), told of disk hits; its state
//!   is saved under `state/disk-tier` and restored on start against the files really there.
//!   A disk that is full or failing only turns the tier off for that write: the edge keeps serving
//!   from memory and upstream. A background scrub ([`ChunkCache::start_scrub`]) re-hashes the
//!   disk tier at a bounded rate and drops what no longer matches.

mod meta;
pub mod metrics;
mod scrub;

pub use scrub::ScrubStep;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use quick_cache::Weighter;
use tinycdn_core::ChunkId;
use tinycdn_store::{Backend, Durability, LocalBackend, StoreError};
use tinycdn_tier::memory::{memory_tier, MemoryTier};
pub use tinycdn_tier::DiskKind;
use tinycdn_tier::DiskPolicy;

/// Weighs cached chunks by their length.
#[derive(Debug, Clone, Copy)]
pub struct ByteWeight;

impl Weighter<ChunkId, Bytes> for ByteWeight {
    fn weight(&self, _: &ChunkId, v: &Bytes) -> u64 {
        (v.len() as u64).max(1)
    }
}

/// Counters of cache behaviour.
#[derive(Debug, Default)]
pub struct CacheCounters {
    /// Chunks served from memory.
    pub memory_hits: AtomicU64,
    /// Chunks served from disk.
    pub disk_hits: AtomicU64,
    /// Chunks that had to be filled from upstream.
    pub misses: AtomicU64,
    /// Requests that waited for another request's fill of the same chunk.
    pub coalesced: AtomicU64,
    /// Chunks evicted from disk.
    pub disk_evictions: AtomicU64,
    /// Disk writes that failed (full disk, I/O errors); the edge served on without them.
    pub disk_write_errors: AtomicU64,
    /// Metadata writes refused because records held their share of `--cache-size`.
    pub meta_refused: AtomicU64,
    /// Disk-cached chunks that failed verification and were dropped (on read or by the scrub).
    pub disk_corrupt: AtomicU64,
    /// Bytes of the memory hits.
    pub memory_hit_bytes: AtomicU64,
    /// Bytes of the disk hits.
    pub disk_hit_bytes: AtomicU64,
    /// Bytes of the coalesced waits.
    pub coalesced_bytes: AtomicU64,
    /// Bytes filled from upstream.
    pub miss_bytes: AtomicU64,
    /// Fills from upstream running now.
    pub fills_in_flight: AtomicU64,
    /// Chunks the background scrub re-hashed.
    pub scrubbed_chunks: AtomicU64,
    /// Their bytes.
    pub scrubbed_bytes: AtomicU64,
    /// Passes of the scrub over the whole disk tier.
    pub scrub_passes: AtomicU64,
}

/// The disk tier.
struct Disk {
    backend: LocalBackend,
    policy: Mutex<DiskPolicy<ChunkId>>,
    saves: Mutex<Saves>,
    /// `--cache-size`: chunks and metadata files together.
    max_bytes: u64,
    /// What the metadata files take (whole blocks), reserved out of the tier ([`meta`]).
    meta: Mutex<u64>,
    /// What the policy's saved state takes (whole blocks), reserved with them.
    state: Mutex<u64>,
}

/// When the policy's state was last written.
struct Saves {
    changes: u64,
    at: Instant,
}

/// Where the disk policy's state is kept (beside `chunks/` and `meta/`).
const POLICY_KEY: &str = "state/disk-tier";
/// The state is written after this many admissions and evictions (or a quarter of the entries,
/// whichever is more) ...
const SAVE_CHANGES: u64 = 4096;
/// ... or this long after the first unsaved one.
const SAVE_EVERY: Duration = Duration::from_secs(30);

fn chunk_key(id: &ChunkId) -> String {
    let hex = id.to_hex();
    format!("chunks/{}/{hex}", &hex[..2])
}

impl Disk {
    fn open(dir: &Path, max_bytes: u64, kind: DiskKind) -> Result<Self, StoreError> {
        let backend = LocalBackend::open(dir, true)?;
        let mut on_disk = Vec::new();
        for key in backend.list("chunks")? {
            let Some(id) = key
                .rsplit('/')
                .next()
                .and_then(|n| n.parse::<ChunkId>().ok())
            else {
                continue;
            };
            on_disk.push((id, backend.size(&key)?.unwrap_or(0)));
        }
        let snapshot = backend.read(POLICY_KEY).ok();
        let r = DiskPolicy::restore(kind, max_bytes, snapshot.as_deref(), on_disk);
        if let Some(e) = &r.error {
            tracing::warn!(error = %e, "disk tier: state not used; chunks kept, order rebuilt");
        }
        tracing::info!(
            policy = kind.name(),
            restored = r.from_snapshot,
            added = r.added,
            evicted = r.victims.len(),
            "disk tier opened"
        );
        for v in &r.victims {
            let _ = backend.delete(&chunk_key(v));
        }
        let meta = Self::scan_meta(&backend);
        let state = backend
            .size(POLICY_KEY)
            .ok()
            .flatten()
            .map_or(0, meta::blocks);
        let disk = Self {
            backend,
            policy: Mutex::new(r.policy),
            saves: Mutex::new(Saves {
                changes: 0,
                at: Instant::now(),
            }),
            max_bytes,
            meta: Mutex::new(meta),
            state: Mutex::new(state),
        };
        disk.charge(0, 0);
        if !r.victims.is_empty() || r.added > 0 || r.error.is_some() {
            disk.save();
        }
        Ok(disk)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DiskPolicy<ChunkId>> {
        self.policy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the policy's state (atomically: a crash leaves the old one or the new one).
    fn save(&self) -> bool {
        let bytes = self.lock().snapshot();
        let ok = self
            .backend
            .write(POLICY_KEY, &bytes, Durability::AtBarrier)
            .is_ok();
        if ok {
            *self
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) =
                meta::blocks(bytes.len() as u64);
            self.reserve();
        }
        let mut s = self
            .saves
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.changes = 0;
        s.at = Instant::now();
        ok
    }

    /// Counts `n` changes and writes the state when enough have gathered.
    fn changed(&self, n: u64) {
        let due = {
            let mut s = self
                .saves
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if s.changes == 0 {
                s.at = Instant::now();
            }
            s.changes += n;
            let entries = self.lock().len() as u64;
            s.changes >= SAVE_CHANGES.max(entries / 4) || s.at.elapsed() >= SAVE_EVERY
        };
        if due {
            self.save();
        }
    }
}

/// How one `--memory` is shared: the chunk memory tier and the proxy's fills in flight (bodies
/// being stored, unread windows of streams) take half each, so that together they stay within
/// it whatever clients do (the default 512 MiB still stores a response of the default
/// `--max-object-size`, 256 MiB). Returns (tier, fills).
#[must_use]
pub fn split_memory(total: u64) -> (u64, u64) {
    let fills = total / 2;
    (total - fills, fills)
}

/// Counts a fill down when it ends, however it ends (a dropped request cancels it).
struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Verified chunks in memory and on disk.
pub struct ChunkCache {
    memory: MemoryTier<ChunkId, Bytes, ByteWeight>,
    disk: Option<Disk>,
    scrub_cursor: std::sync::atomic::AtomicUsize,
    /// Background work (the scrub) stops when this turns true ([`ChunkCache::shut_down`]).
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// What the cache has done.
    pub counters: CacheCounters,
}

impl std::fmt::Debug for ChunkCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkCache")
            .field("memory_bytes", &self.memory.weight())
            .field("disk_bytes", &self.disk_bytes())
            .finish_non_exhaustive()
    }
}

impl ChunkCache {
    /// A cache of at most `memory_bytes` in memory and, with a directory, `disk_bytes` on disk
    /// kept by the default disk policy.
    ///
    /// # Errors
    /// The disk directory cannot be created or listed.
    pub fn new(memory_bytes: u64, disk: Option<(&Path, u64)>) -> Result<Self, StoreError> {
        Self::with_policy(memory_bytes, disk, DiskKind::default())
    }

    /// As [`ChunkCache::new`], the disk tier kept by `kind`. Its state (order, access marks)
    /// is restored from the directory, checked against the chunks really there.
    ///
    /// # Errors
    /// The disk directory cannot be created or listed.
    pub fn with_policy(
        memory_bytes: u64,
        disk: Option<(&Path, u64)>,
        kind: DiskKind,
    ) -> Result<Self, StoreError> {
        let disk = disk
            .map(|(dir, max)| Disk::open(dir, max, kind))
            .transpose()?;
        Ok(Self {
            memory: memory_tier(memory_bytes, ByteWeight),
            disk,
            scrub_cursor: std::sync::atomic::AtomicUsize::new(0),
            shutdown: tokio::sync::watch::Sender::new(false),
            counters: CacheCounters::default(),
        })
    }

    /// Stops the background work on the cache (the scrub): the edge is draining and about to
    /// write the disk tier's state.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// Writes the disk policy's state now (it is also written every few thousand changes and
    /// every 30 s while changing); `false` if the write failed or there is no disk tier.
    pub fn save_disk_state(&self) -> bool {
        self.disk
            .as_ref()
            .is_some_and(|d| tokio::task::block_in_place(|| d.save()))
    }

    /// Bytes held on disk.
    #[must_use]
    pub fn disk_bytes(&self) -> u64 {
        self.disk.as_ref().map_or(0, |d| d.lock().used())
    }

    /// Bytes held in memory.
    #[must_use]
    pub fn memory_bytes(&self) -> u64 {
        self.memory.weight()
    }

    /// The chunk from memory, if there.
    #[must_use]
    pub fn memory_get(&self, id: &ChunkId) -> Option<Bytes> {
        self.memory.get(id)
    }

    /// Whether the chunk is held in memory or on disk.
    #[must_use]
    pub fn contains(&self, id: &ChunkId) -> bool {
        self.memory.contains_key(id) || self.disk.as_ref().is_some_and(|d| d.lock().contains(id))
    }

    /// The chunk from memory, or from disk verified against its hash (and then kept in memory).
    pub async fn get(&self, id: &ChunkId) -> Option<Bytes> {
        if let Some(b) = self.memory.get(id) {
            self.counted(
                &self.counters.memory_hits,
                &self.counters.memory_hit_bytes,
                &b,
            );
            return Some(b);
        }
        let b = self.disk_get(id).await?;
        self.counted(&self.counters.disk_hits, &self.counters.disk_hit_bytes, &b);
        self.memory.insert(*id, b.clone());
        Some(b)
    }

    fn counted(&self, n: &AtomicU64, bytes: &AtomicU64, b: &Bytes) {
        n.fetch_add(1, Ordering::Relaxed);
        bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
    }

    /// Keeps a chunk the caller has hashed (`id` is the BLAKE3 of `bytes`) in memory and on disk.
    pub async fn put(&self, id: ChunkId, bytes: Bytes) {
        self.memory.insert(id, bytes.clone());
        self.disk_put(id, bytes).await;
    }

    /// The chunk from memory or disk (verified when read from disk), or `fill`'s result, which
    /// the caller has verified. Concurrent calls for one chunk share one `fill`.
    ///
    /// # Errors
    /// `fill`'s error.
    pub async fn get_or_fill<E>(
        &self,
        id: ChunkId,
        fill: impl std::future::Future<Output = Result<Bytes, E>>,
    ) -> Result<Bytes, E> {
        // Spans only inside a recorded trace: a hit is answered in microseconds.
        if !tinycdn_telemetry::trace::current_sampled() {
            return self.lookup_or_fill(id, fill).await;
        }
        let span = tracing::info_span!("cache.lookup", tinycdn.tier = tracing::field::Empty);
        tracing::Instrument::instrument(self.lookup_or_fill(id, fill), span).await
    }

    async fn lookup_or_fill<E>(
        &self,
        id: ChunkId,
        fill: impl std::future::Future<Output = Result<Bytes, E>>,
    ) -> Result<Bytes, E> {
        let c = &self.counters;
        let tier = |t: &'static str| {
            tracing::Span::current().record("tinycdn.tier", t);
        };
        if let Some(b) = self.memory.get(&id) {
            tier("memory");
            self.counted(&c.memory_hits, &c.memory_hit_bytes, &b);
            return Ok(b);
        }
        match self.memory.get_value_or_guard_async(&id).await {
            Ok(b) => {
                tier("collapsed");
                self.counted(&c.coalesced, &c.coalesced_bytes, &b);
                Ok(b)
            }
            Err(guard) => {
                if let Some(b) = self.disk_get(&id).await {
                    tier("disk");
                    self.counted(&c.disk_hits, &c.disk_hit_bytes, &b);
                    let _ = guard.insert(b.clone());
                    return Ok(b);
                }
                tier("upstream");
                c.fills_in_flight.fetch_add(1, Ordering::Relaxed);
                let done = InFlight(&c.fills_in_flight);
                let span = tracing::info_span!("cache.fill", tinycdn.chunk = %id.short());
                let b = tracing::Instrument::instrument(fill, span).await;
                drop(done);
                let b = b?;
                self.counted(&c.misses, &c.miss_bytes, &b);
                let _ = guard.insert(b.clone());
                self.disk_put(id, b.clone()).await;
                Ok(b)
            }
        }
    }

    async fn disk_get(&self, id: &ChunkId) -> Option<Bytes> {
        let disk = self.disk.as_ref()?;
        if !disk.lock().contains(id) {
            return None;
        }
        let key = chunk_key(id);
        let bytes = tokio::task::block_in_place(|| disk.backend.read(&key)).ok()?;
        if ChunkId::of(&bytes) == *id {
            disk.lock().touch(id);
            return Some(Bytes::from(bytes));
        }
        self.counters.disk_corrupt.fetch_add(1, Ordering::Relaxed);
        self.drop_disk_chunk(id);
        None
    }

    /// Removes a chunk from the disk tier (it failed verification).
    fn drop_disk_chunk(&self, id: &ChunkId) {
        let Some(disk) = &self.disk else {
            return;
        };
        let _ = disk.backend.delete(&chunk_key(id));
        disk.lock().remove(id);
    }

    async fn disk_put(&self, id: ChunkId, bytes: Bytes) {
        let Some(disk) = &self.disk else {
            return;
        };
        let size = bytes.len() as u64;
        // Admitted first (so concurrent puts of one chunk write it once), victims chosen with it.
        let mut victims = Vec::new();
        if !disk.lock().admit(id, size, &mut victims) {
            return;
        }
        let result = tokio::task::block_in_place(|| {
            for v in &victims {
                let _ = disk.backend.delete(&chunk_key(v));
            }
            disk.backend
                .write(&chunk_key(&id), &bytes, Durability::AtBarrier)
        });
        self.counters
            .disk_evictions
            .fetch_add(victims.len() as u64, Ordering::Relaxed);
        if result.is_err() {
            disk.lock().remove(&id);
            self.counters
                .disk_write_errors
                .fetch_add(1, Ordering::Relaxed);
        }
        tokio::task::block_in_place(|| disk.changed(1 + victims.len() as u64));
    }
}

#[cfg(test)]
mod tests {
    use super::split_memory;

    #[test]
    fn the_tier_and_the_fills_share_one_memory_bound() {
        for total in [0, 1, 4, 1000, 512 << 20, u64::MAX] {
            let (tier, fills) = split_memory(total);
            assert_eq!(tier + fills, total);
            assert_eq!(fills, total / 2);
        }
    }
}
