//! The region's Prometheus lines.

use std::sync::atomic::Ordering;

use tinycdn_telemetry::{Exposition, Kind};

use super::{lock, peers, served, Region};

impl Region {
    /// Adds the region's lines to `e`.
    pub(crate) fn metrics(&self, e: &mut Exposition) {
        let c = &self.counters;
        let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let members = self.members();
        e.metric(
            "tinycdn_region_members",
            "Members of this edge's region (itself included when listed).",
            Kind::Gauge,
            vec![(vec![], members.as_slice().len() as u64)],
        );
        let now = self.now_ms();
        let down = lock(&self.health).down(now) as u64;
        e.metric(
            "tinycdn_region_members_skipped",
            "Members being skipped after failed peer requests (passive health).",
            Kind::Gauge,
            vec![(vec![], down)],
        );
        e.metric(
            "tinycdn_region_fills_total",
            "Chunk misses by where they were filled from: as owner from upstream, from a peer, or from upstream after the peers that should have had them failed.",
            Kind::Counter,
            vec![
                (vec![("source", "owner".into())], l(&c.owner_fills)),
                (vec![("source", "peer".into())], l(&c.peer_fills)),
                (vec![("source", "fallback".into())], l(&c.fallback_fills)),
            ],
        );
        e.metric(
            "tinycdn_region_peer_requests_served_total",
            "Peer requests this edge answered, by result.",
            Kind::Counter,
            served::LABELS
                .iter()
                .zip(&c.served)
                .map(|(r, n)| (vec![("result", (*r).to_owned())], l(n)))
                .collect(),
        );
        e.metric(
            "tinycdn_region_peer_errors_total",
            "Peer requests of this edge that failed, by reason.",
            Kind::Counter,
            peers::ERROR_LABELS
                .iter()
                .zip(&c.peer_errors)
                .map(|(r, n)| (vec![("reason", (*r).to_owned())], l(n)))
                .collect(),
        );
        e.metric(
            "tinycdn_region_membership_changes_total",
            "Members that joined or left since start.",
            Kind::Counter,
            vec![(vec![], l(&c.membership_changes))],
        );
        e.metric_f64(
            "tinycdn_region_ownership_moved_ratio",
            "Share of chunk ids whose owner the last membership change moved (estimated on 1024 fixed ids).",
            Kind::Gauge,
            vec![(vec![], *lock(&self.moved))],
        );
        e.metric(
            "tinycdn_region_refresh_errors_total",
            "Failed reads of the member source (the previous members were kept).",
            Kind::Counter,
            vec![(vec![], l(&c.refresh_errors))],
        );
    }
}
