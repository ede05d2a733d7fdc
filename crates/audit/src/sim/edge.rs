//! The edge's own two tiers, with their real code: the memory tier as `tinycdn-tier` builds it
//! for the edge (`quick_cache`, weighted by bytes) and the disk tier's [`DiskPolicy`], used as
//! the edge uses them (memory first; a disk hit marks the chunk used and enters memory; a fill
//! enters both).
//!
//! The edge caches chunks, not objects: an object is cut into pieces of the chunker's average
//! size, and a request hits when every piece is in memory or on disk (its bytes count as missed
//! if one is not). The simulated size is the disk tier's; memory is a share of it (the edge's
//! defaults, 512 MiB in front of 10 GiB, are 5 %).

use tinycdn_tier::memory::{memory_tier, MemoryTier, ESTIMATED_ENTRY_BYTES};
use tinycdn_tier::{DiskKind, DiskPolicy};

use super::Policy;

/// The chunker's average chunk size: objects are simulated as pieces of it.
const PIECE: u64 = ESTIMATED_ENTRY_BYTES;
/// Bits of a piece key that number the pieces of one object.
const PIECE_BITS: u32 = 24;

#[derive(Clone, Copy)]
struct Size;

impl quick_cache::Weighter<u64, u32> for Size {
    fn weight(&self, _: &u64, v: &u32) -> u64 {
        u64::from(*v).max(1)
    }
}

pub(super) struct Edge {
    memory: MemoryTier<u64, u32, Size>,
    disk: DiskPolicy<u64>,
    victims: Vec<u64>,
}

impl Edge {
    pub fn new(kind: DiskKind, disk_bytes: u64, memory_bytes: u64) -> Self {
        Self {
            memory: memory_tier(memory_bytes, Size),
            disk: DiskPolicy::new(kind, disk_bytes),
            victims: Vec::new(),
        }
    }

    /// One chunk's lookup as the edge does it; `true` on a hit in either tier.
    fn chunk(&mut self, key: u64, size: u32) -> bool {
        if self.memory.get(&key).is_some() {
            return true;
        }
        let on_disk = self.disk.touch(&key);
        // From disk or from upstream, the chunk enters memory; a fill is also written to disk.
        self.memory.insert(key, size);
        if !on_disk {
            self.victims.clear();
            self.disk.admit(key, u64::from(size), &mut self.victims);
        }
        on_disk
    }
}

impl Policy for Edge {
    fn access(&mut self, _: usize, id: u32, size: u32) -> bool {
        let size64 = u64::from(size);
        let pieces = size64.div_ceil(PIECE).clamp(1, 1 << PIECE_BITS);
        let each = size64 / pieces;
        let mut hit = true;
        for p in 0..pieces {
            let len = if p + 1 == pieces {
                size64 - each * (pieces - 1)
            } else {
                each
            };
            let key = (u64::from(id) << PIECE_BITS) | p;
            hit &= self.chunk(key, u32::try_from(len).unwrap_or(u32::MAX));
        }
        hit
    }
}
