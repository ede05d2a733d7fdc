//! The disk tier's policy: which chunks it keeps within its byte bound, and which it evicts.
//!
//! The edge tells it three things: a chunk was written ([`DiskPolicy::admit`], which names the
//! victims to delete first), a chunk was used ([`DiskPolicy::touch`]: a disk hit; memory hits
//! never reach the disk), and a chunk is gone ([`DiskPolicy::remove`]: it failed verification). The state is saved as a
//! checked snapshot ([`DiskPolicy::snapshot`]) and restored against what is really on disk
//! ([`DiskPolicy::restore`]).
//!
//! Semantics follow libCacheSim's (as `tinycdn audit`'s reference policies do): an entry larger
//! than the tier is not admitted; otherwise entries are evicted until it fits. One deviation:
//! S3-FIFO admits an entry too big for its small queue straight to main (libCacheSim refuses it).

mod evict;
mod slab;
mod snapshot;

use std::collections::HashMap;
use std::hash::Hash;

use slab::{Queue, Slab};
pub use snapshot::{Restored, SnapshotError};

/// The eviction policies of the disk tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DiskKind {
    /// First in, first out (the tier before issue 13).
    Fifo,
    /// SIEVE (Zhang et al., NSDI '24): FIFO order, a visited bit, a hand that spares visited
    /// entries once.
    Sieve,
    /// S3-FIFO (Yang et al., SOSP '23): a small FIFO that new entries enter (10 % of the bytes),
    /// a main FIFO with a 2-bit clock, ghosts of what the small queue evicted (90 %).
    #[default]
    S3Fifo,
}

impl DiskKind {
    /// Every policy.
    pub const ALL: [DiskKind; 3] = [DiskKind::Fifo, DiskKind::Sieve, DiskKind::S3Fifo];

    /// The name on the command line and in output.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            DiskKind::Fifo => "fifo",
            DiskKind::Sieve => "sieve",
            DiskKind::S3Fifo => "s3-fifo",
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            DiskKind::Fifo => 0,
            DiskKind::Sieve => 1,
            DiskKind::S3Fifo => 2,
        }
    }

    fn from_u8(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.to_u8() == b)
    }
}

impl std::str::FromStr for DiskKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown disk-tier policy {s:?} (fifo, sieve, s3-fifo)"))
    }
}

/// A key the policy tracks, with a fixed-length encoding for snapshots.
pub trait Key: Copy + Eq + Hash {
    /// Bytes of the encoding.
    const LEN: usize;
    /// Appends the encoding.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads an encoding of exactly [`Key::LEN`] bytes.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

impl Key for u64 {
    const LEN: usize = 8;

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }
}

impl Key for tinycdn_core::ChunkId {
    const LEN: usize = 32;

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_bytes());
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        Some(Self::from_bytes(bytes.try_into().ok()?))
    }
}

/// The disk tier's policy over keys `K` with sizes in bytes.
#[derive(Debug, Clone)]
pub struct DiskPolicy<K> {
    kind: DiskKind,
    capacity: u64,
    /// Bytes of the capacity taken by something else on the same disk (the edge's metadata
    /// files): entries get the rest.
    reserved: u64,
    slab: Slab<K>,
    index: HashMap<K, u32>,
    /// SIEVE's hand: the next entry it looks at.
    hand: Option<u32>,
    /// S3-FIFO: whether anything was evicted yet (until then the small queue may overflow into
    /// main, as libCacheSim's warm-up does).
    has_evicted: bool,
}

/// S3-FIFO's share of the bytes for the small queue.
const SMALL: f64 = 0.10;
/// S3-FIFO's ghost bytes, as a share of the capacity.
const GHOST: f64 = 0.90;

impl<K: Key> DiskPolicy<K> {
    /// An empty policy of `kind` bounding the tier at `capacity` bytes.
    #[must_use]
    pub fn new(kind: DiskKind, capacity: u64) -> Self {
        Self {
            kind,
            capacity,
            reserved: 0,
            slab: Slab::new(),
            index: HashMap::new(),
            hand: None,
            has_evicted: false,
        }
    }

    /// The policy.
    #[must_use]
    pub fn kind(&self) -> DiskKind {
        self.kind
    }

    /// The bound in bytes.
    #[must_use]
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes of the entries held.
    #[must_use]
    pub fn used(&self) -> u64 {
        self.slab.bytes(Queue::Main) + self.slab.bytes(Queue::Small)
    }

    /// Entries held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.slab.len(Queue::Main) + self.slab.len(Queue::Small)
    }

    /// Whether nothing is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn resident(&self, key: &K) -> Option<u32> {
        let &i = self.index.get(key)?;
        (self.slab.node(i).queue != Queue::Ghost).then_some(i)
    }

    /// Whether `key` is held.
    #[must_use]
    pub fn contains(&self, key: &K) -> bool {
        self.resident(key).is_some()
    }

    /// The size of `key`, if held.
    #[must_use]
    pub fn size(&self, key: &K) -> Option<u64> {
        self.resident(key).map(|i| self.slab.node(i).size)
    }

    /// S3-FIFO's small-queue bound in bytes.
    #[must_use]
    pub fn small_capacity(&self) -> u64 {
        (self.capacity as f64 * SMALL) as u64
    }

    /// `key` was used (a disk hit); `false` if it is not held.
    pub fn touch(&mut self, key: &K) -> bool {
        let Some(i) = self.resident(key) else {
            return false;
        };
        let n = self.slab.node_mut(i);
        match self.kind {
            DiskKind::Fifo => {}
            DiskKind::Sieve => n.mark = 1,
            DiskKind::S3Fifo => n.mark = n.mark.saturating_add(1).min(3),
        }
        true
    }

    /// Admits `key` of `size` bytes, pushing onto `victims` what must be deleted first. `false`
    /// when it is not admitted: already held, or larger than the tier. (S3-FIFO: an entry too
    /// big for the small queue goes straight to main, where libCacheSim would refuse it.)
    pub fn admit(&mut self, key: K, size: u64, victims: &mut Vec<K>) -> bool {
        if self.contains(&key) {
            return false;
        }
        // A ghost is used up by its hit, even when the entry then does not fit (as libCacheSim).
        let ghost_hit = match self.index.get(&key) {
            Some(&g) => {
                self.slab.remove(g);
                self.index.remove(&key);
                true
            }
            None => false,
        };
        let room = self.room();
        if size > room {
            return false;
        }
        while self.used() + size > room {
            match self.evict_one() {
                Some(v) => victims.push(v),
                None => return false,
            }
        }
        let queue = match self.kind {
            DiskKind::Fifo | DiskKind::Sieve => Queue::Main,
            DiskKind::S3Fifo if ghost_hit => Queue::Main,
            // libCacheSim refuses these; a disk tier a few chunks large would then keep nothing.
            DiskKind::S3Fifo if size >= self.small_capacity() => Queue::Main,
            DiskKind::S3Fifo
                if !self.has_evicted && self.slab.bytes(Queue::Small) >= self.small_capacity() =>
            {
                Queue::Main
            }
            DiskKind::S3Fifo => Queue::Small,
        };
        let i = self.slab.push(queue, key, size, 0);
        self.index.insert(key, i);
        true
    }

    /// Forgets `key` (it failed verification, or was deleted); its size if it was held.
    pub fn remove(&mut self, key: &K) -> Option<u64> {
        let i = self.resident(key)?;
        if self.hand == Some(i) {
            self.hand = self.slab.newer(i);
        }
        self.index.remove(key);
        Some(self.slab.remove(i).1)
    }

    /// Up to about `max_bytes` of held entries from slot `cursor` on (at least one if any), the
    /// slot to continue from, and whether the walk reached the end (continue from 0).
    #[must_use]
    pub fn entries_from(&self, cursor: usize, max_bytes: u64) -> (Vec<(K, u64)>, usize, bool) {
        let mut out = Vec::new();
        let mut planned = 0u64;
        let mut at = cursor;
        while at < self.slab.slots() && (planned < max_bytes || out.is_empty()) {
            if let Some(n) = self.slab.live(at).filter(|n| n.queue != Queue::Ghost) {
                planned += n.size;
                out.push((n.key, n.size));
            }
            at += 1;
        }
        let wrapped = at >= self.slab.slots();
        (out, if wrapped { 0 } else { at }, wrapped)
    }

    /// The keys held, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.index
            .iter()
            .filter(|(_, &i)| self.slab.node(i).queue != Queue::Ghost)
            .map(|(k, _)| *k)
    }

    /// Bytes entries may hold: the capacity less what is reserved.
    #[must_use]
    pub fn room(&self) -> u64 {
        self.capacity.saturating_sub(self.reserved)
    }

    /// Reserves `bytes` of the capacity for something else on the same disk (the edge's
    /// metadata files count against its `--cache-size`), evicting entries until the rest fits;
    /// the victims are pushed onto `victims`.
    pub fn reserve(&mut self, bytes: u64, victims: &mut Vec<K>) {
        self.reserved = bytes;
        let room = self.room();
        while self.used() > room {
            match self.evict_one() {
                Some(v) => victims.push(v),
                None => break,
            }
        }
    }

    fn ghost_capacity(&self) -> u64 {
        (self.capacity as f64 * GHOST) as u64
    }
}

#[cfg(test)]
mod tests;
