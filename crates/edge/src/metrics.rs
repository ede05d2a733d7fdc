//! The edge's metric families: what every role shares (the chunk cache), the proxy's; the
//! fabric and the image engine add their own. Encoded by `tinycdn-telemetry`.

use std::sync::atomic::Ordering;

pub(crate) use tinycdn_telemetry::{Exposition, Kind};

use crate::cache::ChunkCache;
use crate::proxy::Proxy;

/// The chunk cache's lines: lookups by tier, coalesced waiters, evictions, write errors, bytes.
pub(crate) fn cache(e: &mut Exposition, cache: &ChunkCache) {
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

/// The proxy's lines: what it answered and how, the origin's health, stored responses.
/// One sample of a per-site family: an extra label (`""` for none), its value, and how a site's
/// proxy counts it.
type Row<'a> = (&'static str, &'a str, &'a dyn Fn(&Proxy) -> u64);

/// The labels and value of one sample.
type Sample = (Vec<(&'static str, String)>, u64);

pub(crate) fn proxy(e: &mut Exposition, proxies: &[(&str, &Proxy)]) {
    let Some((_, first)) = proxies.first() else {
        return;
    };
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    // Rows of one metric, a set per site: `(extra label, value of the site's proxy)`.
    let per_site = |rows: &[Row<'_>]| -> Vec<Sample> {
        proxies
            .iter()
            .flat_map(|(site, p)| {
                rows.iter().map(move |(key, value, f)| {
                    let mut labels = vec![("site", (*site).to_owned())];
                    if !key.is_empty() {
                        labels.push((*key, (*value).to_owned()));
                    }
                    (labels, f(p))
                })
            })
            .collect()
    };
    e.metric(
        "tinycdn_proxy_requests_total",
        "Cacheable requests by how they were answered.",
        Kind::Counter,
        per_site(&[
            ("result", "hit", &|p| n(&p.counters.hits)),
            ("result", "stale", &|p| n(&p.counters.stale_hits)),
            ("result", "stale_on_error", &|p| {
                n(&p.counters.stale_on_error)
            }),
            ("result", "miss", &|p| n(&p.counters.misses)),
            ("result", "revalidated", &|p| n(&p.counters.revalidated)),
            ("result", "pass", &|p| n(&p.counters.passed)),
        ]),
    );
    e.metric(
        "tinycdn_proxy_collapsed_total",
        "Requests that waited on another request's origin exchange for the same key.",
        Kind::Counter,
        per_site(&[("", "", &|p| n(&p.counters.collapsed))]),
    );
    e.metric(
        "tinycdn_proxy_origin_requests_total",
        "Requests sent to the origin, and those that failed (connect, timeout, broken response, 502-504).",
        Kind::Counter,
        per_site(&[
            ("result", "sent", &|p| n(&p.origin().requests)),
            ("result", "failed", &|p| n(&p.origin().failures)),
        ]),
    );
    e.metric(
        "tinycdn_proxy_origin_healthy",
        "Whether the origin is in use (1) or backed off after failing (0).",
        Kind::Gauge,
        per_site(&[("", "", &|p| u64::from(!p.origin().backed_off()))]),
    );
    e.metric(
        "tinycdn_proxy_stored_total",
        "Responses stored, and bodies that broke off or stalled (nothing stored).",
        Kind::Counter,
        per_site(&[
            ("result", "stored", &|p| n(&p.counters.stored)),
            ("result", "too_big", &|p| n(&p.counters.not_stored_too_big)),
            ("result", "memory_budget", &|p| {
                n(&p.counters.not_stored_busy)
            }),
            ("result", "body_error", &|p| n(&p.counters.fill_errors)),
        ]),
    );
    let mut removed = per_site(&[
        ("why", "invalidated", &|p| n(&p.counters.invalidated)),
        ("why", "purged", &|p| n(&p.counters.purged)),
    ]);
    // The store is shared by every site's proxy.
    removed.push((vec![("why", "evicted".into())], first.evicted()));
    removed.push((
        vec![("why", "unreadable_at_start".into())],
        first.dropped_at_start(),
    ));
    e.metric(
        "tinycdn_proxy_removed_total",
        "Stored responses removed, by why.",
        Kind::Counter,
        removed,
    );
    e.metric(
        "tinycdn_proxy_purge_refused_total",
        "Purge requests refused: a wrong token, or too many wrong ones from one address.",
        Kind::Counter,
        per_site(&[("", "", &|p| n(&p.counters.purge_refused))]),
    );
    e.metric(
        "tinycdn_proxy_fill_bytes",
        "Bytes that fills being stored hold in memory now (bounded by half of --memory).",
        Kind::Gauge,
        vec![(vec![], first.fill_bytes())],
    );
    e.metric(
        "tinycdn_proxy_stored_responses",
        "Responses stored now.",
        Kind::Gauge,
        vec![(vec![], first.stored_responses() as u64)],
    );
    e.metric(
        "tinycdn_proxy_index_bytes",
        "Memory the index of stored responses holds (keys, fields; bounded at 256 MiB).",
        Kind::Gauge,
        vec![(vec![], first.index_bytes())],
    );
}
