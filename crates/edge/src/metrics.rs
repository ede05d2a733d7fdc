//! The edge's Prometheus text exposition: what every role shares (responses, the chunk cache),
//! with the fabric and the proxy adding their own lines.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::cache::ChunkCache;
use crate::proxy::Proxy;

/// A Prometheus text exposition being written; every line carries `role="edge"`.
#[derive(Debug, Default)]
pub(crate) struct Exposition {
    out: String,
}

impl Exposition {
    /// One metric family: its help and type lines, then one sample per `(labels, value)`, where
    /// `labels` is empty or starts with a comma (`,tier="memory"`).
    pub(crate) fn metric(&mut self, name: &str, help: &str, kind: &str, lines: Vec<(String, u64)>) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in lines {
            let _ = writeln!(self.out, "{name}{{role=\"edge\"{labels}}} {v}");
        }
    }

    /// Lines already formatted (a histogram).
    pub(crate) fn raw(&mut self, text: &str) {
        self.out.push_str(text);
    }

    /// The text.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// The chunk cache's lines: lookups by tier, coalesced waiters, evictions, write errors, bytes.
pub(crate) fn cache(e: &mut Exposition, cache: &ChunkCache) {
    let c = &cache.counters;
    e.metric(
        "tinycdn_cache_chunks_total",
        "Chunk lookups by outcome.",
        "counter",
        vec![
            (
                ",tier=\"memory\",result=\"hit\"".into(),
                c.memory_hits.load(Ordering::Relaxed),
            ),
            (
                ",tier=\"disk\",result=\"hit\"".into(),
                c.disk_hits.load(Ordering::Relaxed),
            ),
            (
                ",tier=\"upstream\",result=\"miss\"".into(),
                c.misses.load(Ordering::Relaxed),
            ),
        ],
    );
    e.metric(
        "tinycdn_coalesced_waiters_total",
        "Requests that waited for another request's fill of the same chunk.",
        "counter",
        vec![(String::new(), c.coalesced.load(Ordering::Relaxed))],
    );
    e.metric(
        "tinycdn_disk_evictions_total",
        "Chunks evicted from the disk tier.",
        "counter",
        vec![(String::new(), c.disk_evictions.load(Ordering::Relaxed))],
    );
    e.metric(
        "tinycdn_scrub_chunks_total",
        "Disk chunks the background scrub re-hashed.",
        "counter",
        vec![(String::new(), c.scrubbed_chunks.load(Ordering::Relaxed))],
    );
    e.metric(
        "tinycdn_scrub_bytes_total",
        "Bytes the background scrub re-hashed.",
        "counter",
        vec![(String::new(), c.scrubbed_bytes.load(Ordering::Relaxed))],
    );
    e.metric(
        "tinycdn_scrub_passes_total",
        "Completed scrub passes over the disk tier.",
        "counter",
        vec![(String::new(), c.scrub_passes.load(Ordering::Relaxed))],
    );
    e.metric(
        "tinycdn_disk_write_errors_total",
        "Disk-tier writes that failed (the edge kept serving).",
        "counter",
        vec![(String::new(), c.disk_write_errors.load(Ordering::Relaxed))],
    );
    e.metric(
        "tinycdn_cache_bytes",
        "Bytes held per tier.",
        "gauge",
        vec![
            (",tier=\"memory\"".into(), cache.memory_bytes()),
            (",tier=\"disk\"".into(), cache.disk_bytes()),
        ],
    );
}

/// The proxy's lines: what it answered and how, the origin's health, stored responses.
pub(crate) fn proxy(e: &mut Exposition, p: &Proxy) {
    let c = &p.counters;
    let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    e.metric(
        "tinycdn_proxy_requests_total",
        "Cacheable requests by how they were answered.",
        "counter",
        vec![
            (",result=\"hit\"".into(), n(&c.hits)),
            (",result=\"stale\"".into(), n(&c.stale_hits)),
            (",result=\"stale_on_error\"".into(), n(&c.stale_on_error)),
            (",result=\"miss\"".into(), n(&c.misses)),
            (",result=\"revalidated\"".into(), n(&c.revalidated)),
            (",result=\"pass\"".into(), n(&c.passed)),
        ],
    );
    e.metric(
        "tinycdn_proxy_collapsed_total",
        "Requests that waited on another request's origin exchange for the same key.",
        "counter",
        vec![(String::new(), n(&c.collapsed))],
    );
    e.metric(
        "tinycdn_proxy_origin_requests_total",
        "Requests sent to the origin, and those that failed (connect, timeout, broken response, 502-504).",
        "counter",
        vec![
            (",result=\"sent\"".into(), n(&p.origin().requests)),
            (",result=\"failed\"".into(), n(&p.origin().failures)),
        ],
    );
    e.metric(
        "tinycdn_proxy_origin_healthy",
        "Whether the origin is in use (1) or backed off after failing (0).",
        "gauge",
        vec![(String::new(), u64::from(!p.origin().backed_off()))],
    );
    e.metric(
        "tinycdn_proxy_stored_total",
        "Responses stored, and bodies that broke off or stalled (nothing stored).",
        "counter",
        vec![
            (",result=\"stored\"".into(), n(&c.stored)),
            (",result=\"too_big\"".into(), n(&c.not_stored_too_big)),
            (",result=\"memory_budget\"".into(), n(&c.not_stored_busy)),
            (",result=\"body_error\"".into(), n(&c.fill_errors)),
        ],
    );
    e.metric(
        "tinycdn_proxy_removed_total",
        "Stored responses removed, by why.",
        "counter",
        vec![
            (",why=\"invalidated\"".into(), n(&c.invalidated)),
            (",why=\"purged\"".into(), n(&c.purged)),
            (",why=\"evicted\"".into(), p.evicted()),
            (",why=\"unreadable_at_start\"".into(), p.dropped_at_start()),
        ],
    );
    e.metric(
        "tinycdn_proxy_fill_bytes",
        "Bytes that fills being stored hold in memory now (bounded by --memory).",
        "gauge",
        vec![(String::new(), p.fill_bytes())],
    );
    e.metric(
        "tinycdn_proxy_stored_responses",
        "Responses stored now.",
        "gauge",
        vec![(String::new(), p.stored_responses() as u64)],
    );
}
