//! The chunk cache's metric families (encoded by `tinycdn-telemetry`).

use std::sync::atomic::Ordering;

use tinycdn_telemetry::{Exposition, Kind};

use super::ChunkCache;

/// The chunk cache's lines: lookups by tier, coalesced waiters, evictions, write errors, bytes.
pub fn render(e: &mut Exposition, cache: &ChunkCache) {
    let c = &cache.counters;
    e.metric(
        "tinycdn_cache_chunks_total",
        "Chunk lookups by outcome.",
        Kind::Counter,
        vec![
            (
                vec![("tier", "memory".into()), ("result", "hit".into())],
                c.memory_hits.load(Ordering::Relaxed),
            ),
            (
                vec![("tier", "disk".into()), ("result", "hit".into())],
                c.disk_hits.load(Ordering::Relaxed),
            ),
            (
                vec![("tier", "upstream".into()), ("result", "miss".into())],
                c.misses.load(Ordering::Relaxed),
            ),
        ],
    );
    let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let by =
        |t: &'static str, r: &'static str| vec![("tier", t.to_owned()), ("result", r.to_owned())];
    let bytes = [
        (by("memory", "hit"), l(&c.memory_hit_bytes)),
        (by("disk", "hit"), l(&c.disk_hit_bytes)),
        (by("memory", "collapsed"), l(&c.coalesced_bytes)),
        (by("upstream", "miss"), l(&c.miss_bytes)),
    ];
    let hit_bytes = bytes[..3].iter().map(|(_, v)| v).sum::<u64>();
    let hits = l(&c.memory_hits) + l(&c.disk_hits) + l(&c.coalesced);
    e.metric(
        "tinycdn_cache_chunk_bytes_total",
        "Bytes of chunk lookups by tier and outcome (filled bytes under tier upstream).",
        Kind::Counter,
        bytes.to_vec(),
    );
    let ratio = |hit: u64, all: u64| {
        if all == 0 {
            0.0
        } else {
            hit as f64 / all as f64
        }
    };
    e.metric_f64(
        "tinycdn_cache_hit_ratio",
        "Chunk lookups answered without upstream since start, by requests and by bytes (the cost model's hit ratio; rate the counters for a window).",
        Kind::Gauge,
        vec![
            (vec![("unit", "requests".to_owned())], ratio(hits, hits + l(&c.misses))),
            (vec![("unit", "bytes".to_owned())], ratio(hit_bytes, hit_bytes + l(&c.miss_bytes))),
        ],
    );
    e.metric(
        "tinycdn_fills_in_flight",
        "Chunk fills from upstream running now.",
        Kind::Gauge,
        vec![(vec![], l(&c.fills_in_flight))],
    );
    e.metric(
        "tinycdn_coalesced_waiters_total",
        "Requests that waited for another request's fill of the same chunk.",
        Kind::Counter,
        vec![(vec![], c.coalesced.load(Ordering::Relaxed))],
    );
    e.metric(
        "tinycdn_disk_evictions_total",
        "Chunks evicted from the disk tier.",
        Kind::Counter,
        vec![(vec![], c.disk_evictions.load(Ordering::Relaxed))],
    );
    e.metric(
        "tinycdn_scrub_chunks_total",
        "Disk chunks the background scrub re-hashed.",
        Kind::Counter,
        vec![(vec![], c.scrubbed_chunks.load(Ordering::Relaxed))],
    );
    e.metric(
        "tinycdn_scrub_bytes_total",
        "Bytes the background scrub re-hashed.",
        Kind::Counter,
        vec![(vec![], c.scrubbed_bytes.load(Ordering::Relaxed))],
    );
    e.metric(
        "tinycdn_scrub_passes_total",
        "Completed scrub passes over the disk tier.",
        Kind::Counter,
        vec![(vec![], c.scrub_passes.load(Ordering::Relaxed))],
    );
    e.metric(
        "tinycdn_disk_write_errors_total",
        "Disk-tier writes that failed (the edge kept serving).",
        Kind::Counter,
        vec![(vec![], c.disk_write_errors.load(Ordering::Relaxed))],
    );
    e.metric(
        "tinycdn_cache_bytes",
        "Bytes held per tier.",
        Kind::Gauge,
        vec![
            (vec![("tier", "memory".into())], cache.memory_bytes()),
            (vec![("tier", "disk".into())], cache.disk_bytes()),
            (
                vec![("tier", "disk-metadata".into())],
                cache.meta_disk_bytes(),
            ),
        ],
    );
    e.metric(
        "tinycdn_cache_meta_refused_total",
        "Metadata records not written because records held their share (a quarter) of --cache-size.",
        Kind::Counter,
        vec![(vec![], c.meta_refused.load(Ordering::Relaxed))],
    );
}
