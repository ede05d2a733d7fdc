//! The agent's HTTP endpoints: `/metrics` (OpenMetrics), `/healthz` (liveness: the rounds are
//! running) and `/readyz` (readiness: every volume is checked out), each `--json`-free and
//! cheap enough for a kubelet probe every few seconds.

use std::sync::Arc;

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::StatusCode;
use tinycdn_server::body::Body;
use tinycdn_server::respond::{refuse_method, Reply};
use tinycdn_server::{ConnInfo, Handler};
use tinycdn_telemetry::{Exposition, Kind};

use crate::agent::{checked_out, unix_now, Agent};

/// A round running longer than this many intervals (and at least this many seconds) makes the
/// agent not live: it is stuck (a mirror that trickles, a hung disk) and a restart is better.
const STUCK_INTERVALS: u64 = 10;
const STUCK_MIN_SECS: u64 = 600;

impl Handler for Agent {
    async fn handle(
        self: Arc<Self>,
        req: hyper::Request<hyper::body::Incoming>,
        _info: ConnInfo,
    ) -> hyper::Response<Body> {
        let head = req.method() == hyper::Method::HEAD;
        if let Some(r) = refuse_method(req.method()) {
            return r.into_response(head);
        }
        let reply = match req.uri().path() {
            "/metrics" => {
                let mut r = Reply::text(StatusCode::OK, self.metrics());
                r.headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(tinycdn_telemetry::CONTENT_TYPE),
                );
                r
            }
            "/healthz" => self.liveness(),
            "/readyz" => self.readiness(),
            _ => Reply::text(
                StatusCode::NOT_FOUND,
                "the agent serves /metrics, /healthz and /readyz\n",
            ),
        };
        reply.into_response(head)
    }
}

impl Agent {
    /// 200 while rounds run (the first one included); 503 when one has been running for too long.
    fn liveness(&self) -> Reply {
        let r = self.rounds();
        let limit = (self.config().interval * STUCK_INTERVALS).max(STUCK_MIN_SECS);
        match r.running_since {
            Some(since) if unix_now().saturating_sub(since) > limit => Reply::text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "stuck: a round has been running for {} s\n",
                    unix_now() - since
                ),
            ),
            _ => Reply::text(StatusCode::OK, format!("ok: {} rounds\n", r.finished)),
        }
    }

    /// 200 when every volume's checkout points at a version directory that is there.
    fn readiness(&self) -> Reply {
        let mut text = String::new();
        let mut ready = true;
        for v in &self.config().volumes {
            let (version, live) = checked_out(&v.checkout);
            ready &= live;
            let what = match (&version, live) {
                (Some(id), true) => format!("version {}", &id[..12]),
                (Some(_), false) => "a checkout whose version directory is missing".into(),
                (None, _) => "not checked out yet".into(),
            };
            text.push_str(&format!(
                "{} at {}: {what}\n",
                v.reference,
                v.checkout.display()
            ));
        }
        let status = if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        Reply::text(status, text)
    }

    /// The agent's metric families.
    #[must_use]
    pub fn metrics(&self) -> String {
        let mut e = Exposition::default();
        let status = self.status();
        let per = |f: &dyn Fn(&crate::agent::VolumeStatus) -> u64| {
            status
                .iter()
                .map(|s| (vec![("volume", s.reference.clone())], f(s)))
                .collect::<Vec<_>>()
        };
        let mut syncs = Vec::new();
        for s in &status {
            for (result, n) in [
                ("updated", s.updated),
                ("unchanged", s.unchanged),
                ("failed", s.failed),
            ] {
                syncs.push((
                    vec![("volume", s.reference.clone()), ("result", result.into())],
                    n,
                ));
            }
        }
        e.metric(
            "tinycdn_agent_syncs_total",
            "Rounds per volume by result: switched to a new version, already current, failed (the checkout stayed as it was).",
            Kind::Counter,
            syncs,
        );
        e.metric(
            "tinycdn_agent_version_number",
            "The number of the version checked out (0 before the first).",
            Kind::Gauge,
            per(&|s| s.number),
        );
        e.metric(
            "tinycdn_agent_last_success_timestamp_seconds",
            "Unix time of the last round that succeeded for the volume (0: none yet); alert when it is older than a few intervals.",
            Kind::Gauge,
            per(&|s| s.last_success.unwrap_or(0)),
        );
        e.metric(
            "tinycdn_agent_consecutive_failures",
            "Rounds failed for the volume since its last success.",
            Kind::Gauge,
            per(&|s| s.consecutive_failures),
        );
        e.metric(
            "tinycdn_agent_bytes_transferred_total",
            "Bytes read from the mirrors for the volume.",
            Kind::Counter,
            per(&|s| s.bytes_transferred),
        );
        e.metric(
            "tinycdn_agent_checkout_ready",
            "1 when the volume's checkout points at a version directory that is there.",
            Kind::Gauge,
            self.config()
                .volumes
                .iter()
                .map(|v| {
                    (
                        vec![("volume", v.reference.to_string())],
                        u64::from(checked_out(&v.checkout).1),
                    )
                })
                .collect(),
        );
        let r = self.rounds();
        e.metric(
            "tinycdn_agent_rounds_total",
            "Rounds finished.",
            Kind::Counter,
            vec![(vec![], r.finished)],
        );
        e.metric(
            "tinycdn_agent_gc_versions_removed_total",
            "Versions gc removed after checkouts changed.",
            Kind::Counter,
            vec![(vec![], r.gc_removed)],
        );
        e.metric(
            "tinycdn_agent_gc_failures_total",
            "gc runs that failed.",
            Kind::Counter,
            vec![(vec![], r.gc_failures)],
        );
        for source in self.extra_metrics() {
            source.metrics(&mut e);
        }
        e.render("agent", "default", None)
    }
}
