//! Metrics as structured families, encoded by `prometheus-client` in the OpenMetrics text format.
//!
//! The counters themselves stay where the work happens (atomics in the cache, the proxy, the
//! fetcher): at each scrape a role writes its families into an [`Exposition`], and
//! [`Exposition::render`] hands them to a `prometheus-client` registry (through its `Collector`
//! interface) whose constant labels are the node's `role` and `pop`. Histograms of request
//! durations are real `prometheus-client` histograms ([`crate::http::HttpMetrics`]).

use std::borrow::Cow;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

/// Label pairs of one sample (the role and pop are added to every sample).
pub type Labels = Vec<(&'static str, String)>;

/// What a family measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
}

/// A sample's value: integers stay integers in the text.
#[derive(Debug, Clone, Copy)]
enum Number {
    Int(u64),
    Float(f64),
}

#[derive(Debug, Clone)]
enum Values {
    Scalar(Kind, Vec<(Labels, Number)>),
    Histogram(Vec<(Labels, HistogramValue)>),
}

/// A histogram's state: sum, count, and cumulative counts per upper bound.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistogramValue {
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
    /// `(upper bound, observations at or below it)`, ascending, without `+Inf`.
    pub buckets: Vec<(f64, u64)>,
}

#[derive(Debug, Clone)]
struct Family {
    name: String,
    help: String,
    unit: Option<Unit>,
    values: Values,
}

/// The families one scrape collects.
#[derive(Debug, Default, Clone)]
pub struct Exposition {
    families: Vec<Family>,
}

/// Counter names drop their `_total`: the encoder appends it (OpenMetrics).
fn base_name(name: &str, kind: Kind) -> String {
    match kind {
        Kind::Counter => name.strip_suffix("_total").unwrap_or(name).to_owned(),
        Kind::Gauge => name.to_owned(),
    }
}

impl Exposition {
    /// A family of integer samples (`tinycdn_cache_chunks_total`, …).
    pub fn metric(&mut self, name: &str, help: &str, kind: Kind, samples: Vec<(Labels, u64)>) {
        self.scalar(
            name,
            help,
            kind,
            samples
                .into_iter()
                .map(|(l, v)| (l, Number::Int(v)))
                .collect(),
        );
    }

    /// A family of float samples (ratios, seconds).
    pub fn metric_f64(&mut self, name: &str, help: &str, kind: Kind, samples: Vec<(Labels, f64)>) {
        self.scalar(
            name,
            help,
            kind,
            samples
                .into_iter()
                .map(|(l, v)| (l, Number::Float(v)))
                .collect(),
        );
    }

    fn scalar(&mut self, name: &str, help: &str, kind: Kind, samples: Vec<(Labels, Number)>) {
        self.families.push(Family {
            name: base_name(name, kind),
            // The encoder ends every help text with a full stop.
            help: help.trim_end_matches('.').to_owned(),
            unit: None,
            values: Values::Scalar(kind, samples),
        });
    }

    /// A histogram family in seconds (`name` without `_seconds`).
    pub fn histogram_seconds(
        &mut self,
        name: &str,
        help: &str,
        samples: Vec<(Labels, HistogramValue)>,
    ) {
        self.families.push(Family {
            name: name.strip_suffix("_seconds").unwrap_or(name).to_owned(),
            // The encoder ends every help text with a full stop.
            help: help.trim_end_matches('.').to_owned(),
            unit: Some(Unit::Seconds),
            values: Values::Histogram(samples),
        });
    }

    /// The OpenMetrics text of these families and of `registry`'s own metrics, every sample
    /// labelled with `role` and `pop`.
    #[must_use]
    pub fn render(self, role: &str, pop: &str, http: Option<&crate::http::HttpMetrics>) -> String {
        let mut registry = Registry::with_labels(
            [
                (Cow::Borrowed("role"), Cow::Owned(role.to_owned())),
                (Cow::Borrowed("pop"), Cow::Owned(pop.to_owned())),
            ]
            .into_iter(),
        );
        if let Some(h) = http {
            h.register(&mut registry);
        }
        let mut families = self.families;
        if let Some(log) = crate::access::AccessLog::global() {
            let c = &log.counters;
            let l = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
            let mut e = Exposition::default();
            e.metric(
                "tinycdn_access_log_lines_total",
                "Access log lines by outcome (dropped: the queue was full; error: the write failed)",
                Kind::Counter,
                vec![
                    (vec![("result", "written".into())], l(&c.written)),
                    (vec![("result", "dropped".into())], l(&c.dropped)),
                    (vec![("result", "error".into())], l(&c.errors)),
                ],
            );
            families.extend(e.families);
        }
        registry.register_collector(Box::new(Snapshot(families)));
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

#[derive(Debug)]
struct Snapshot(Vec<Family>);

fn pairs(labels: &Labels) -> Vec<(&'static str, &str)> {
    labels.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in &self.0 {
            match &f.values {
                Values::Scalar(kind, samples) => {
                    let ty = match kind {
                        Kind::Counter => MetricType::Counter,
                        Kind::Gauge => MetricType::Gauge,
                    };
                    let mut family =
                        encoder.encode_descriptor(&f.name, &f.help, f.unit.as_ref(), ty)?;
                    for (labels, v) in samples {
                        let labels = pairs(labels);
                        let sample = family.encode_family(&labels)?;
                        use prometheus_client::metrics::counter::ConstCounter;
                        use prometheus_client::metrics::gauge::ConstGauge;
                        match (kind, v) {
                            (Kind::Counter, Number::Int(n)) => {
                                ConstCounter::new(*n).encode(sample)?
                            }
                            (Kind::Counter, Number::Float(x)) => {
                                ConstCounter::new(*x).encode(sample)?
                            }
                            (Kind::Gauge, Number::Int(n)) => ConstGauge::new(*n).encode(sample)?,
                            (Kind::Gauge, Number::Float(x)) => {
                                ConstGauge::new(*x).encode(sample)?
                            }
                        }
                    }
                }
                Values::Histogram(samples) => {
                    let mut family = encoder.encode_descriptor(
                        &f.name,
                        &f.help,
                        f.unit.as_ref(),
                        MetricType::Histogram,
                    )?;
                    for (labels, h) in samples {
                        let labels = pairs(labels);
                        let mut sample = family.encode_family(&labels)?;
                        let mut buckets = h.buckets.clone();
                        buckets.push((f64::MAX, h.count));
                        // The encoder wants per-bucket counts, not cumulative ones.
                        let mut prev = 0u64;
                        let per: Vec<(f64, u64)> = buckets
                            .into_iter()
                            .map(|(le, c)| {
                                let n = c.saturating_sub(prev);
                                prev = c.max(prev);
                                (le, n)
                            })
                            .collect();
                        sample.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                            h.sum, h.count, &per, None,
                        )?;
                    }
                }
            }
        }
        Ok(())
    }
}
