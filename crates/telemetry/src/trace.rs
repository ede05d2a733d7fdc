//! Traces: `tracing` spans (request, cache lookup, fill, upstream request) exported with
//! OpenTelemetry's OTLP over HTTP (protobuf) when `--otlp-endpoint` is given, sampled by trace id
//! (a parent's decision is kept), with W3C `traceparent` read from requests and written on every
//! upstream request. Without an endpoint no subscriber is installed and spans cost a branch.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::Context;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// How a node exports its traces.
#[derive(Debug, Clone)]
pub struct TraceConfig {
    /// The OTLP/HTTP base URL (`http://collector:4318`); spans go to `/v1/traces`.
    pub endpoint: String,
    /// Fraction of new traces kept (0 to 1).
    pub sample: f64,
    /// `service.name`.
    pub service: String,
    /// The node's PoP (`tinycdn.pop`).
    pub pop: String,
}

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The exporter could not be built.
    #[error("cannot export traces to {endpoint}: {why}")]
    Exporter {
        /// The endpoint.
        endpoint: String,
        /// What the exporter said.
        why: String,
    },
    /// Another subscriber is already installed.
    #[error("a tracing subscriber is already installed")]
    Installed,
}

/// The running exporter; [`Tracing::shutdown`] flushes what is queued.
#[derive(Debug)]
pub struct Tracing {
    provider: SdkTracerProvider,
}

impl Tracing {
    /// Exports what is still queued and stops.
    pub fn shutdown(&self) {
        let _ = self.provider.shutdown();
    }
}

/// Installs the exporter and the `tracing` subscriber. Call inside the tokio runtime.
///
/// # Errors
/// [`TraceError`]; without the `otlp` feature, [`TraceError::Exporter`] always.
#[cfg(not(feature = "otlp"))]
pub fn init(config: &TraceConfig) -> Result<Tracing, TraceError> {
    Err(TraceError::Exporter {
        endpoint: config.endpoint.clone(),
        why: "this tinycdn was built without the `otlp` cargo feature".into(),
    })
}

/// Installs the exporter and the `tracing` subscriber. Call inside the tokio runtime.
///
/// # Errors
/// [`TraceError`].
#[cfg(feature = "otlp")]
pub fn init(config: &TraceConfig) -> Result<Tracing, TraceError> {
    use std::time::Duration;

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry::KeyValue;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
    use opentelemetry_sdk::trace::{BatchConfigBuilder, Sampler};
    use opentelemetry_sdk::Resource;
    use tracing_subscriber::layer::SubscriberExt;
    let endpoint = format!("{}/v1/traces", config.endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint.clone())
        .with_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| TraceError::Exporter {
            endpoint: endpoint.clone(),
            why: e.to_string(),
        })?;
    let batch = BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(Duration::from_millis(500))
                .with_max_queue_size(8192)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(batch)
        // Sampling is decided before a span exists ([`server_span`]): a request that is not
        // sampled makes no span at all; those that are are always recorded.
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_resource(
            Resource::builder()
                .with_service_name(config.service.clone())
                .with_attribute(KeyValue::new("tinycdn.pop", config.pop.clone()))
                .build(),
        )
        .build();
    let tracer = provider.tracer("tinycdn");
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
    tracing::subscriber::set_global_default(subscriber).map_err(|_| TraceError::Installed)?;
    let _ = SAMPLE.set(config.sample.clamp(0.0, 1.0));
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(Tracing { provider })
}

struct Extract<'a>(&'a http::HeaderMap);

impl opentelemetry::propagation::Extractor for Extract<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct Inject<'a>(&'a mut http::HeaderMap);

impl opentelemetry::propagation::Injector for Inject<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// Makes `span` a child of the trace a request's `traceparent` names (if valid).
pub fn continue_from(span: &tracing::Span, headers: &http::HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&Extract(headers));
    if opentelemetry::trace::TraceContextExt::span(&parent)
        .span_context()
        .is_valid()
    {
        let _ = span.set_parent(parent);
    }
}

/// Writes the current span's `traceparent` into an upstream request's headers (nothing when
/// tracing is off or the span is not recorded).
pub fn inject(headers: &mut http::HeaderMap) {
    let cx: Context = tracing::Span::current().context();
    if opentelemetry::trace::TraceContextExt::span(&cx)
        .span_context()
        .is_valid()
    {
        TraceContextPropagator::new().inject_context(&cx, &mut Inject(headers));
    }
}

/// Whether `span` will be exported (false when tracing is off): work that only a recorded span
/// needs (child spans on the hot path, formatted attributes) is skipped for the others.
#[must_use]
pub fn is_sampled(span: &tracing::Span) -> bool {
    if span.is_disabled() {
        return false;
    }
    let cx = span.context();
    opentelemetry::trace::TraceContextExt::span(&cx)
        .span_context()
        .is_sampled()
}

/// Whether the current span will be exported.
#[must_use]
pub fn current_sampled() -> bool {
    is_sampled(&tracing::Span::current())
}

/// The server span's name, `{method} {route}` as OpenTelemetry's HTTP conventions have it,
/// made once per pair (methods and route classes are a small closed set).
#[must_use]
pub fn span_name(method: &'static str, route: &'static str) -> &'static str {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock, PoisonError};
    static NAMES: OnceLock<Mutex<HashMap<(&'static str, &'static str), &'static str>>> =
        OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    names
        .entry((method, route))
        .or_insert_with(|| Box::leak(format!("{method} {route}").into_boxed_str()))
}

/// The fraction of new traces kept; unset while tracing is off.
static SAMPLE: std::sync::OnceLock<f64> = std::sync::OnceLock::new();

/// Whether a request starts a recorded trace: a `traceparent`'s sampled flag decides, else a
/// draw at the configured ratio. Made before any span exists, so the requests that are not
/// traced (nearly all, at 1 %) cost one header lookup and one random number.
fn head_sampled(headers: &http::HeaderMap) -> bool {
    SAMPLE
        .get()
        .is_some_and(|ratio| decide(headers, *ratio, draw))
}

/// The sampling rule, given the ratio and a source of draws.
fn decide(headers: &http::HeaderMap, ratio: f64, draw: impl FnOnce() -> f64) -> bool {
    if let Some(tp) = headers.get("traceparent").and_then(|v| v.to_str().ok()) {
        if crate::access::trace_id(tp).is_some() {
            let flags = tp.trim().rsplit('-').next().unwrap_or("00");
            return u8::from_str_radix(flags, 16).is_ok_and(|f| f & 1 == 1);
        }
    }
    draw() < ratio
}

/// A uniform draw in [0, 1) from a per-thread xorshift generator seeded from the clock and the
/// thread's id (sampling needs spread, not secrecy).
fn draw() -> f64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
            let mut h = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(&std::thread::current().id(), &mut h);
            (t ^ std::hash::Hasher::finish(&h).rotate_left(32)) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// The server span of one request (`{method} {route}`), continuing the trace of its
/// `traceparent`, or a disabled span when the request is not sampled; the status is recorded by
/// the caller (`http.response.status_code`) once known.
#[must_use]
pub fn server_span(
    method: &'static str,
    route: &'static str,
    headers: &http::HeaderMap,
    path: &str,
    pop: &str,
) -> tracing::Span {
    if !head_sampled(headers) {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "request",
        otel.name = span_name(method, route),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        url.path = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        tinycdn.pop = tracing::field::Empty,
    );
    if !span.is_disabled() {
        continue_from(&span, headers);
        span.record("url.path", path);
        span.record("tinycdn.pop", pop);
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parents_flag_decides_else_the_ratio() {
        let with = |tp: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(
                "traceparent",
                http::HeaderValue::from_str(tp).expect("value"),
            );
            h
        };
        let sampled = with("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let not = with("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        let bad = with("00-zz-00f067aa0ba902b7-01");
        assert!(decide(&sampled, 0.0, || 0.99));
        assert!(!decide(&not, 1.0, || 0.0));
        assert!(decide(&bad, 0.5, || 0.1) && !decide(&bad, 0.5, || 0.9));
        assert!(!decide(&http::HeaderMap::new(), 0.0, || 0.0));
        let draws: Vec<f64> = (0..10_000).map(|_| draw()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let kept = draws.iter().filter(|d| **d < 0.01).count();
        assert!((50..200).contains(&kept), "{kept} of 10000 under 0.01");
    }
}
