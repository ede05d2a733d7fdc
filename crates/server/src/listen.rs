//! The accept loop: HTTP/1.1 with keep-alive and HTTP/2 (h2c) on one port, with limits against
//! clients that hold connections open or send oversized headers ([`crate::guard`]).

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use tokio_rustls::TlsAcceptor;

use crate::body::Body;
use crate::drain::Drain;
use crate::guard::{ConnSlot, Expiry, PerIp, Watch};

/// Something that answers requests: the origin or an edge.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request that came on a connection described by `info`.
    fn handle(
        self: Arc<Self>,
        req: hyper::Request<hyper::body::Incoming>,
        info: ConnInfo,
    ) -> impl std::future::Future<Output = hyper::Response<Body>> + Send;

    /// The process began to drain ([`Drain::begin`]): readiness (`/readyz`) answers 503 from
    /// now on, while requests are still served.
    fn begin_drain(&self) {}

    /// Every connection is gone: write what is only in memory (state, logs) before the exit.
    fn drained(&self) {}
}

/// What the server knows of a request's connection, handed to the handler with every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: std::net::SocketAddr,
    /// Whether the connection is TLS (the effective URI's scheme is `https`).
    pub tls: bool,
}

/// Limits on what clients may hold or send.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; further ones are closed at accept.
    pub max_connections: usize,
    /// Time a client has to send a complete request head (slowloris defence).
    pub header_timeout: Duration,
    /// Largest request head, in bytes (at least 8192).
    pub max_header_bytes: usize,
    /// Time a connection may stay open with no request in progress (keep-alive, HTTP/2).
    pub idle_timeout: Duration,
    /// Time a response may wait on a client that takes none of it.
    pub send_timeout: Duration,
    /// Connections one client address may hold at once (0: no cap).
    pub max_connections_per_ip: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            idle_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            max_connections_per_ip: 1_000,
        }
    }
}

/// During a drain, how long an idle HTTP/1 connection is kept for a last request (answered with
/// `Connection: close`) before it is closed.
const DRAIN_IDLE: Duration = Duration::from_secs(2);

/// Serves one connection (HTTP/1.1 or HTTP/2, detected from the first bytes) to its end, or
/// until its watchdog closes it.
async fn connection<I, H>(
    io: I,
    handler: Arc<H>,
    limits: Limits,
    info: ConnInfo,
    slot: ConnSlot,
    drain: Drain,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    H: Handler,
{
    let watch = Watch::new();
    let w = watch.clone();
    let h2 = Arc::new(AtomicBool::new(false));
    let (seen_h2, draining) = (h2.clone(), drain.clone());
    let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let handler = handler.clone();
        let open = w.request();
        // A tunnel keeps the connection's place after hyper lets go of it.
        if req.headers().contains_key(hyper::header::UPGRADE) {
            req.extensions_mut().insert(slot.clone());
        }
        let http1 = req.version() < hyper::Version::HTTP_2;
        if !http1 {
            seen_h2.store(true, Ordering::Relaxed);
        }
        let draining = draining.clone();
        async move {
            let resp = match tinycdn_telemetry::access::AccessLog::global() {
                None => handler.handle(req, info).await,
                Some(log) => {
                    let pending = crate::access::Pending::new(&req, info, log.pop.clone());
                    let resp = handler.handle(req, info).await;
                    crate::access::wrap(resp, pending, log)
                }
            };
            let mut resp = resp.map(|b| open.track(b));
            // Draining: an HTTP/1 connection closes after this answer, which says so, so the
            // client never writes another request into a connection being closed.
            if http1 && draining.is_closing() {
                resp.headers_mut().insert(
                    hyper::header::CONNECTION,
                    hyper::header::HeaderValue::from_static("close"),
                );
            }
            Ok::<_, Infallible>(resp)
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    // Pings find peers that vanished while a request is in progress (the watchdog, which
    // counts requests, not bytes, closes connections that ask for nothing).
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.idle_timeout.min(Duration::from_secs(30))))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    // With upgrades, so that a proxied `Upgrade` (WebSocket) can take the connection over.
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    let closing = tokio::select! {
        _ = conn.as_mut() => return,
        why = watch.expired(&limits) => why,
        () = drain.closing() => {
            // The process drains: what is in flight finishes. HTTP/2 gets a GOAWAY at once
            // (race-free by design). An HTTP/1 connection closes after its next answer, marked
            // `Connection: close`; one that stays idle for DRAIN_IDLE is closed then (a client
            // writing a request at that very moment is the only one that can lose it, as with
            // any keep-alive close).
            if !h2.load(Ordering::Relaxed) {
                let quick = Limits {
                    idle_timeout: limits.idle_timeout.min(DRAIN_IDLE),
                    ..limits
                };
                tokio::select! {
                    _ = conn.as_mut() => return,
                    _ = watch.expired(&quick) => {}
                }
            }
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn.as_mut() => return,
                why = watch.expired(&limits) => why,
            }
        }
    };
    if closing == Expiry::Idle {
        // HTTP/2 gets its GOAWAY; HTTP/1 closes between requests.
        conn.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(Duration::from_secs(1), conn.as_mut()).await;
    }
    tracing::debug!(peer = %info.peer, why = ?closing, "connection closed by its limits");
}

/// Serves `handler` on `listener` (over TLS when `tls` is given) until the task is dropped.
///
/// # Errors
/// Never returns on its own; accept errors (such as running out of file descriptors) are retried
/// after a short pause.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: Limits,
    tls: Option<TlsAcceptor>,
) -> std::io::Result<()> {
    serve_until(listener, handler, limits, tls, Drain::new()).await
}

/// [`serve`] until `drain` stops accepting ([`Drain::stop_accepting`]): then the listener is
/// closed and this returns, while the connections it accepted go on to their end, counted by
/// `drain` ([`Drain::idle`]).
///
/// # Errors
/// Accept errors are retried after a short pause; none is returned.
pub async fn serve_until<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    drain: Drain,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_ip = Arc::new(PerIp::default());
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = drain.accepting_stopped() => return Ok(()),
        };
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let Some(slot) = ConnSlot::take(permit, peer.ip(), &per_ip, &limits) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let tls = tls.clone();
        let drain = drain.clone();
        tokio::spawn(async move {
            let _counted = drain.track();
            match tls {
                None => {
                    let info = ConnInfo { peer, tls: false };
                    connection(TokioIo::new(stream), handler, limits, info, slot, drain).await;
                }
                Some(acceptor) => {
                    // The handshake counts against the header timeout too.
                    let accepted =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await;
                    if let Ok(Ok(tls_stream)) = accepted {
                        let info = ConnInfo { peer, tls: true };
                        let io = TokioIo::new(tls_stream);
                        connection(io, handler, limits, info, slot, drain).await;
                    }
                }
            }
        });
    }
}
