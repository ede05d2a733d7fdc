//! The origin's metrics: responses by status class, bytes sent, objects verified and failing
//! verification, and request durations by route class (OpenTelemetry's HTTP conventions),
//! encoded by `tinycdn-telemetry` with the `role` and `pop` labels.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tinycdn_telemetry::{Exposition, HttpMetrics, Kind};

/// Counters shared by every request.
#[derive(Debug, Default)]
pub struct Metrics {
    by_status: [AtomicU64; 6],
    bytes_sent: AtomicU64,
    verification_failures: AtomicU64,
    objects_verified: AtomicU64,
    http: HttpMetrics,
    pop: std::sync::OnceLock<String>,
}

impl Metrics {
    /// Counts one response to a request of `method` on a route of class `route`.
    pub fn response(
        &self,
        method: &str,
        route: &'static str,
        status: u16,
        body_bytes: u64,
        took: Duration,
    ) {
        let class = usize::from(status / 100).min(5);
        self.by_status[class].fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(body_bytes, Ordering::Relaxed);
        self.http.observe(method, status, route, took);
    }

    /// Counts an object that failed verification.
    pub fn verification_failure(&self) {
        self.verification_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an object verified on first use.
    pub fn object_verified(&self) {
        self.objects_verified.fetch_add(1, Ordering::Relaxed);
    }

    /// The point of presence (`default` unless set).
    #[must_use]
    pub fn pop(&self) -> &str {
        self.pop.get().map_or("default", String::as_str)
    }

    /// Names the point of presence (the `pop` label); once.
    pub fn set_pop(&self, pop: &str) {
        let _ = self.pop.set(pop.to_owned());
    }

    /// The exposition text (OpenMetrics), with the families `extra` adds.
    #[must_use]
    pub fn render(&self, extra: impl FnOnce(&mut Exposition)) -> String {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut e = Exposition::default();
        e.metric(
            "tinycdn_responses_total",
            "Responses sent, by status class.",
            Kind::Counter,
            (1..6)
                .map(|c| (vec![("status", format!("{c}xx"))], l(&self.by_status[c])))
                .collect(),
        );
        e.metric(
            "tinycdn_body_bytes_sent_total",
            "Body bytes announced in responses.",
            Kind::Counter,
            vec![(vec![], l(&self.bytes_sent))],
        );
        e.metric(
            "tinycdn_objects_verified_total",
            "Objects hashed on first use.",
            Kind::Counter,
            vec![(vec![], l(&self.objects_verified))],
        );
        e.metric(
            "tinycdn_verification_failures_total",
            "Objects whose bytes did not match their hash.",
            Kind::Counter,
            vec![(vec![], l(&self.verification_failures))],
        );
        extra(&mut e);
        e.render("origin", self.pop(), Some(&self.http))
    }
}

/// The cost model's store figures: logical and physical bytes, the duplication factor, and the
/// delta economy (bytes saved over chunks against CPU spent), per delta method.
pub fn cost(e: &mut Exposition, stats: Option<&tinycdn_volume::stats::StoreStats>) {
    let Some(s) = stats else {
        return;
    };
    e.metric(
        "tinycdn_storage_logical_bytes",
        "Bytes of every version's files: what plain copies would take",
        Kind::Gauge,
        vec![(vec![], s.logical_bytes)],
    );
    e.metric(
        "tinycdn_storage_physical_bytes",
        "Bytes of the file objects the store holds",
        Kind::Gauge,
        vec![(vec![], s.physical_bytes)],
    );
    e.metric(
        "tinycdn_storage_unique_chunk_bytes",
        "Bytes of the distinct chunks the versions reference",
        Kind::Gauge,
        vec![(vec![], s.unique_chunk_bytes)],
    );
    e.metric_f64(
        "tinycdn_storage_duplication_factor",
        "Physical bytes over distinct chunk bytes (1.0: every distinct byte stored once)",
        Kind::Gauge,
        vec![(vec![], s.duplication_factor)],
    );
    e.metric_f64(
        "tinycdn_storage_dedup_ratio",
        "Logical bytes over physical bytes",
        Kind::Gauge,
        vec![(vec![], s.dedup_ratio)],
    );
    let m = |d: &tinycdn_volume::stats::DeltaStats| vec![("method", d.method.clone())];
    e.metric(
        "tinycdn_delta_bytes_saved",
        "Chunk bytes the kept deltas replace, minus the deltas' own bytes (falls when gc drops deltas)",
        Kind::Gauge,
        s.deltas
            .iter()
            .map(|d| (m(d), d.replaced_bytes.saturating_sub(d.delta_bytes)))
            .collect(),
    );
    e.metric_f64(
        "tinycdn_delta_cpu_seconds",
        "CPU seconds spent making the store's deltas (kept and rejected)",
        Kind::Gauge,
        s.deltas
            .iter()
            .map(|d| (m(d), d.cpu_seconds + d.rejected_cpu_seconds))
            .collect(),
    );
    e.metric_f64(
        "tinycdn_delta_bytes_saved_per_cpu_second",
        "The delta economy: bytes saved over chunks per CPU second spent making deltas",
        Kind::Gauge,
        s.deltas
            .iter()
            .map(|d| (m(d), d.saved_bytes_per_cpu_second()))
            .collect(),
    );
    e.metric_f64(
        "tinycdn_delta_compression_ratio",
        "Target bytes over delta bytes",
        Kind::Gauge,
        s.deltas
            .iter()
            .map(|d| (m(d), d.compression_ratio()))
            .collect(),
    );
}
