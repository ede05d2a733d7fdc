//! The connection to the fronted application: HTTP/1.1 with keep-alive (`http://HOST:PORT`),
//! HTTP/1.1 over TLS (`https://HOST:PORT`, the certificate verified for HOST against the
//! system's roots and `--origin-ca`), or HTTP/2 with prior knowledge (`h2c://HOST:PORT`, as Caddy
//! writes it), every connection made to that address whatever `Host` the request names; a deadline for the response head, and an
//! exponential back-off after consecutive failures so that a dead origin is not waited on for
//! every request.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::{Request, Response, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use thiserror::Error;
use tokio::net::TcpStream;

/// A request body sent to the origin.
pub type OriginBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Why the origin gave no usable response. Every variant is the origin's fault (upstream), and a
/// retry may help.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginError {
    /// No connection could be made.
    #[error("cannot connect to the origin {origin}: {why}")]
    Connect {
        /// The origin's address.
        origin: String,
        /// What the system said.
        why: String,
    },
    /// No response head within the deadline.
    #[error("the origin {origin} sent no response within {secs} s")]
    Timeout {
        /// The origin's address.
        origin: String,
        /// The deadline.
        secs: u64,
    },
    /// The origin broke the protocol: garbage, a wrong length, a connection closed early.
    #[error("the origin {origin} sent a broken response: {why}")]
    Protocol {
        /// The origin's address.
        origin: String,
        /// What was wrong.
        why: String,
    },
    /// The origin URL given is not usable.
    #[error("invalid --origin {0:?}: use http://HOST:PORT, https://HOST:PORT or h2c://HOST:PORT")]
    BadUrl(String),
    /// TLS to the origin cannot be set up (its CA file).
    #[error("TLS to the origin: {0}")]
    Tls(String),
}

impl OriginError {
    /// The error as a client may read it: what went wrong, never the application's address
    /// (which would let anyone bypass the edge); the full text goes to logs and metrics.
    #[must_use]
    pub fn public(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "the application could not be reached\n",
            Self::Timeout { .. } => "the application sent no response in time\n",
            Self::Protocol { .. } => "the application sent a broken response\n",
            Self::BadUrl(_) | Self::Tls(_) => "the edge's application address is misconfigured\n",
        }
    }
}

/// Connects every request to one address, whatever its URI says (the URI carries the client's
/// `Host` as its authority, so that HTTP/2 origins see the right `:authority`).
#[derive(Debug, Clone)]
struct FixedConnector {
    addr: String,
    timeout: Duration,
}

impl tower_service::Service<Uri> for FixedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let (addr, timeout) = (self.addr.clone(), self.timeout);
        Box::pin(async move {
            let stream = tokio::time::timeout(timeout, TcpStream::connect(&addr))
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
                })??;
            let _ = stream.set_nodelay(true);
            Ok(TokioIo::new(stream))
        })
    }
}

/// Consecutive failures and the back-off they earned.
#[derive(Debug, Default)]
struct Health {
    failures: u64,
    down_until: Option<Instant>,
}

/// Failures in a row before the origin is backed off.
const FAILURES_BEFORE_BACKOFF: u64 = 3;

/// The clients of the protocols an origin may speak.
#[derive(Debug)]
enum Conn {
    /// `http://` and `h2c://`.
    Plain(Client<FixedConnector, OriginBody>),
    /// `https://`.
    Tls(Client<hyper_rustls::HttpsConnector<FixedConnector>, OriginBody>),
}

/// The fronted application.
#[derive(Debug)]
pub struct Origin {
    client: Conn,
    addr: String,
    h2c: bool,
    head_timeout: Duration,
    health: Mutex<Health>,
    /// Requests sent.
    pub requests: AtomicU64,
    /// Requests that failed (connect, timeout, protocol), and 5xx answers.
    pub failures: AtomicU64,
}

impl Origin {
    /// The origin's URL (for logs).
    #[must_use]
    pub fn url(&self) -> String {
        let scheme = match (&self.client, self.h2c) {
            (Conn::Tls(_), _) => "https",
            (_, true) => "h2c",
            _ => "http",
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The origin at `url` (`http://HOST:PORT`, `https://HOST:PORT` or `h2c://HOST:PORT`).
    ///
    /// # Errors
    /// [`OriginError::BadUrl`].
    pub fn new(
        url: &str,
        connect_timeout: Duration,
        head_timeout: Duration,
    ) -> Result<Self, OriginError> {
        Self::with_ca(url, connect_timeout, head_timeout, None)
    }

    /// [`Origin::new`], an `https://` origin's certificate also trusted when it chains to a CA
    /// in the PEM file `ca`.
    ///
    /// # Errors
    /// [`OriginError::BadUrl`], [`OriginError::Tls`].
    pub fn with_ca(
        url: &str,
        connect_timeout: Duration,
        head_timeout: Duration,
        ca: Option<&std::path::Path>,
    ) -> Result<Self, OriginError> {
        let bad = || OriginError::BadUrl(url.to_owned());
        let (h2c, tls, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (false, true, r)
        } else if let Some(r) = url.strip_prefix("h2c://") {
            (true, false, r)
        } else {
            return Err(bad());
        };
        let addr = rest.trim_end_matches('/');
        if addr.is_empty() || addr.contains('/') || !addr.contains(':') {
            return Err(bad());
        }
        let connector = FixedConnector {
            addr: addr.to_owned(),
            timeout: connect_timeout,
        };
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .http2_only(h2c);
        let client = if tls {
            // The certificate is checked for the origin's host, whatever Host a client sent.
            let host = addr
                .rsplit_once(':')
                .map_or(addr, |(h, _)| h)
                .trim_start_matches('[')
                .trim_end_matches(']');
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned())
                .map_err(|_| bad())?;
            let config = tinycdn_fetch::tls::client_config(ca)
                .map_err(|e| OriginError::Tls(e.to_string()))?;
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_only()
                .with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
                .enable_http1()
                .wrap_connector(connector);
            Conn::Tls(builder.build(https))
        } else {
            Conn::Plain(builder.build(connector))
        };
        Ok(Self {
            client,
            addr: addr.to_owned(),
            h2c,
            head_timeout,
            health: Mutex::new(Health::default()),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// The origin's `host:port`.
    #[must_use]
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether requests go as HTTP/2 with prior knowledge.
    #[must_use]
    pub fn is_h2c(&self) -> bool {
        self.h2c
    }

    /// Whether the origin is backed off after failing repeatedly.
    #[must_use]
    pub fn backed_off(&self) -> bool {
        self.lock().down_until.is_some_and(|t| Instant::now() < t)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a failure (also a 5xx answer): after three in a row the origin is backed off,
    /// 1 s doubling to 30 s.
    pub fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut h = self.lock();
        h.failures += 1;
        if h.failures >= FAILURES_BEFORE_BACKOFF {
            let secs = 1u64 << (h.failures - FAILURES_BEFORE_BACKOFF).min(5);
            h.down_until = Some(Instant::now() + Duration::from_secs(secs.min(30)));
        }
    }

    /// Records a success.
    pub fn succeeded(&self) {
        let mut h = self.lock();
        h.failures = 0;
        h.down_until = None;
    }

    /// Sends a request (its URI: `http://HOST/PATH?QUERY`, `HOST` the client's) and waits for the
    /// response head. Connection errors, timeouts and protocol errors count as failures; the
    /// caller reports 5xx answers with [`Origin::failed`].
    ///
    /// # Errors
    /// [`OriginError`].
    pub async fn send(
        &self,
        mut req: Request<OriginBody>,
    ) -> Result<Response<Incoming>, OriginError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let sent = match &self.client {
            Conn::Plain(c) => c.request(req),
            Conn::Tls(c) => {
                let mut parts = req.uri().clone().into_parts();
                parts.scheme = Some(http::uri::Scheme::HTTPS);
                if let Ok(uri) = Uri::from_parts(parts) {
                    *req.uri_mut() = uri;
                }
                c.request(req)
            }
        };
        let result = tokio::time::timeout(self.head_timeout, sent).await;
        let err = match result {
            Ok(Ok(resp)) => return Ok(resp),
            Ok(Err(e)) if e.is_connect() => OriginError::Connect {
                origin: self.addr.clone(),
                why: source_text(&e),
            },
            Ok(Err(e)) => OriginError::Protocol {
                origin: self.addr.clone(),
                why: source_text(&e),
            },
            Err(_) => OriginError::Timeout {
                origin: self.addr.clone(),
                secs: self.head_timeout.as_secs(),
            },
        };
        self.failed();
        Err(err)
    }
}

/// An error and its sources, as one line.
pub fn source_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_urls() {
        let t = Duration::from_secs(1);
        assert!(Origin::new("http://127.0.0.1:8080", t, t).is_ok());
        assert!(Origin::new("h2c://app:8080/", t, t).is_ok_and(|o| o.is_h2c()));
        assert!(Origin::new("https://app.example:8443", t, t)
            .is_ok_and(|o| o.url() == "https://app.example:8443"));
        for bad in [
            "ftp://a:1",
            "app:8080",
            "http://app",
            "http://a:1/x",
            "http://",
        ] {
            assert!(Origin::new(bad, t, t).is_err(), "{bad}");
        }
    }
}
