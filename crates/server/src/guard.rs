//! What keeps one client from holding connections it does not use: a watchdog per connection
//! (a first request within `--header-timeout`, whatever protocol it speaks; no connection idle
//! past `--idle-timeout`; no response stalled on a client that reads nothing past
//! `--send-timeout`), the connection slots (`--max-connections`, `--max-connections-per-ip`)
//! that an upgraded tunnel keeps holding, and the tunnel itself, closed when idle.
//!
//! The watchdog reads the connection's state from its requests, not from its bytes: an HTTP/2
//! client that answers pings, or sends its own, is still idle if it asks for nothing. It wakes
//! every half of the shortest timeout; requests and bodies only count what happens, so a hit
//! pays no clock read and no wake-up for it. A response
//! stalls when its body handed a frame to hyper and hyper has not come back for the next one
//! (it does so only once the frame is written and, on HTTP/2, the client's window has room), so
//! the same rule catches a full socket buffer and a closed HTTP/2 window.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;

use crate::body::Body;
use crate::listen::Limits;

/// Milliseconds since `start`.
fn ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The state of one connection, as its requests and response bodies report it. Requests and
/// bodies only count (no clock, no wake-up: a hit pays a few relaxed atomic operations); the
/// watchdog reads the counts when it wakes, every half of the shortest timeout, and measures
/// the time itself.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    /// Requests that have arrived (their head complete).
    requests: AtomicU64,
    /// Requests whose response has not ended.
    open: AtomicUsize,
    /// Response bodies that handed hyper a frame and wait for it to come back.
    waiting: AtomicUsize,
    /// Times a response body was asked for a frame.
    progress: AtomicU64,
}

/// Why a watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// No complete request head within `--header-timeout`.
    Header,
    /// No request for `--idle-timeout`.
    Idle,
    /// A response waited on the client for `--send-timeout`.
    Send,
}

/// What the watchdog saw at its last look.
#[derive(Debug, Default)]
struct Seen {
    /// Since when (ms) nothing has been open, and the request count then.
    idle: Option<(u64, u64)>,
    /// Since when (ms) a body has waited on the client, and the progress count then.
    stalled: Option<(u64, u64)>,
}

impl Watch {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A request has arrived; it is open until the returned guard is dropped (or, handed its
    /// response body by [`Open::track`], until that body ends). A request whose handler is
    /// dropped half-way (an HTTP/2 stream the client reset) is closed with it.
    pub fn request(self: &Arc<Self>) -> Open {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.open.fetch_add(1, Ordering::AcqRel);
        Open(self.clone())
    }

    /// One look at `now` (ms since the connection began): the reason it is over, if it is.
    fn look(&self, seen: &mut Seen, now: u64, limits: &Limits) -> Option<Expiry> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let requests = self.requests.load(Ordering::Relaxed);
        if requests == 0 {
            return (now >= millis(limits.header_timeout)).then_some(Expiry::Header);
        }
        if self.open.load(Ordering::Acquire) == 0 {
            match seen.idle {
                Some((since, n)) if n == requests => {
                    if now.saturating_sub(since) >= millis(limits.idle_timeout) {
                        return Some(Expiry::Idle);
                    }
                }
                _ => seen.idle = Some((now, requests)),
            }
        } else {
            seen.idle = None;
        }
        let progress = self.progress.load(Ordering::Relaxed);
        if self.waiting.load(Ordering::Acquire) > 0 {
            match seen.stalled {
                Some((since, p)) if p == progress => {
                    if now.saturating_sub(since) >= millis(limits.send_timeout) {
                        return Some(Expiry::Send);
                    }
                }
                _ => seen.stalled = Some((now, progress)),
            }
        } else {
            seen.stalled = None;
        }
        None
    }

    /// Waits until the connection is over by `limits` and says why, looking every half of the
    /// shortest timeout (so a connection is closed at most half a timeout late).
    pub async fn expired(&self, limits: &Limits) -> Expiry {
        let start = Instant::now();
        let mut seen = Seen::default();
        let shortest = limits
            .header_timeout
            .min(limits.idle_timeout)
            .min(limits.send_timeout);
        let tick = (shortest / 2).max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(tick).await;
            if let Some(why) = self.look(&mut seen, ms(start), limits) {
                return why;
            }
        }
    }
}

/// One open request of a connection (see [`Watch::request`]).
#[derive(Debug)]
pub(crate) struct Open(Arc<Watch>);

impl Open {
    /// `body`, reporting its progress to the watch; the request stays open until it ends.
    pub fn track(self, body: Body) -> Body {
        http_body_util::BodyExt::boxed(Tracked {
            inner: body,
            watch: self.0.clone(),
            _open: self,
            handed: false,
        })
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that tells its connection's [`Watch`] when it is asked for frames.
struct Tracked {
    inner: Body,
    watch: Arc<Watch>,
    _open: Open,
    /// It handed hyper a frame and has not been asked again since.
    handed: bool,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let w = self.watch.clone();
        if std::mem::take(&mut self.handed) {
            w.waiting.fetch_sub(1, Ordering::AcqRel);
        }
        w.progress.fetch_add(1, Ordering::Relaxed);
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(_))) = &polled {
            if !self.inner.is_end_stream() {
                self.handed = true;
                w.waiting.fetch_add(1, Ordering::AcqRel);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.handed {
            self.watch.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Connections per client address, shared by a listener's connections.
#[derive(Debug, Default)]
pub(crate) struct PerIp(Mutex<HashMap<IpAddr, usize>>);

impl PerIp {
    /// Takes one of `ip`'s `max` places (0: no cap); `false` when it has none left.
    fn take(&self, ip: IpAddr, max: usize) -> bool {
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let n = m.entry(ip.to_canonical()).or_insert(0);
        if max > 0 && *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    fn give_back(&self, ip: IpAddr) {
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // An IPv4-mapped IPv6 address counts as the IPv4 one: one host, one count.
        let ip = ip.to_canonical();
        if let Some(n) = m.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }
}

#[derive(Debug)]
struct SlotInner {
    _permit: OwnedSemaphorePermit,
    ip: IpAddr,
    per_ip: Arc<PerIp>,
    idle_timeout: Duration,
}

impl Drop for SlotInner {
    fn drop(&mut self) {
        self.per_ip.give_back(self.ip);
    }
}

/// A connection's place among `--max-connections` and its address's
/// `--max-connections-per-ip`, given back when the last holder drops it. A request that asks
/// to upgrade carries one in its extensions, so that the tunnel it becomes keeps the place.
#[derive(Debug, Clone)]
pub struct ConnSlot(Arc<SlotInner>);

impl ConnSlot {
    /// A place for a connection from `ip`, or `None` when its address holds its share.
    pub(crate) fn take(
        permit: OwnedSemaphorePermit,
        ip: IpAddr,
        per_ip: &Arc<PerIp>,
        limits: &Limits,
    ) -> Option<Self> {
        per_ip.take(ip, limits.max_connections_per_ip).then(|| {
            Self(Arc::new(SlotInner {
                _permit: permit,
                ip,
                per_ip: per_ip.clone(),
                idle_timeout: limits.idle_timeout,
            }))
        })
    }

    /// How long a tunnel holding this place may carry nothing before it is closed.
    #[must_use]
    pub fn idle_timeout(&self) -> Duration {
        self.0.idle_timeout
    }
}

/// An I/O stream that notes when bytes last moved through it.
struct Active<T> {
    inner: T,
    start: Instant,
    last: Arc<AtomicU64>,
}

impl<T> Active<T> {
    fn touch(&self) {
        self.last.store(ms(self.start), Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Active<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Active<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Copies both ways between `a` and `b` (an upgraded client connection and the application's)
/// until either side closes or nothing has moved for `idle`; `slot` is held until then.
pub async fn tunnel<A, B>(a: A, b: B, idle: Duration, slot: Option<ConnSlot>)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let start = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let mut a = Active {
        inner: a,
        start,
        last: last.clone(),
    };
    let mut b = Active {
        inner: b,
        start,
        last: last.clone(),
    };
    let idle_ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX).max(1);
    let watchdog = async {
        loop {
            let deadline = last.load(Ordering::Relaxed).saturating_add(idle_ms);
            if ms(start) >= deadline {
                return;
            }
            let wake = start + Duration::from_millis(deadline);
            tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
        }
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut a, &mut b) => {}
        () = watchdog => {}
    }
    drop(slot);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(200),
            send_timeout: Duration::from_millis(300),
            ..Limits::default()
        }
    }

    #[test]
    fn a_connection_that_never_asks_expires_at_the_header_timeout() {
        let w = Watch::new();
        let mut seen = Seen::default();
        assert_eq!(w.look(&mut seen, 99, &limits()), None);
        assert_eq!(w.look(&mut seen, 100, &limits()), Some(Expiry::Header));
    }

    #[test]
    fn an_open_response_keeps_it_until_it_waits_on_the_client() {
        let w = Watch::new();
        let mut seen = Seen::default();
        let open = w.request();
        // Busy, not waiting on the client: never over.
        assert_eq!(w.look(&mut seen, 1_000, &limits()), None);
        assert_eq!(w.look(&mut seen, 9_000, &limits()), None);
        // A body waits on the client; it is cut once nothing moved for the send timeout.
        w.waiting.fetch_add(1, Ordering::AcqRel);
        assert_eq!(w.look(&mut seen, 10_000, &limits()), None);
        w.progress.fetch_add(1, Ordering::Relaxed);
        assert_eq!(w.look(&mut seen, 10_200, &limits()), None, "it moved");
        assert_eq!(w.look(&mut seen, 10_400, &limits()), None);
        assert_eq!(w.look(&mut seen, 10_500, &limits()), Some(Expiry::Send));
        w.waiting.fetch_sub(1, Ordering::AcqRel);
        // Idle once the request ends, closed after the idle timeout unless another comes.
        drop(open);
        assert_eq!(w.look(&mut seen, 11_000, &limits()), None);
        assert_eq!(w.look(&mut seen, 11_150, &limits()), None);
        drop(w.request());
        assert_eq!(w.look(&mut seen, 11_300, &limits()), None, "a new request");
        assert_eq!(w.look(&mut seen, 11_450, &limits()), None);
        assert_eq!(w.look(&mut seen, 11_500, &limits()), Some(Expiry::Idle));
    }

    #[test]
    fn one_address_takes_at_most_its_share() {
        let p = PerIp::default();
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert!(p.take(ip, 2) && p.take(mapped, 2));
        assert!(!p.take(ip, 2));
        assert!(p.take("192.0.2.2".parse().expect("ip"), 2));
        p.give_back(mapped);
        assert!(p.take(ip, 2));
        assert!(p.take(ip, 0), "0 is no cap");
    }
}
