//! The edge's Prometheus text exposition: what every role shares (responses, the chunk cache),
//! with the fabric and the proxy adding their own lines.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::cache::ChunkCache;

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
