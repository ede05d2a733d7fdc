//! The memory tier: `quick_cache` (S3-FIFO-like: a small cold queue in front of the hot one, so
//! a scan of one-hit chunks cannot flush the hot set), weighted by bytes and sized as the edge
//! sizes it, so the simulator runs the same structure with the same parameters.
//!
//! Memory hits never reach the disk tier. Telling the disk policy about chunks memory served
//! again (marking them used when memory's hot queue evicts them) was measured on two real traces
//! and changed miss ratios by less than 0.4 points either way (BENCHMARKS.md), so the tiers stay
//! independent: no lock of one is taken inside the other.

use std::hash::Hash;

use quick_cache::Weighter;

/// Bytes per entry the memory tier assumes when sizing its table (the chunker's average).
pub const ESTIMATED_ENTRY_BYTES: u64 = 256 * 1024;

/// The memory tier's type.
pub type MemoryTier<K, V, W> = quick_cache::sync::Cache<K, V, W>;

/// The memory tier of at most `memory_bytes`.
#[must_use]
pub fn memory_tier<K, V, W>(memory_bytes: u64, weighter: W) -> MemoryTier<K, V, W>
where
    K: Eq + Hash,
    V: Clone,
    W: Weighter<K, V> + Clone,
{
    let estimated = usize::try_from(memory_bytes / ESTIMATED_ENTRY_BYTES)
        .unwrap_or(1024)
        .max(16);
    quick_cache::sync::Cache::with_weighter(estimated, memory_bytes.max(1), weighter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Len;

    impl Weighter<u64, Vec<u8>> for Len {
        fn weight(&self, _: &u64, v: &Vec<u8>) -> u64 {
            v.len() as u64
        }
    }

    #[test]
    fn the_memory_tier_holds_its_bytes_and_refuses_what_is_bigger() {
        let m = memory_tier(64 << 10, Len);
        for k in 0..1000u64 {
            m.insert(k, vec![0; 1000]);
        }
        assert!(m.weight() <= 64 << 10, "{}", m.weight());
        assert!(m.weight() > 32 << 10, "{}", m.weight());
        m.insert(5000, vec![0; 65 << 10]);
        assert!(m.get(&5000).is_none());
    }
}
