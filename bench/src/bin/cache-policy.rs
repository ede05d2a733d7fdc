//! Measures the edge's memory-tier policy: byte hit ratio of `quick_cache` (what the edge uses)
//! against a plain LRU and a FIFO of the same byte capacity, on request streams shaped like media
//! traffic: Zipf popularity over objects of media-like sizes, with and without a one-off scan (a
//! crawler or a batch job touching every object once) in the middle.
//!
//! Usage: `cache-policy` (deterministic; prints a Markdown table).

use std::collections::{HashMap, VecDeque};

use quick_cache::sync::Cache;
use quick_cache::Weighter;

#[derive(Clone, Copy)]
struct W;
impl Weighter<u64, u64> for W {
    fn weight(&self, _: &u64, v: &u64) -> u64 {
        *v
    }
}

/// xorshift64*, for a deterministic stream.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

trait Policy {
    fn access(&mut self, key: u64, size: u64) -> bool;
}

struct Quick(Cache<u64, u64, W>);
impl Policy for Quick {
    fn access(&mut self, key: u64, size: u64) -> bool {
        if self.0.get(&key).is_some() {
            return true;
        }
        self.0.insert(key, size);
        false
    }
}

struct Lru {
    cache: lru::LruCache<u64, u64>,
    used: u64,
    cap: u64,
}
impl Policy for Lru {
    fn access(&mut self, key: u64, size: u64) -> bool {
        if self.cache.get(&key).is_some() {
            return true;
        }
        while self.used + size > self.cap {
            match self.cache.pop_lru() {
                Some((_, s)) => self.used -= s,
                None => break,
            }
        }
        self.cache.put(key, size);
        self.used += size;
        false
    }
}

struct Fifo {
    order: VecDeque<u64>,
    sizes: HashMap<u64, u64>,
    used: u64,
    cap: u64,
}
impl Policy for Fifo {
    fn access(&mut self, key: u64, size: u64) -> bool {
        if self.sizes.contains_key(&key) {
            return true;
        }
        while self.used + size > self.cap {
            match self.order.pop_front() {
                Some(k) => self.used -= self.sizes.remove(&k).unwrap_or(0),
                None => break,
            }
        }
        self.order.push_back(key);
        self.sizes.insert(key, size);
        self.used += size;
        false
    }
}

fn stream(
    objects: usize,
    requests: usize,
    skew: f64,
    scan: bool,
    seed: u64,
) -> (Vec<(u64, u64)>, u64) {
    let mut rng = Rng(seed);
    // Media-like sizes: mostly thumbnails, some hero images, a few clips' chunks.
    let sizes: Vec<u64> = (0..objects)
        .map(|_| {
            let u = rng.unit();
            if u < 0.7 {
                8_192 + rng.next() % 200_000
            } else if u < 0.95 {
                500_000 + rng.next() % 2_500_000
            } else {
                262_144 + rng.next() % 786_432
            }
        })
        .collect();
    let weights: Vec<f64> = (1..=objects).map(|r| 1.0 / (r as f64).powf(skew)).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(objects);
    let mut acc = 0.0;
    for w in &weights {
        acc += w / total;
        cdf.push(acc);
    }
    let mut out = Vec::with_capacity(requests + objects);
    for i in 0..requests {
        if scan && i == requests / 2 {
            out.extend((0..objects as u64).map(|k| (k, sizes[k as usize])));
        }
        let u = rng.unit();
        let k = cdf.partition_point(|c| *c < u).min(objects - 1);
        out.push((k as u64, sizes[k]));
    }
    (out, sizes.iter().sum())
}

fn ratio(p: &mut dyn Policy, s: &[(u64, u64)]) -> f64 {
    let (mut hit, mut all) = (0u64, 0u64);
    for (k, size) in s {
        all += size;
        if p.access(*k, *size) {
            hit += size;
        }
    }
    hit as f64 / all as f64
}

fn main() {
    println!("| workload | cache / working set | quick_cache | LRU | FIFO |");
    println!("|---|---|---|---|---|");
    for (name, skew, scan) in [
        ("Zipf 0.8", 0.8, false),
        ("Zipf 1.0", 1.0, false),
        ("Zipf 0.8 + one scan", 0.8, true),
    ] {
        let (s, working) = stream(20_000, 400_000, skew, scan, 7);
        for frac in [0.05, 0.2] {
            let cap = (working as f64 * frac) as u64;
            let mut q = Quick(Cache::with_weighter(20_000, cap, W));
            let mut l = Lru {
                cache: lru::LruCache::unbounded(),
                used: 0,
                cap,
            };
            let mut f = Fifo {
                order: VecDeque::new(),
                sizes: HashMap::new(),
                used: 0,
                cap,
            };
            println!(
                "| {name} | {:.0}% | {:.1}% | {:.1}% | {:.1}% |",
                frac * 100.0,
                ratio(&mut q, &s) * 100.0,
                ratio(&mut l, &s) * 100.0,
                ratio(&mut f, &s) * 100.0
            );
        }
    }
}
