//! What tinycdn nodes tell their operators: metrics ([`metrics`], encoded by `prometheus-client`,
//! with OpenTelemetry's HTTP conventions in [`http`]) and a reader of expositions ([`scrape`]).

pub mod access;
pub mod http;
pub mod metrics;
pub mod scrape;
pub mod trace;

pub use http::HttpMetrics;
pub use metrics::{Exposition, HistogramValue, Kind, Labels};

/// The media type of [`Exposition::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
