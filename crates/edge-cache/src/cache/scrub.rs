//! Scrubbing the disk tier: chunks are re-read and re-hashed in the background at a bounded rate
//! (in the order of the policy's slots, which an entry keeps for its life; one written meanwhile
//! into a slot behind the cursor is checked on the next pass), so damage (bit rot, a bad sector, an operator's mistake) is found before a request needs the
//! chunk; a bad one is dropped (the next request fills it again, verified) and counted.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tinycdn_core::ChunkId;
use tinycdn_store::Backend;

use super::{chunk_key, ChunkCache};

/// What one scrub step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrubStep {
    /// Chunks re-hashed.
    pub chunks: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Chunks that did not match their hash (dropped).
    pub bad: u64,
    /// Whether this step finished a pass over the disk.
    pub wrapped: bool,
}

/// How often the scrubber wakes.
const TICK: Duration = Duration::from_millis(250);

impl ChunkCache {
    /// Re-hashes the next disk chunks, up to about `max_bytes`, dropping bad ones. Blocking I/O:
    /// run it off the async threads.
    pub fn scrub_step(&self, max_bytes: u64) -> ScrubStep {
        let mut step = ScrubStep::default();
        let Some(disk) = &self.disk else {
            return step;
        };
        let (batch, next, wrapped) = disk
            .lock()
            .entries_from(self.scrub_cursor.load(Ordering::Relaxed), max_bytes);
        step.wrapped = wrapped;
        self.scrub_cursor.store(next, Ordering::Relaxed);
        for (id, _) in batch {
            let key = chunk_key(&id);
            let Ok(bytes) = disk.backend.read(&key) else {
                continue;
            };
            step.chunks += 1;
            step.bytes += bytes.len() as u64;
            if ChunkId::of(&bytes) != id {
                step.bad += 1;
                self.drop_disk_chunk(&id);
            }
        }
        let c = &self.counters;
        c.scrubbed_chunks.fetch_add(step.chunks, Ordering::Relaxed);
        c.scrubbed_bytes.fetch_add(step.bytes, Ordering::Relaxed);
        c.disk_corrupt.fetch_add(step.bad, Ordering::Relaxed);
        c.scrub_passes
            .fetch_add(u64::from(step.wrapped), Ordering::Relaxed);
        step
    }

    /// Scrubs the disk tier at about `bytes_per_second` (a tokio task) until
    /// [`ChunkCache::shut_down`].
    pub fn start_scrub(self: &Arc<Self>, bytes_per_second: u64) {
        if self.disk.is_none() || bytes_per_second == 0 {
            return;
        }
        let per_tick = (bytes_per_second / 4).max(1);
        let cache = self.clone();
        let mut stop = self.shutdown.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(TICK) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                let c = cache.clone();
                let step = tokio::task::spawn_blocking(move || c.scrub_step(per_tick)).await;
                if let Ok(s) = step {
                    // An empty disk, or a pass just finished: rest a little longer.
                    if s.chunks == 0 || s.wrapped {
                        tokio::time::sleep(TICK * 4).await;
                    }
                }
            }
        });
    }
}
