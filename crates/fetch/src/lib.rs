//! Fetching from tinycdn mirrors (origins or edges), for edges filling their cache and for nodes
//! pulling volumes: mirrors are ranked by health and latency, failed over, and never trusted —
//! every response is checked by the caller's verifier before it is accepted, and a mirror that
//! fails or lies is demoted. Mirrors may be `https://` ([`tls`]: verified against the system's
//! roots and an optional CA file).

pub mod tls;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header;
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use thiserror::Error;

/// Why a fetch failed on every mirror.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    /// No mirror had the resource.
    #[error("no upstream has {path}")]
    NotFound {
        /// The path asked for.
        path: String,
    },
    /// Every mirror failed, timed out or sent bytes that did not verify.
    #[error("every upstream failed for {path}: {last}")]
    Exhausted {
        /// The path asked for.
        path: String,
        /// The last failure seen.
        last: String,
        /// Whether some mirror answered 404 (the others failing or lying).
        not_found: bool,
    },
    /// An upstream URL is not usable.
    #[error("invalid upstream URL {0:?}: use http://HOST:PORT or https://HOST:PORT")]
    BadUpstream(String),
    /// TLS to upstreams cannot be set up (a CA file that holds no certificate, no roots).
    #[error("TLS: {0}")]
    Tls(String),
}

impl FetchError {
    /// The error as a client of an edge may read it: what was asked for and that it failed,
    /// never which upstream was asked or what it answered (the full text goes to logs).
    #[must_use]
    pub fn public(&self) -> String {
        match self {
            Self::NotFound { path } => format!("no upstream has {path}"),
            Self::Exhausted { path, .. } => format!("every upstream failed for {path}"),
            Self::BadUpstream(_) | Self::Tls(_) => {
                "an upstream of this edge is misconfigured".to_owned()
            }
        }
    }
}

/// How an attempt on one mirror ended.
enum Attempt {
    Ok(Bytes),
    NotFound,
    Failed(String),
}

/// One mirror and what is known about it.
#[derive(Debug)]
pub struct Mirror {
    base: String,
    /// Smoothed latency in microseconds (EWMA, alpha 0.3); 0 until first measured.
    ewma_us: AtomicU64,
    /// Consecutive failures.
    failures: AtomicU64,
    /// Until when the mirror is skipped (unless every mirror is).
    down_until: Mutex<Option<Instant>>,
    /// Responses whose bytes did not verify.
    lies: AtomicU64,
}

impl Mirror {
    fn healthy(&self, now: Instant) -> bool {
        self.down_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none_or(|t| now >= t)
    }

    fn succeeded(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let old = self.ewma_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            us
        } else {
            (old * 7 + us * 3) / 10
        };
        self.ewma_us.store(new, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        *self
            .down_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    fn failed(&self) {
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        // Back off exponentially: 1 s, 2 s, 4 s … up to a minute.
        let secs = 1u64 << (n - 1).min(6);
        *self
            .down_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(Instant::now() + Duration::from_secs(secs.min(60)));
    }

    /// The mirror's base URL.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Smoothed latency, microseconds (0: not measured yet).
    #[must_use]
    pub fn latency_us(&self) -> u64 {
        self.ewma_us.load(Ordering::Relaxed)
    }

    /// Whether the mirror is currently in use.
    #[must_use]
    pub fn is_healthy(&self) -> bool {
        self.healthy(Instant::now())
    }

    /// Responses from this mirror that failed verification.
    #[must_use]
    pub fn lies(&self) -> u64 {
        self.lies.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the fill latency histogram buckets.
pub const FILL_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A Prometheus-style histogram of successful fill latencies.
#[derive(Debug, Default)]
pub struct FillHistogram {
    buckets: [AtomicU64; FILL_BUCKETS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl FillHistogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, le) in FILL_BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The histogram now: sum of seconds, count, and cumulative counts per upper bound.
    #[must_use]
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let buckets = FILL_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(le, n)| (*le, n.load(Ordering::Relaxed)))
            .collect();
        (
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
            self.count.load(Ordering::Relaxed),
            buckets,
        )
    }
}

/// The set of mirrors an edge fills from.
#[derive(Debug)]
pub struct Upstreams {
    mirrors: Vec<Mirror>,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
    fetched: AtomicU64,
    /// Latency of successful fetches (metadata and chunks).
    pub fill_latency: FillHistogram,
}

impl Upstreams {
    /// Mirrors at these base URLs (`http://host:port`, `https://host:port`), each request
    /// bounded by `timeout`; `https://` ones verified against the system's roots.
    ///
    /// # Errors
    /// [`FetchError::BadUpstream`] for a URL that is not `http(s)://host:port`.
    pub fn new(bases: &[String], timeout: Duration) -> Result<Self, FetchError> {
        Self::with_ca(bases, timeout, None)
    }

    /// [`Upstreams::new`], with `https://` mirrors also trusted when their certificate chains to
    /// a CA in the PEM file `ca`.
    ///
    /// # Errors
    /// [`FetchError::BadUpstream`]; [`FetchError::Tls`] for a CA file without certificates.
    pub fn with_ca(
        bases: &[String],
        timeout: Duration,
        ca: Option<&std::path::Path>,
    ) -> Result<Self, FetchError> {
        let mut mirrors = Vec::new();
        for b in bases {
            let base = b.trim_end_matches('/').to_owned();
            let uri: Uri = base
                .parse()
                .map_err(|_| FetchError::BadUpstream(b.clone()))?;
            if !matches!(uri.scheme_str(), Some("http" | "https"))
                || uri.host().is_none()
                || uri.path() != "/" && !uri.path().is_empty()
            {
                return Err(FetchError::BadUpstream(b.clone()));
            }
            mirrors.push(Mirror {
                base,
                ewma_us: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                down_until: Mutex::new(None),
                lies: AtomicU64::new(0),
            });
        }
        if mirrors.is_empty() {
            return Err(FetchError::BadUpstream(String::new()));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        connector.enforce_http(false);
        let https = mirrors.iter().any(|m| m.base.starts_with("https://"));
        let config = if https || ca.is_some() {
            tls::client_config(ca)?
        } else {
            // No https:// mirror: a configuration that is never used needs no system roots.
            rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| FetchError::Tls(e.to_string()))?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        Ok(Self {
            mirrors,
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
            fetched: AtomicU64::new(0),
            fill_latency: FillHistogram::default(),
        })
    }

    /// The mirrors, in configuration order.
    #[must_use]
    pub fn mirrors(&self) -> &[Mirror] {
        &self.mirrors
    }

    /// Body bytes read from upstreams so far, whether they verified or not.
    #[must_use]
    pub fn fetched_bytes(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// Mirror indices to try, best first: healthy ones by smoothed latency (unmeasured first, so
    /// each gets measured), then the rest.
    fn order(&self) -> Vec<usize> {
        let now = Instant::now();
        let mut idx: Vec<usize> = (0..self.mirrors.len()).collect();
        idx.sort_by_key(|&i| {
            let m = &self.mirrors[i];
            (!m.healthy(now), m.latency_us())
        });
        idx
    }

    async fn attempt(
        &self,
        mirror: &Mirror,
        path: &str,
        range: Option<(u64, u64)>,
        max_len: u64,
    ) -> Attempt {
        let uri = format!("{}{path}", mirror.base);
        let mut req = Request::get(uri.as_str());
        if let Some((a, b)) = range {
            req = req.header(header::RANGE, format!("bytes={a}-{b}"));
        }
        let Ok(mut req) = req.body(Empty::new()) else {
            return Attempt::Failed(format!("cannot build a request for {uri}"));
        };
        let span = tracing::info_span!(
            "upstream.request",
            otel.kind = "client",
            url.full = %uri,
            http.request.method = "GET",
            http.response.status_code = tracing::field::Empty,
        );
        {
            let _in = span.enter();
            tinycdn_telemetry::trace::inject(req.headers_mut());
        }
        let fetch = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("{uri}: {e}"))?;
            let status = resp.status();
            tracing::Span::current().record("http.response.status_code", status.as_u16());
            if status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let expected = if range.is_some() {
                StatusCode::PARTIAL_CONTENT
            } else {
                StatusCode::OK
            };
            if status != expected {
                return Err(format!("{uri}: status {status}"));
            }
            let limit = usize::try_from(max_len).unwrap_or(usize::MAX);
            let body = Limited::new(resp.into_body(), limit)
                .collect()
                .await
                .map_err(|e| format!("{uri}: body: {e}"))?;
            // Copied to a buffer of its own length: a body of one frame would otherwise be a
            // slice of the connection's read buffer and keep all of it alive in the caches,
            // which weigh only its length.
            Ok(Some(Bytes::copy_from_slice(&body.to_bytes())))
        };
        match tokio::time::timeout(self.timeout, tracing::Instrument::instrument(fetch, span)).await
        {
            Err(_) => Attempt::Failed(format!("{uri}: timed out after {:?}", self.timeout)),
            Ok(Err(e)) => Attempt::Failed(e),
            Ok(Ok(None)) => Attempt::NotFound,
            Ok(Ok(Some(b))) => Attempt::Ok(b),
        }
    }

    /// Fetches `path` (optionally one byte range, inclusive) from the best mirror whose answer
    /// passes `verify`, trying the others in order. Bodies longer than `max_len` are cut off and
    /// count as failures. A mirror that answers with bytes that fail `verify` is demoted and
    /// counted as having lied.
    ///
    /// # Errors
    /// [`FetchError::NotFound`] when every mirror that answered said 404,
    /// [`FetchError::Exhausted`] otherwise.
    pub async fn fetch(
        &self,
        path: &str,
        range: Option<(u64, u64)>,
        max_len: u64,
        verify: impl Fn(&[u8]) -> bool,
    ) -> Result<Bytes, FetchError> {
        let mut last = String::from("no upstream was tried");
        let mut all_not_found = true;
        let mut any_not_found = false;
        for i in self.order() {
            let mirror = &self.mirrors[i];
            let started = Instant::now();
            let attempt = self.attempt(mirror, path, range, max_len).await;
            if let Attempt::Ok(bytes) = &attempt {
                // Every body byte read counts, whether or not it verifies.
                self.fetched
                    .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            }
            match attempt {
                Attempt::Ok(bytes) if verify(&bytes) => {
                    mirror.succeeded(started.elapsed());
                    self.fill_latency.observe(started.elapsed());
                    return Ok(bytes);
                }
                Attempt::Ok(_) => {
                    mirror.lies.fetch_add(1, Ordering::Relaxed);
                    mirror.failed();
                    all_not_found = false;
                    last = format!("{}{path}: the bytes did not verify", mirror.base);
                }
                Attempt::NotFound => {
                    any_not_found = true;
                    mirror.succeeded(started.elapsed());
                    last = format!("{}{path}: not found", mirror.base);
                }
                Attempt::Failed(e) => {
                    mirror.failed();
                    all_not_found = false;
                    last = e;
                }
            }
        }
        if all_not_found {
            Err(FetchError::NotFound {
                path: path.to_owned(),
            })
        } else {
            Err(FetchError::Exhausted {
                path: path.to_owned(),
                last,
                not_found: any_not_found,
            })
        }
    }

    /// Fetches small, versioned metadata (a timestamp) from *every* healthy mirror at once and
    /// returns the newest answer: `version` gives the version of an answer that verifies, `None`
    /// for one that does not. One honest mirror is then enough to defeat stale ones: a mirror
    /// whose valid answer is older than the newest is counted as having lied and demoted, like
    /// one whose answer does not verify.
    ///
    /// # Errors
    /// As [`Upstreams::fetch`].
    pub async fn fetch_newest(
        &self,
        path: &str,
        max_len: u64,
        version: impl Fn(&[u8]) -> Option<u64>,
    ) -> Result<Bytes, FetchError> {
        let now = Instant::now();
        let mut chosen: Vec<usize> = (0..self.mirrors.len())
            .filter(|&i| self.mirrors[i].healthy(now))
            .collect();
        if chosen.is_empty() {
            chosen = (0..self.mirrors.len()).collect();
        }
        let answers = futures_util::future::join_all(chosen.iter().map(|&i| async move {
            let started = Instant::now();
            let attempt = self.attempt(&self.mirrors[i], path, None, max_len).await;
            (i, started.elapsed(), attempt)
        }))
        .await;
        let mut last = String::from("no upstream was tried");
        let mut all_not_found = true;
        let mut any_not_found = false;
        let mut valid: Vec<(usize, u64, Bytes)> = Vec::new();
        for (i, elapsed, attempt) in answers {
            let mirror = &self.mirrors[i];
            match attempt {
                Attempt::Ok(bytes) => {
                    self.fetched
                        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    all_not_found = false;
                    if let Some(v) = version(&bytes) {
                        mirror.succeeded(elapsed);
                        self.fill_latency.observe(elapsed);
                        valid.push((i, v, bytes));
                    } else {
                        mirror.lies.fetch_add(1, Ordering::Relaxed);
                        mirror.failed();
                        last = format!("{}{path}: the bytes did not verify", mirror.base);
                    }
                }
                Attempt::NotFound => {
                    any_not_found = true;
                    mirror.succeeded(elapsed);
                    last = format!("{}{path}: not found", mirror.base);
                }
                Attempt::Failed(e) => {
                    mirror.failed();
                    all_not_found = false;
                    last = e;
                }
            }
        }
        let Some(newest) = valid.iter().map(|(_, v, _)| *v).max() else {
            return Err(if all_not_found {
                FetchError::NotFound {
                    path: path.to_owned(),
                }
            } else {
                FetchError::Exhausted {
                    path: path.to_owned(),
                    last,
                    not_found: any_not_found,
                }
            });
        };
        let mut result = None;
        for (i, v, bytes) in valid {
            if v < newest {
                let mirror = &self.mirrors[i];
                mirror.lies.fetch_add(1, Ordering::Relaxed);
                mirror.failed();
            } else if result.is_none() {
                result = Some(bytes);
            }
        }
        result.ok_or_else(|| FetchError::Exhausted {
            path: path.to_owned(),
            last,
            not_found: any_not_found,
        })
    }
}

impl tinycdn_core::error::Classified for FetchError {
    fn class(&self) -> tinycdn_core::error::ErrorClass {
        use tinycdn_core::error::ErrorClass;
        match self {
            Self::NotFound { .. } => ErrorClass::Failure,
            Self::Exhausted { .. } => ErrorClass::Transient,
            Self::BadUpstream(_) | Self::Tls(_) => ErrorClass::Usage,
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Exhausted {
                not_found: false, ..
            } => Some("no mirror answered: check that every --from URL (the origin or an edge) is running and reachable from here"),
            _ => None,
        }
    }
}
