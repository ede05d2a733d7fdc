//! The fabric's Prometheus lines: upstream bytes, health, latency and lies, and the version and
//! expiry of the trust records in use.

use std::sync::atomic::Ordering;

use tinycdn_core::snapshot::SignedSnapshot;

use super::Fabric;
use tinycdn_telemetry::{Exposition, HistogramValue, Kind};

impl Fabric {
    /// Adds the fabric's lines to `e`.
    pub(crate) fn metrics(&self, e: &mut Exposition) {
        if let Some(r) = &self.region {
            r.metrics(e);
        }
        let c = &self.cache.counters;
        e.metric(
            "tinycdn_upstream_fetched_bytes_total",
            "Verified bytes fetched from upstream.",
            Kind::Counter,
            vec![(vec![], self.upstreams.fetched_bytes())],
        );
        let mirrors = self.upstreams.mirrors();
        e.metric(
            "tinycdn_verification_failures_total",
            "Upstream responses whose bytes did not verify, by upstream.",
            Kind::Counter,
            mirrors
                .iter()
                .map(|m| (vec![("upstream", m.base().to_owned())], m.lies()))
                .chain(std::iter::once((
                    vec![("upstream", "disk".into())],
                    c.disk_corrupt.load(Ordering::Relaxed),
                )))
                .collect(),
        );
        e.metric(
            "tinycdn_upstream_healthy",
            "Whether an upstream is in use (1) or backed off (0).",
            Kind::Gauge,
            mirrors
                .iter()
                .map(|m| {
                    (
                        vec![("upstream", m.base().to_owned())],
                        u64::from(m.is_healthy()),
                    )
                })
                .collect(),
        );
        e.metric(
            "tinycdn_upstream_latency_microseconds",
            "Smoothed (EWMA) fill latency by upstream.",
            Kind::Gauge,
            mirrors
                .iter()
                .map(|m| (vec![("upstream", m.base().to_owned())], m.latency_us()))
                .collect(),
        );
        let (ts, snap) = {
            let f = self.lock_meta();
            (
                f.timestamp.as_ref().map(|(_, t, _)| t.clone()),
                f.snapshot
                    .as_ref()
                    .and_then(|b| SignedSnapshot::from_bytes(b).ok()),
            )
        };
        let trust = self.trust();
        let root = trust.root();
        let records = [
            ("root", root.map(|r| (r.root.version, r.root.expires))),
            (
                "timestamp",
                ts.map(|t| (t.timestamp.version, t.timestamp.expires)),
            ),
            (
                "snapshot",
                snap.map(|s| (s.snapshot.version, s.snapshot.expires)),
            ),
        ];
        e.metric(
            "tinycdn_trust_version",
            "Version of the newest verified trust record in use (root, timestamp, snapshot).",
            Kind::Gauge,
            records
                .iter()
                .filter_map(|(name, r)| r.map(|(v, _)| (vec![("record", (*name).to_owned())], v)))
                .collect(),
        );
        e.metric(
            "tinycdn_trust_expires_timestamp_seconds",
            "When that record expires (Unix seconds): alert well before it.",
            Kind::Gauge,
            records
                .iter()
                .filter_map(|(name, r)| {
                    r.map(|(_, at)| {
                        (
                            vec![("record", (*name).to_owned())],
                            u64::try_from(at).unwrap_or(0),
                        )
                    })
                })
                .collect(),
        );
        e.metric(
            "tinycdn_trust_root_steps_removed_total",
            "Stored trust root rotations that were not valid successors at start, removed.",
            Kind::Counter,
            vec![(
                vec![],
                self.bad_stored_roots
                    .load(std::sync::atomic::Ordering::Relaxed),
            )],
        );
        if let Some(log) = &self.log {
            e.metric(
                "tinycdn_log_split_view",
                "1 while the origin's log does not extend the checkpoint this edge holds.",
                Kind::Gauge,
                vec![(vec![], u64::from(log.split_view()))],
            );
            e.metric(
                "tinycdn_log_split_views_total",
                "Checkpoints refused because they did not extend the one held (forks, rollbacks).",
                Kind::Counter,
                vec![(vec![], log.split_views.load(Ordering::Relaxed))],
            );
            e.metric(
                "tinycdn_log_tiles_refused_total",
                "Log tiles from upstream that did not hash up to the signed root.",
                Kind::Counter,
                vec![(vec![], log.tiles_refused.load(Ordering::Relaxed))],
            );
            e.metric(
                "tinycdn_log_size",
                "Entries in the checkpoint this edge holds.",
                Kind::Gauge,
                log.size().map(|n| (vec![], n)).into_iter().collect(),
            );
        }
        let (sum, count, buckets) = self.upstreams.fill_latency.snapshot();
        e.histogram_seconds(
            "tinycdn_fill_seconds",
            "Latency of verified fills from upstream.",
            vec![(
                vec![],
                HistogramValue {
                    sum,
                    count,
                    buckets,
                },
            )],
        );
    }
}
