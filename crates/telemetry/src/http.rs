//! HTTP server metrics after OpenTelemetry's semantic conventions: the
//! `http.server.request.duration` histogram, exposed to Prometheus as
//! `http_server_request_duration_seconds`, labelled by method, status code and a route class
//! (never the path: its cardinality is the client's to choose).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Upper bounds (seconds): OpenTelemetry's recommended buckets, with sub-millisecond ones in
/// front because an edge's hits are answered in microseconds.
pub const DURATION_BUCKETS: [f64; 18] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75,
    1.0, 2.5, 5.0, 10.0,
];

/// The labels of one request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `GET`, `HEAD`, … or `_OTHER`.
    pub http_request_method: &'static str,
    /// The status code sent.
    pub http_response_status_code: u16,
    /// What kind of resource (`volume_file`, `object`, `proxy`, `image`, `log`, …).
    pub http_route: &'static str,
}

/// The method as OpenTelemetry names it: the known ones, else `_OTHER`.
#[must_use]
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        "PURGE" => "PURGE",
        _ => "_OTHER",
    }
}

/// Request durations of one server.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    duration: Family<RequestLabels, Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            duration: Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS)),
        }
    }
}

impl HttpMetrics {
    /// Records one request.
    pub fn observe(&self, method: &str, status: u16, route: &'static str, took: Duration) {
        self.duration
            .get_or_create(&RequestLabels {
                http_request_method: method_label(method),
                http_response_status_code: status,
                http_route: route,
            })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "http_server_request_duration",
            "Duration of HTTP server requests to the response head (OpenTelemetry http.server.request.duration)",
            Unit::Seconds,
            self.duration.clone(),
        );
    }
}
