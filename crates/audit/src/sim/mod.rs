//! Cache simulation: a trace of (object, size) requests, the policies a user could run, and
//! miss-ratio curves over cache sizes.
//!
//! Semantics follow libCacheSim's (the peer the numbers are checked against): a hit changes no
//! size; a miss whose object is larger than the cache is not admitted; otherwise objects are
//! evicted until the new one fits, then it is inserted. Capacities are in bytes.

mod belady;
mod edge;
mod list;
mod queue;
mod s3fifo;
mod sieve;
mod tinylfu;
mod trace;

pub use trace::{Trace, TraceBuilder};

/// A policy, fed one request at a time.
pub trait Policy {
    /// Serves request number `index` of the trace for `id` (`size` bytes); `true` on a hit.
    fn access(&mut self, index: usize, id: u32, size: u32) -> bool;
}

pub use tinycdn_tier::DiskKind;

/// The edge's memory tier as a share of its disk tier by default (512 MiB to 10 GiB), in
/// thousandths.
pub const EDGE_MEMORY_PERMILLE: u16 = 50;

/// The policies simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Least recently used.
    Lru,
    /// First in, first out (the edge's disk tier before issue 13: `edge-fifo`).
    Fifo,
    /// SIEVE (Zhang et al., NSDI '24).
    Sieve,
    /// S3-FIFO (Yang et al., SOSP '23), libCacheSim's parameters.
    S3Fifo,
    /// A W-TinyLFU: 1 % LRU window, segmented LRU main, count-min admission (Einziger et al.).
    WTinyLfu,
    /// Belady's MIN, the offline optimum for unit sizes and the usual bound with sizes.
    Belady,
    /// The edge's two tiers with their real code: memory (`memory_permille` of the size) in
    /// front of the disk tier (the size) kept by `disk`.
    Edge {
        /// The disk tier's policy.
        disk: DiskKind,
        /// Memory as thousandths of the disk tier.
        memory_permille: u16,
    },
}

impl Kind {
    /// The edge as it ships (its default disk policy and memory share).
    pub const EDGE: Kind = Kind::Edge {
        disk: DiskKind::S3Fifo,
        memory_permille: EDGE_MEMORY_PERMILLE,
    };

    /// Every policy simulated by default.
    pub const ALL: [Kind; 7] = [
        Kind::Lru,
        Kind::Fifo,
        Kind::Sieve,
        Kind::S3Fifo,
        Kind::WTinyLfu,
        Kind::Belady,
        Kind::EDGE,
    ];

    /// The edge with each disk policy it offers (memory share as shipped).
    #[must_use]
    pub fn edge_variants() -> [Kind; 3] {
        DiskKind::ALL.map(|disk| Kind::Edge {
            disk,
            memory_permille: EDGE_MEMORY_PERMILLE,
        })
    }

    /// This kind with the edge's memory share set (other kinds unchanged).
    #[must_use]
    pub fn with_edge_memory(self, permille: u16) -> Self {
        match self {
            Kind::Edge { disk, .. } => Kind::Edge {
                disk,
                memory_permille: permille,
            },
            k => k,
        }
    }

    /// The name used in output and on the command line.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Kind::Lru => "lru",
            Kind::Fifo => "fifo",
            Kind::Sieve => "sieve",
            Kind::S3Fifo => "s3-fifo",
            Kind::WTinyLfu => "w-tinylfu",
            Kind::Belady => "belady",
            Kind::Edge { disk, .. } if disk == DiskKind::default() => "edge",
            Kind::Edge { disk, .. } => match disk {
                DiskKind::Fifo => "edge-fifo",
                DiskKind::Sieve => "edge-sieve",
                DiskKind::S3Fifo => "edge-s3-fifo",
            },
        }
    }

    /// A policy of this kind for `trace` with `capacity` bytes.
    #[must_use]
    pub fn make(self, trace: &Trace, capacity: u64) -> Box<dyn Policy> {
        let n = trace.objects();
        match self {
            Kind::Lru => Box::new(queue::Queue::lru(n, capacity)),
            Kind::Fifo => Box::new(queue::Queue::fifo(n, capacity)),
            Kind::Sieve => Box::new(sieve::Sieve::new(n, capacity)),
            Kind::S3Fifo => Box::new(s3fifo::S3Fifo::new(n, capacity)),
            Kind::WTinyLfu => {
                let mean = trace.working_set() as f64 * trace.rate() / n.max(1) as f64;
                Box::new(tinylfu::WTinyLfu::new(n, capacity, mean))
            }
            Kind::Belady => Box::new(belady::Belady::new(trace, capacity)),
            Kind::Edge {
                disk,
                memory_permille,
            } => {
                let memory = capacity.saturating_mul(u64::from(memory_permille)) / 1000;
                Box::new(edge::Edge::new(disk, capacity, memory))
            }
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        // `edge-s3-fifo` is the edge as it ships: `edge`.
        let s = if s == "edge-s3-fifo" { "edge" } else { s };
        Kind::ALL
            .into_iter()
            .chain(Kind::edge_variants())
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown policy {s:?}"))
    }
}

/// One point of a miss-ratio curve.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Point {
    /// The policy.
    pub policy: &'static str,
    /// The cache size simulated (of the whole trace; a sampled trace ran at this times its rate).
    pub cache_bytes: u64,
    /// Requests that missed / requests.
    pub object_miss_ratio: f64,
    /// Bytes that missed / bytes requested.
    pub byte_miss_ratio: f64,
}

/// Runs `kind` over `trace` with a cache of `cache_bytes` (scaled by the trace's sampling rate).
#[must_use]
pub fn simulate(trace: &Trace, kind: Kind, cache_bytes: u64) -> Point {
    let capacity = (cache_bytes as f64 * trace.rate()).round() as u64;
    let mut p = kind.make(trace, capacity);
    let (mut miss, mut miss_bytes, mut bytes) = (0u64, 0u64, 0u64);
    for (i, (&id, &size)) in trace.ids().iter().zip(trace.sizes()).enumerate() {
        bytes += u64::from(size);
        if !p.access(i, id, size) {
            miss += 1;
            miss_bytes += u64::from(size);
        }
    }
    // Exact traces divide by what they hold; samples by what they should hold (SHARDS-adj).
    let (n, b) = if trace.rate() >= 1.0 {
        (trace.len() as f64, bytes as f64)
    } else {
        trace.expected()
    };
    let ratio = |x: u64, of: f64| {
        if of > 0.0 {
            (x as f64 / of).min(1.0)
        } else {
            0.0
        }
    };
    Point {
        policy: kind.name(),
        cache_bytes,
        object_miss_ratio: ratio(miss, n),
        byte_miss_ratio: ratio(miss_bytes, b),
    }
}

/// Every (policy, size) pair, on `threads` threads; points in the order asked.
#[must_use]
pub fn curves(trace: &Trace, kinds: &[Kind], sizes: &[u64], threads: usize) -> Vec<Point> {
    let jobs: Vec<(Kind, u64)> = kinds
        .iter()
        .flat_map(|&k| sizes.iter().map(move |&s| (k, s)))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out = std::sync::Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, jobs.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&(k, size)) = jobs.get(i) else { break };
                let p = simulate(trace, k, size);
                out.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(p);
            });
        }
    });
    out.into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .flatten()
        .collect()
}

/// Admits or refuses by size, and evicts by `evict` until `size` fits: the shape every
/// single-queue policy shares. Returns `false` when the object is not admitted.
fn make_room(
    used: &mut u64,
    capacity: u64,
    size: u32,
    mut evict: impl FnMut() -> Option<u32>,
) -> bool {
    let size = u64::from(size);
    if size > capacity {
        return false;
    }
    while *used + size > capacity {
        match evict() {
            Some(freed) => *used -= u64::from(freed),
            None => return false,
        }
    }
    *used += size;
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(reqs: &[(u64, u32)]) -> Trace {
        let mut b = TraceBuilder::new(1.0, usize::MAX);
        for &(k, s) in reqs {
            b.push(k, s);
        }
        b.finish()
    }

    #[test]
    fn a_textbook_sequence() {
        // 1 2 3 1 4 1 2 with room for three unit objects.
        let t = trace(&[(1, 1), (2, 1), (3, 1), (1, 1), (4, 1), (1, 1), (2, 1)]);
        let miss = |k| (simulate(&t, k, 3).object_miss_ratio * 7.0).round() as u32;
        assert_eq!(miss(Kind::Lru), 5, "4 evicts 2, then 2 misses");
        assert_eq!(miss(Kind::Fifo), 6, "4 evicts 1, 1 evicts 2");
        assert_eq!(miss(Kind::Belady), 4, "4 evicts 3 (never again)");
    }

    #[test]
    fn an_object_larger_than_the_cache_always_misses() {
        let t = trace(&[(1, 100), (1, 100), (2, 1), (2, 1)]);
        for k in Kind::ALL {
            let p = simulate(&t, k, 50);
            assert_eq!(p.object_miss_ratio, 0.75, "{k:?}");
            assert!((p.byte_miss_ratio - 201.0 / 202.0).abs() < 1e-9, "{k:?}");
        }
    }

    /// The disk tier's policy on its own, fed as a single cache.
    struct Disk(tinycdn_tier::DiskPolicy<u64>);

    impl Policy for Disk {
        fn access(&mut self, _: usize, id: u32, size: u32) -> bool {
            let k = u64::from(id);
            self.0.touch(&k) || {
                self.0.admit(k, u64::from(size), &mut Vec::new());
                false
            }
        }
    }

    proptest::proptest! {
        /// The edge's disk policies decide exactly as the reference simulators of the same
        /// names (the ones checked against libCacheSim), for entries that fit S3-FIFO's small
        /// queue (the edge admits bigger ones to main, where libCacheSim refuses them).
        #[test]
        fn the_edge_disk_policies_are_the_reference_ones(
            reqs in proptest::collection::vec((0u64..80, 1u32..40), 1..600),
            cap in 400u64..2000,
        ) {
            let t = trace(&reqs);
            for (disk, reference) in [
                (DiskKind::Fifo, Kind::Fifo),
                (DiskKind::Sieve, Kind::Sieve),
                (DiskKind::S3Fifo, Kind::S3Fifo),
            ] {
                let mut ours = Disk(tinycdn_tier::DiskPolicy::new(disk, cap));
                let mut theirs = reference.make(&t, cap);
                for (i, (&id, &size)) in t.ids().iter().zip(t.sizes()).enumerate() {
                    proptest::prop_assert_eq!(
                        ours.access(i, id, size), theirs.access(i, id, size),
                        "{:?} at request {}", disk, i
                    );
                }
            }
        }

        /// No policy that admits every object beats Belady with unit sizes; all agree on an
        /// infinite cache (only cold misses), and a bigger cache never hurts LRU (its stack
        /// property).
        #[test]
        fn bounds(reqs in proptest::collection::vec(0u64..40, 1..400), cap in 1u64..30) {
            let t = trace(&reqs.iter().map(|&k| (k, 1)).collect::<Vec<_>>());
            let cold = reqs.iter().collect::<std::collections::HashSet<_>>().len() as f64 / reqs.len() as f64;
            let opt = simulate(&t, Kind::Belady, cap).object_miss_ratio;
            for k in Kind::ALL {
                let m = simulate(&t, k, cap).object_miss_ratio;
                if matches!(k, Kind::Lru | Kind::Fifo | Kind::Sieve) {
                    proptest::prop_assert!(m + 1e-12 >= opt, "{:?} {} < belady {}", k, m, opt);
                }
                proptest::prop_assert!(m + 1e-12 >= cold);
                let inf = simulate(&t, k, 1 << 40).object_miss_ratio;
                proptest::prop_assert!((inf - cold).abs() < 1e-12, "{:?}", k);
            }
            let small = simulate(&t, Kind::Lru, cap).object_miss_ratio;
            let big = simulate(&t, Kind::Lru, cap + 1).object_miss_ratio;
            proptest::prop_assert!(big <= small + 1e-12);
        }
    }
}
