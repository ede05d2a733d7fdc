//! What a replay measured: per response, its timings, bytes and the cache's verdict; per target,
//! percentiles (nearest rank) and ratios.

use std::time::Duration;

/// The cache's verdict on one response, read from its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Served from a cache.
    Hit,
    /// Forwarded to the origin (a miss, or a revalidation or bypass).
    Miss,
    /// Waited for another request's fill of the same object (RFC 9211 `collapsed`): no request
    /// of its own upstream, but no earlier than that fill either. nginx reports these as `HIT`.
    Collapsed,
    /// No cache said (an origin, or a cache that does not tell).
    Unknown,
}

impl Verdict {
    /// From `Cache-Status` (RFC 9211: the last member is the cache nearest the client; `hit`
    /// or `fwd=`), else `X-Cache` (`HIT`/`MISS`, as Squid and CloudFront send it, or nginx's
    /// `$upstream_cache_status` in `X-Cache-Status`), else `Age` (a positive age means a cache
    /// answered).
    #[must_use]
    pub fn from_headers(
        cache_status: Option<&str>,
        x_cache: Option<&str>,
        age: Option<&str>,
    ) -> Self {
        if let Some(last) = cache_status.and_then(|v| v.rsplit(',').next()) {
            let params: Vec<&str> = last.split(';').skip(1).map(str::trim).collect();
            if params.iter().any(|p| p.eq_ignore_ascii_case("hit")) {
                return Self::Hit;
            }
            if params.iter().any(|p| p.eq_ignore_ascii_case("collapsed")) {
                return Self::Collapsed;
            }
            if params
                .iter()
                .any(|p| p.len() >= 4 && p[..4].eq_ignore_ascii_case("fwd="))
            {
                return Self::Miss;
            }
        }
        if let Some(x) = x_cache {
            let x = x.to_ascii_uppercase();
            if x.contains("HIT") {
                return Self::Hit;
            }
            if x.contains("MISS") {
                return Self::Miss;
            }
        }
        match age.and_then(|a| a.trim().parse::<u64>().ok()) {
            Some(a) if a > 0 => Self::Hit,
            _ => Self::Unknown,
        }
    }
}

/// One response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Request sent to the first body byte (or to the headers, for an empty body).
    pub ttfb: Duration,
    /// Request sent to the last body byte.
    pub total: Duration,
    /// Body bytes received.
    pub bytes: u64,
    /// The status.
    pub status: u16,
    /// The cache's verdict.
    pub verdict: Verdict,
}

/// Percentiles of a distribution, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values` (sorted here).
    #[must_use]
    pub fn of(values: &mut [Duration]) -> Self {
        values.sort_unstable();
        let at = |q: f64| {
            if values.is_empty() {
                return 0.0;
            }
            let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
            values[rank - 1].as_nanos() as f64 / 1e6
        };
        Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
        }
    }
}

/// One target's replay.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    /// The base URL.
    pub target: String,
    /// Requests sent.
    pub requests: u64,
    /// Requests that got no complete response (refused, reset, timed out, truncated).
    pub errors: u64,
    /// Responses by class: 2xx, 3xx, 4xx, 5xx.
    pub status: [u64; 4],
    /// Time to first byte.
    pub ttfb_ms: Percentiles,
    /// Total time.
    pub total_ms: Percentiles,
    /// Hits / (hits + misses + collapsed) among responses a cache gave its verdict on (`None`
    /// if none did).
    pub hit_ratio: Option<f64>,
    /// Responses with a verdict of hit, miss, collapsed, or none.
    pub hits: u64,
    /// See `hits`.
    pub misses: u64,
    /// See `hits`.
    pub collapsed: u64,
    /// See `hits`.
    pub unknown: u64,
    /// Body bytes received.
    pub bytes: u64,
    /// Wall time of the replay, in seconds.
    pub seconds: f64,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
}

impl Summary {
    /// The summary of `samples` (responses) and `errors` (failed requests) for `target`.
    #[must_use]
    pub fn of(
        target: &str,
        samples: &[Sample],
        errors: u64,
        first_error: Option<String>,
        seconds: f64,
    ) -> Self {
        let mut s = Self {
            target: target.to_owned(),
            requests: samples.len() as u64 + errors,
            errors,
            seconds,
            first_error,
            ..Self::default()
        };
        for x in samples {
            if let Some(c) = s
                .status
                .get_mut(usize::from(x.status / 100).wrapping_sub(2))
            {
                *c += 1;
            }
            s.bytes += x.bytes;
            match x.verdict {
                Verdict::Hit => s.hits += 1,
                Verdict::Miss => s.misses += 1,
                Verdict::Collapsed => s.collapsed += 1,
                Verdict::Unknown => s.unknown += 1,
            }
        }
        let judged = s.hits + s.misses + s.collapsed;
        s.hit_ratio = (judged > 0).then(|| s.hits as f64 / judged as f64);
        let mut ttfb: Vec<Duration> = samples.iter().map(|x| x.ttfb).collect();
        let mut total: Vec<Duration> = samples.iter().map(|x| x.total).collect();
        s.ttfb_ms = Percentiles::of(&mut ttfb);
        s.total_ms = Percentiles::of(&mut total);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_from_the_headers_caches_send() {
        let v = Verdict::from_headers;
        assert_eq!(v(Some("tinycdn; hit; ttl=30"), None, None), Verdict::Hit);
        assert_eq!(
            v(Some("tinycdn; fwd=miss; stored"), None, None),
            Verdict::Miss
        );
        assert_eq!(
            v(Some("origin; hit, tinycdn; fwd=stale"), None, Some("5")),
            Verdict::Miss,
            "the cache nearest the client decides"
        );
        assert_eq!(v(None, Some("HIT from squid"), None), Verdict::Hit);
        assert_eq!(v(None, Some("Miss from cloudfront"), None), Verdict::Miss);
        assert_eq!(v(None, None, Some("12")), Verdict::Hit);
        assert_eq!(v(None, None, Some("0")), Verdict::Unknown);
        assert_eq!(v(None, None, Some("x")), Verdict::Unknown);
        assert_eq!(v(Some(""), None, None), Verdict::Unknown);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(&mut d);
        assert_eq!((p.p50, p.p90, p.p99), (50.0, 90.0, 99.0));
        let mut one = vec![Duration::from_millis(7)];
        assert_eq!(Percentiles::of(&mut one).p99, 7.0);
        assert_eq!(Percentiles::of(&mut []).p50, 0.0);
    }

    #[test]
    fn a_summary_counts_classes_and_the_hit_ratio_among_verdicts() {
        let s = |status, verdict| Sample {
            ttfb: Duration::from_millis(1),
            total: Duration::from_millis(2),
            bytes: 10,
            status,
            verdict,
        };
        let x = Summary::of(
            "http://e",
            &[
                s(200, Verdict::Hit),
                s(200, Verdict::Hit),
                s(304, Verdict::Miss),
                s(404, Verdict::Unknown),
                s(503, Verdict::Miss),
                s(101, Verdict::Unknown),
            ],
            2,
            None,
            1.0,
        );
        assert_eq!(x.requests, 8);
        assert_eq!(x.status, [2, 1, 1, 1]);
        assert_eq!(x.hit_ratio, Some(0.5));
        assert_eq!(x.bytes, 60);
    }

    proptest::proptest! {
        #[test]
        fn percentiles_are_ordered_and_within_range(ms in proptest::collection::vec(0u64..10_000, 1..300)) {
            let mut d: Vec<Duration> = ms.iter().map(|&m| Duration::from_millis(m)).collect();
            let p = Percentiles::of(&mut d);
            let (lo, hi) = (*ms.iter().min().unwrap_or(&0) as f64, *ms.iter().max().unwrap_or(&0) as f64);
            proptest::prop_assert!(lo <= p.p50 && p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= hi);
        }
    }
}
