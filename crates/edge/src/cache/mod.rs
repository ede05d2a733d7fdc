//! The edge's two-tier cache of verified chunks and metadata.
//!
//! - Memory: `quick_cache` (S3-FIFO-like admission: a small probationary queue in front of the
//!   main one, so a scan of one-hit objects cannot flush the hot set), weighted by bytes and
//!   bounded by `--memory`. It also coalesces concurrent misses of one chunk into one fill.
//! - Disk: one file per chunk under the cache directory, written atomically through the store's
//!   local backend, bounded by `--cache-size` with FIFO eviction, reloaded on start, and verified
//!   against the chunk hash on every read from disk (a damaged file is dropped, never served).
//!   A disk that is full or failing only turns the tier off for that write: the edge keeps serving
//!   from memory and upstream. A background scrub ([`ChunkCache::start_scrub`]) re-hashes the
//!   disk tier at a bounded rate and drops what no longer matches.

mod scrub;

pub use scrub::ScrubStep;
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use tinycdn_core::ChunkId;
use tinycdn_store::{Backend, Durability, LocalBackend, StoreError};

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

struct DiskIndex {
    order: VecDeque<ChunkId>,
    sizes: HashMap<ChunkId, u64>,
    used: u64,
}

/// The disk tier.
struct Disk {
    backend: LocalBackend,
    max_bytes: u64,
    index: Mutex<DiskIndex>,
}

fn chunk_key(id: &ChunkId) -> String {
    let hex = id.to_hex();
    format!("chunks/{}/{hex}", &hex[..2])
}

impl Disk {
    fn open(dir: &Path, max_bytes: u64) -> Result<Self, StoreError> {
        let backend = LocalBackend::open(dir, true)?;
        let mut index = DiskIndex {
            order: VecDeque::new(),
            sizes: HashMap::new(),
            used: 0,
        };
        for key in backend.list("chunks")? {
            let Some(id) = key
                .rsplit('/')
                .next()
                .and_then(|n| n.parse::<ChunkId>().ok())
            else {
                continue;
            };
            let size = backend.size(&key)?.unwrap_or(0);
            index.order.push_back(id);
            index.sizes.insert(id, size);
            index.used += size;
        }
        Ok(Self {
            backend,
            max_bytes,
            index: Mutex::new(index),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DiskIndex> {
        self.index
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
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
    memory: Cache<ChunkId, Bytes, ByteWeight>,
    disk: Option<Disk>,
    scrub_cursor: std::sync::atomic::AtomicUsize,
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
    /// A cache of at most `memory_bytes` in memory and, with a directory, `disk_bytes` on disk.
    ///
    /// # Errors
    /// The disk directory cannot be created or listed.
    pub fn new(memory_bytes: u64, disk: Option<(&Path, u64)>) -> Result<Self, StoreError> {
        let estimated = usize::try_from(memory_bytes / (256 * 1024))
            .unwrap_or(1024)
            .max(16);
        Ok(Self {
            memory: Cache::with_weighter(estimated, memory_bytes.max(1), ByteWeight),
            disk: disk.map(|(dir, max)| Disk::open(dir, max)).transpose()?,
            scrub_cursor: std::sync::atomic::AtomicUsize::new(0),
            counters: CacheCounters::default(),
        })
    }

    /// Bytes held on disk.
    #[must_use]
    pub fn disk_bytes(&self) -> u64 {
        self.disk.as_ref().map_or(0, |d| d.lock().used)
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
        self.memory.contains_key(id)
            || self
                .disk
                .as_ref()
                .is_some_and(|d| d.lock().sizes.contains_key(id))
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
        if !disk.lock().sizes.contains_key(id) {
            return None;
        }
        let key = chunk_key(id);
        let bytes = tokio::task::block_in_place(|| disk.backend.read(&key)).ok()?;
        if ChunkId::of(&bytes) == *id {
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
        let mut index = disk.lock();
        if let Some(size) = index.sizes.remove(id) {
            index.used -= size;
            index.order.retain(|o| o != id);
        }
    }

    async fn disk_put(&self, id: ChunkId, bytes: Bytes) {
        let Some(disk) = &self.disk else {
            return;
        };
        let size = bytes.len() as u64;
        if size > disk.max_bytes {
            return;
        }
        let victims: Vec<ChunkId> = {
            let mut index = disk.lock();
            if index.sizes.contains_key(&id) {
                return;
            }
            let mut victims = Vec::new();
            while index.used + size > disk.max_bytes {
                let Some(v) = index.order.pop_front() else {
                    break;
                };
                if let Some(s) = index.sizes.remove(&v) {
                    index.used -= s;
                    victims.push(v);
                }
            }
            victims
        };
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
        match result {
            Ok(()) => {
                let mut index = disk.lock();
                index.order.push_back(id);
                index.sizes.insert(id, size);
                index.used += size;
            }
            Err(_) => {
                self.counters
                    .disk_write_errors
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Metadata (manifests, signatures) kept on disk so pinned content survives restarts.
    pub fn put_meta(&self, key: &str, bytes: &[u8]) {
        if let Some(disk) = &self.disk {
            let r = tokio::task::block_in_place(|| {
                disk.backend
                    .write(&format!("meta/{key}"), bytes, Durability::AtBarrier)
            });
            if r.is_err() {
                self.counters
                    .disk_write_errors
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Removes metadata from disk.
    pub fn delete_meta(&self, key: &str) {
        if let Some(disk) = &self.disk {
            let _ = tokio::task::block_in_place(|| disk.backend.delete(&format!("meta/{key}")));
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
}
