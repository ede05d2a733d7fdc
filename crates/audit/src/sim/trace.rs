//! The trace the simulators replay: dense object ids and sizes, built from a stream of
//! requests with SHARDS spatial sampling (Waldspurger et al., FAST '15): an object is kept when
//! its hash falls under a threshold, so every request of a kept object is kept. In fixed-size
//! mode the threshold halves whenever the kept requests pass a budget, bounding memory however
//! long the log.

use std::collections::HashMap;

/// The hash space a threshold is a fraction of.
const SPACE: u64 = 1 << 24;

/// Collects a trace.
#[derive(Debug)]
pub struct TraceBuilder {
    threshold: u64,
    budget: usize,
    kept: Vec<(u64, u32)>,
    seen: u64,
    seen_bytes: u64,
}

impl TraceBuilder {
    /// Keeps objects at `rate` (1.0: all, exact), halving it whenever more than `budget`
    /// requests are kept.
    #[must_use]
    pub fn new(rate: f64, budget: usize) -> Self {
        Self {
            threshold: ((rate.clamp(0.0, 1.0) * SPACE as f64).round() as u64).max(1),
            budget: budget.max(1),
            kept: Vec::new(),
            seen: 0,
            seen_bytes: 0,
        }
    }

    /// A request for the object whose key hashes to `hash` (a well-mixed 64-bit hash).
    pub fn push(&mut self, hash: u64, size: u32) {
        self.seen += 1;
        self.seen_bytes += u64::from(size);
        if Self::bucket(hash) >= self.threshold {
            return;
        }
        self.kept.push((hash, size));
        if self.kept.len() > self.budget && self.threshold > 1 {
            self.threshold /= 2;
            let t = self.threshold;
            self.kept.retain(|&(h, _)| Self::bucket(h) < t);
        }
    }

    fn bucket(hash: u64) -> u64 {
        // The high bits: the low ones may feed a hash map's buckets elsewhere.
        hash >> 40
    }

    /// Requests seen so far (kept or not).
    #[must_use]
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The trace, with dense ids in order of first request.
    #[must_use]
    pub fn finish(self) -> Trace {
        let mut dense: HashMap<u64, u32> = HashMap::new();
        let mut ids = Vec::with_capacity(self.kept.len());
        let mut sizes = Vec::with_capacity(self.kept.len());
        for (h, s) in self.kept {
            let next = dense.len() as u32;
            ids.push(*dense.entry(h).or_insert(next));
            sizes.push(s);
        }
        Trace {
            objects: dense.len(),
            ids,
            sizes,
            rate: self.threshold as f64 / SPACE as f64,
            seen: self.seen,
            seen_bytes: self.seen_bytes,
        }
    }
}

/// Requests as dense object ids (`0..objects`) with their sizes.
#[derive(Debug, Clone)]
pub struct Trace {
    ids: Vec<u32>,
    sizes: Vec<u32>,
    objects: usize,
    rate: f64,
    seen: u64,
    seen_bytes: u64,
}

impl Trace {
    /// Object ids, one per request.
    #[must_use]
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Sizes, one per request.
    #[must_use]
    pub fn sizes(&self) -> &[u32] {
        &self.sizes
    }

    /// Requests kept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no request was kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Distinct objects kept.
    #[must_use]
    pub fn objects(&self) -> usize {
        self.objects
    }

    /// The share of objects kept (1.0: exact).
    #[must_use]
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Requests the builder saw.
    #[must_use]
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Requests and bytes a sample of this rate should hold: the denominators of SHARDS-adj
    /// (Waldspurger et al. §4.3), which counts the difference between them and what the sample
    /// holds — most often one hot object in or out — as hits.
    #[must_use]
    pub fn expected(&self) -> (f64, f64) {
        if self.rate >= 1.0 {
            (
                self.ids.len() as f64,
                self.sizes.iter().map(|&s| u64::from(s)).sum::<u64>() as f64,
            )
        } else {
            (
                self.seen as f64 * self.rate,
                self.seen_bytes as f64 * self.rate,
            )
        }
    }

    /// The bytes of every object kept, each counted once at its first size, scaled back to the
    /// whole trace: the working set.
    #[must_use]
    pub fn working_set(&self) -> u64 {
        let mut first = vec![false; self.objects];
        let mut sum = 0u64;
        for (&id, &s) in self.ids.iter().zip(&self.sizes) {
            if !std::mem::replace(&mut first[id as usize], true) {
                sum += u64::from(s);
            }
        }
        (sum as f64 / self.rate).round() as u64
    }

    /// Requests per object, most requested first: the popularity curve (of the sample, when
    /// sampled).
    #[must_use]
    pub fn popularity(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.objects];
        for &id in &self.ids {
            counts[id as usize] += 1;
        }
        counts.sort_unstable_by(|a, b| b.cmp(a));
        counts
    }

    /// Objects by size at their first request, in power-of-two buckets: `(lower bound, objects,
    /// requests)` for every bucket that has any.
    #[must_use]
    pub fn size_buckets(&self) -> Vec<(u64, u64, u64)> {
        let mut first = vec![u32::MAX; self.objects];
        for (&id, &s) in self.ids.iter().zip(&self.sizes) {
            if first[id as usize] == u32::MAX {
                first[id as usize] = s;
            }
        }
        let bucket = |s: u32| if s == 0 { 0 } else { 32 - s.leading_zeros() };
        let mut b = [(0u64, 0u64); 33];
        for &s in &first {
            b[bucket(s) as usize].0 += 1;
        }
        for &id in &self.ids {
            b[bucket(first[id as usize]) as usize].1 += 1;
        }
        b.iter()
            .enumerate()
            .filter(|(_, (o, _))| *o > 0)
            .map(|(i, &(o, r))| (if i == 0 { 0 } else { 1u64 << (i - 1) }, o, r))
            .collect()
    }

    /// For each request, the index of the next request for its object (`usize::MAX`: none).
    #[must_use]
    pub fn next_uses(&self) -> Vec<usize> {
        let mut next = vec![usize::MAX; self.ids.len()];
        let mut last = vec![usize::MAX; self.objects];
        for i in (0..self.ids.len()).rev() {
            let id = self.ids[i] as usize;
            next[i] = last[id];
            last[id] = i;
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(x: u64) -> u64 {
        // splitmix64's finaliser.
        let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    #[test]
    fn exact_traces_keep_everything_in_order() {
        let mut b = TraceBuilder::new(1.0, usize::MAX);
        for k in [5, 7, 5, 9] {
            b.push(mix(k), 10);
        }
        let t = b.finish();
        assert_eq!(t.ids(), &[0, 1, 0, 2]);
        assert_eq!((t.objects(), t.rate(), t.working_set()), (3, 1.0, 30));
        assert_eq!(t.next_uses(), vec![2, usize::MAX, usize::MAX, usize::MAX]);
    }

    #[test]
    fn popularity_and_size_buckets() {
        let mut b = TraceBuilder::new(1.0, usize::MAX);
        for (k, s) in [
            (1, 0),
            (2, 1),
            (2, 1),
            (3, 1000),
            (3, 5),
            (3, 1000),
            (4, 1024),
        ] {
            b.push(mix(k), s);
        }
        let t = b.finish();
        assert_eq!(t.popularity(), vec![3, 2, 1, 1]);
        // 0 | [1, 2) | [512, 1024) (1000 at its first size) | [1024, 2048)
        assert_eq!(
            t.size_buckets(),
            vec![(0, 1, 1), (1, 1, 2), (512, 1, 3), (1024, 1, 1)]
        );
    }

    #[test]
    fn a_budget_halves_the_rate_and_keeps_whole_objects() {
        let mut b = TraceBuilder::new(1.0, 1000);
        for i in 0..100_000u64 {
            b.push(mix(i % 5000), 1);
        }
        let t = b.finish();
        assert!(t.len() <= 1000, "{}", t.len());
        assert!(t.rate() < 0.05);
        assert_eq!(t.seen(), 100_000);
        // Every kept object is kept at each of its 20 requests.
        let mut count = vec![0; t.objects()];
        t.ids().iter().for_each(|&i| count[i as usize] += 1);
        assert!(count.iter().all(|&c| c == 20));
        // The working set, scaled back, is near the real one (5000).
        let ws = t.working_set() as f64;
        assert!((ws - 5000.0).abs() / 5000.0 < 0.5, "{ws}");
    }
}
