//! The proxy's metric families, one set per site (encoded by `tinycdn-telemetry`).

use std::sync::atomic::Ordering;

use tinycdn_telemetry::{Exposition, Kind};

use super::Proxy;

/// One sample of a per-site family: an extra label (`""` for none), its value, and how a site's
/// proxy counts it.
type Row<'a> = (&'static str, &'a str, &'a dyn Fn(&Proxy) -> u64);

/// The labels and value of one sample.
type Sample = (Vec<(&'static str, String)>, u64);

/// The proxy's families, one set of samples per site (`proxies`: site name and its proxy).
pub fn render(e: &mut Exposition, proxies: &[(&str, &Proxy)]) {
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
