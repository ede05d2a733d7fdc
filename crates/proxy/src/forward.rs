//! Going to the origin: the requests the edge sends (fills, validations, pass-through), the task
//! that runs a fill — storing its body in the chunk cache as it streams to every waiting
//! request — and the pass-through of unsafe methods, request bodies and upgrades.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::TokioIo;
use tinycdn_cache_policy::forwarding::{
    append_via, remove_hop_by_hop, rewrite_forwarding, Hop, CLIENT_FORWARDING,
};
use tinycdn_cache_policy::invalidation::invalidated;
use tinycdn_cache_policy::key::{accept_encoding_class, Vary};
use tinycdn_cache_policy::storable::{storable, stored_headers};
use tinycdn_cache_policy::validation::{conditional_headers, freshen, selects};
use tinycdn_cache_policy::{CacheStatus, Exchange, Record, RequestDirectives, ResponseDirectives};
use tinycdn_core::chunking::{ChunkParams, Chunker};
use tinycdn_core::{ChunkId, FileId};
use tinycdn_server::body::Body;

use super::fill::{Fill, Head, Outcome, Reader};
use super::origin::{source_text, OriginBody, OriginError};
use super::respond::{finish_head, text};
use super::store::{Entry, Selector};
use super::{unix_now, Proxy};
use tinycdn_edge_cache::cache::ChunkCache;

/// The client's conditionals and `Range`: never sent on a fill, which asks for the whole
/// representation (the edge answers them itself).
const FILL_DROPS: [HeaderName; 6] = [
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_MATCH,
    header::IF_UNMODIFIED_SINCE,
    header::IF_RANGE,
    header::RANGE,
];

/// How long a tunnel with no connection slot (a server without limits) may carry nothing.
const TUNNEL_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// What a request is for, as the origin is asked.
#[derive(Debug, Clone)]
pub struct Target {
    /// The primary cache key.
    pub key: String,
    /// `http` or `https` (as the client connected).
    pub scheme: &'static str,
    /// The `Host` the client sent (or the origin's address).
    pub host: String,
    /// Path and query.
    pub path_and_query: String,
    /// The client's address.
    pub client: Option<IpAddr>,
    /// Whether the client is a proxy the operator trusts (`--trusted-proxies`).
    pub trusted: bool,
}

/// How a request is sent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A fill: `GET`, the client's conditionals and `Range` dropped, `Accept-Encoding` reduced to
    /// its class.
    Fill,
    /// As the client sent it (`upgrade`: with its `Connection: upgrade` and `Upgrade`).
    Pass {
        /// Whether the request asks to upgrade the connection.
        upgrade: bool,
    },
}

/// The status a failed origin exchange is answered with.
pub fn failure_status(e: &OriginError) -> StatusCode {
    match e {
        OriginError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// Whether a request asks to switch protocols (HTTP/1.1 `Upgrade`, RFC 9110 §7.8).
pub fn is_upgrade(headers: &HeaderMap, version: Version) -> bool {
    version == Version::HTTP_11
        && headers.contains_key(header::UPGRADE)
        && tinycdn_cache_policy::directives::field_value(headers, "connection").is_some_and(|c| {
            c.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
}

/// A body being cut into chunks and stored as it arrives.
struct BodyStore {
    cache: Arc<ChunkCache>,
    chunker: Chunker,
    buf: BytesMut,
    hasher: blake3::Hasher,
    len: u64,
    chunks: Vec<(ChunkId, u32)>,
}

impl BodyStore {
    fn new(cache: Arc<ChunkCache>) -> Option<Self> {
        Some(Self {
            cache,
            chunker: Chunker::new(ChunkParams::DEFAULT).ok()?,
            buf: BytesMut::new(),
            hasher: blake3::Hasher::new(),
            len: 0,
            chunks: Vec::new(),
        })
    }

    async fn cut(&mut self, eof: bool) {
        while let Some(n) = self.chunker.next_chunk_len(&self.buf, eof) {
            // Copied out, not split off: a chunk split from the buffer would keep the whole
            // allocation alive (up to several times its length) in the memory tier, which
            // weighs only its length; copied, the buffer's room is reused for what follows.
            let chunk = Bytes::copy_from_slice(&self.buf[..n]);
            bytes::Buf::advance(&mut self.buf, n);
            let id = ChunkId::of(&chunk);
            self.chunks.push((id, u32::try_from(n).unwrap_or(u32::MAX)));
            self.cache.put(id, chunk).await;
        }
    }

    async fn feed(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.len += data.len() as u64;
        self.buf.extend_from_slice(data);
        self.cut(false).await;
    }

    async fn finish(mut self) -> (u64, FileId, Vec<(ChunkId, u32)>) {
        self.cut(true).await;
        (
            self.len,
            FileId::from_bytes(*self.hasher.finalize().as_bytes()),
            self.chunks,
        )
    }
}

impl Proxy {
    /// The request sent to the origin for a client request.
    pub(super) fn origin_request(
        &self,
        t: &Target,
        parts: &Parts,
        mode: Mode,
        validators: Vec<(HeaderName, HeaderValue)>,
        body: OriginBody,
    ) -> Result<Request<OriginBody>, http::Error> {
        let mut h = parts.headers.clone();
        let upgrade = match mode {
            Mode::Pass { upgrade: true } => h.get(header::UPGRADE).cloned(),
            _ => None,
        };
        remove_hop_by_hop(&mut h);
        let method = match mode {
            Mode::Fill => {
                for f in &FILL_DROPS {
                    h.remove(f);
                }
                let class = accept_encoding_class(
                    tinycdn_cache_policy::directives::field_value(
                        &parts.headers,
                        "accept-encoding",
                    )
                    .as_deref(),
                );
                h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(&class)?);
                for (n, v) in validators {
                    h.insert(n, v);
                }
                Method::GET
            }
            Mode::Pass { .. } => parts.method.clone(),
        };
        if let Some(u) = upgrade {
            h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            h.insert(header::UPGRADE, u);
        }
        append_via(&mut h, parts.version, &self.via);
        match t.client {
            Some(client) => {
                let hop = Hop {
                    client,
                    proto: t.scheme,
                    host: &t.host,
                    trusted: t.trusted,
                };
                rewrite_forwarding(&mut h, &hop);
            }
            None => {
                for name in CLIENT_FORWARDING {
                    h.remove(name);
                }
            }
        }
        let h2 = self.origin.is_h2c();
        if h2 {
            h.remove(header::HOST);
        } else {
            h.insert(header::HOST, HeaderValue::from_str(&t.host)?);
        }
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{}", t.host, t.path_and_query))
            .version(if h2 {
                Version::HTTP_2
            } else {
                Version::HTTP_11
            })
            .body(body)?;
        *req.headers_mut() = h;
        Ok(req)
    }

    /// Starts a fill for `t` (a validation of `validating` when given) and returns it with the
    /// starting request's reader, registered before the first frame can arrive; `collapsed`:
    /// the key under which the caller registered it for collapsing.
    pub(super) fn start_fill(
        self: &Arc<Self>,
        t: &Target,
        parts: &Parts,
        validating: Option<Arc<Entry>>,
        collapsed: Option<String>,
    ) -> (Arc<Fill>, Reader) {
        let fill = Fill::new(self.budget.clone());
        let reader = fill
            .reader()
            .unwrap_or_else(|| unreachable!("a new fill has dropped no frame"));
        let this = self.clone();
        let (t, parts, f) = (t.clone(), clone_parts(parts), fill.clone());
        tokio::spawn(async move {
            this.run_fill(&f, &t, &parts, validating).await;
            if let Some(key) = collapsed {
                this.forget_fill(&key, &f);
            }
        });
        (fill, reader)
    }

    /// Sends a fill's request (once more without validators if a 304 does not fit the stored
    /// response, §4.3.4) and returns the response with its exchange times.
    async fn fill_exchange(
        &self,
        fill: &Fill,
        t: &Target,
        parts: &Parts,
        validating: Option<&Arc<Entry>>,
    ) -> Option<(Response<Incoming>, Exchange)> {
        let mut validators = validating
            .map(|e| conditional_headers(&e.record.headers))
            .unwrap_or_default();
        for _ in 0..2 {
            let req = match self.origin_request(
                t,
                parts,
                Mode::Fill,
                std::mem::take(&mut validators),
                empty_body(),
            ) {
                Ok(r) => r,
                Err(e) => {
                    fill.set_outcome(Outcome::Failed(
                        StatusCode::BAD_REQUEST,
                        format!("cannot forward this request: {e}\n"),
                    ));
                    return None;
                }
            };
            let request_time = unix_now();
            let resp = match self.origin.send(req).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "origin exchange failed");
                    fill.set_outcome(Outcome::Failed(failure_status(&e), e.public().into()));
                    return None;
                }
            };
            let exchange = Exchange {
                request_time,
                response_time: unix_now(),
            };
            if resp.status() != StatusCode::NOT_MODIFIED {
                return Some((resp, exchange));
            }
            if let Some(entry) = validating.filter(|e| selects(&e.record.headers, resp.headers())) {
                self.origin.succeeded();
                let mut headers = entry.record.headers.clone();
                freshen(&mut headers, resp.headers());
                let fresh = self.responses.freshen(entry, headers, exchange);
                self.counters.revalidated.fetch_add(1, Ordering::Relaxed);
                fill.set_outcome(Outcome::Refreshed(fresh.clone()));
                fill.finish(Ok(()), Some(fresh));
                return None;
            }
            // A 304 for another response, or to an unconditional request: ask again, plainly.
        }
        fill.set_outcome(Outcome::Failed(
            StatusCode::BAD_GATEWAY,
            "the origin answers 304 to an unconditional request\n".into(),
        ));
        None
    }

    /// Runs a fill to its end: the head published, the body streamed to readers and, when it may
    /// be stored and is complete, stored. A body that breaks off, stalls or is longer than its
    /// `Content-Length` is not stored and ends every reader's body with an error.
    async fn run_fill(
        &self,
        fill: &Arc<Fill>,
        t: &Target,
        parts: &Parts,
        validating: Option<Arc<Entry>>,
    ) {
        let Some((resp, exchange)) = self
            .fill_exchange(fill, t, parts, validating.as_ref())
            .await
        else {
            fill.finish(Err("no response".into()), None);
            return;
        };
        let (rparts, mut body) = resp.into_parts();
        if matches!(rparts.status.as_u16(), 502..=504) {
            self.origin.failed();
        } else {
            self.origin.succeeded();
        }
        let head = Arc::new(self.head(parts, &rparts, exchange));
        // A validation answered by a response that may not be stored: the old one goes too
        // (an error leaves it, for stale-if-error).
        if let (Some(old), false) = (
            &validating,
            head.shareable || rparts.status.is_server_error(),
        ) {
            self.responses.remove_entry(old);
        }
        let mut store = head
            .not_stored
            .is_none()
            .then(|| BodyStore::new(self.cache.clone()))
            .flatten();
        if store.is_none() {
            fill.stream();
        }
        // Hit-for-miss is a property of the response, not of one client's credentials: a client
        // sending a cookie must not switch collapsing off for everyone else.
        if !head.shareable && !matches!(head.not_stored, Some("credentials" | "authorization")) {
            self.mark_uncacheable(&t.key);
        }
        fill.set_outcome(Outcome::Head(head.clone()));
        let max = self.config.max_object_size;
        // The body, frame by frame. When the last frame has come (all of `Content-Length`, or
        // the origin's framing says so), the response is stored before that frame goes out: a
        // client that has the whole body finds it stored on its next request.
        let mut entry = None;
        let result = loop {
            let frame = match tokio::time::timeout(self.config.body_timeout, body.frame()).await {
                Err(_) => {
                    self.origin.failed();
                    break Err(format!(
                        "the origin stalled for {} s in the body",
                        self.config.body_timeout.as_secs()
                    ));
                }
                Ok(None) => break Ok(()),
                Ok(Some(Err(e))) => {
                    break Err(format!("the origin's body broke off: {}", source_text(&e)))
                }
                Ok(Some(Ok(f))) => f,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if let Some(s) = &mut store {
                if s.len + data.len() as u64 > max {
                    store = None;
                    fill.stream();
                    self.counters
                        .not_stored_too_big
                        .fetch_add(1, Ordering::Relaxed);
                } else if !fill.charge(data.len() as u64) {
                    // Other fills hold the memory fills may: this one streams instead.
                    store = None;
                    fill.stream();
                    self.counters
                        .not_stored_busy
                        .fetch_add(1, Ordering::Relaxed);
                } else {
                    s.feed(&data).await;
                }
            }
            let complete = store.as_ref().is_some_and(|s| head.len == Some(s.len));
            if complete || body.is_end_stream() {
                if let Some(s) = store.take() {
                    entry = Some(self.store_response(t, &head, exchange, s).await);
                }
            }
            if !fill.push(data).await {
                break Err("every reader left".into());
            }
        };
        match (&result, store) {
            (Ok(()), Some(s)) => entry = Some(self.store_response(t, &head, exchange, s).await),
            (Err(_), _) => {
                self.counters.fill_errors.fetch_add(1, Ordering::Relaxed);
                // Stored at the last frame, but the exchange failed after all: not kept.
                if let Some(e) = entry.take() {
                    self.responses.remove_entry(&e);
                }
            }
            _ => {}
        }
        fill.finish(result, entry);
    }

    /// Stores a complete response whose body `s` has taken in.
    async fn store_response(
        &self,
        t: &Target,
        head: &Head,
        exchange: Exchange,
        s: BodyStore,
    ) -> Arc<Entry> {
        let (body_len, body_hash, chunks) = s.finish().await;
        let record = Record {
            key: t.key.clone(),
            variant: head.variant.clone().unwrap_or_default(),
            status: head.status,
            headers: head.stored.clone(),
            exchange,
            invalid: false,
            body_len,
            body_hash,
            chunks,
        };
        self.counters.stored.fetch_add(1, Ordering::Relaxed);
        self.responses.insert(record)
    }

    /// What the edge makes of a response head: the fields it sends and stores, and whether it
    /// may be stored and shared.
    fn head(&self, parts: &Parts, rparts: &http::response::Parts, exchange: Exchange) -> Head {
        let mut sent = rparts.headers.clone();
        remove_hop_by_hop(&mut sent);
        let (d, targeted) = ResponseDirectives::for_shared_cache(&sent);
        let req = RequestDirectives::from_request(&parts.headers);
        let verdict = storable(
            &Method::GET,
            &parts.headers,
            &req,
            rparts.status,
            &sent,
            &d,
            targeted,
            self.config.credentials.carries(&parts.headers),
        );
        let len = sent
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let too_big = len.is_some_and(|l| l > self.config.max_object_size);
        if too_big {
            self.counters
                .not_stored_too_big
                .fetch_add(1, Ordering::Relaxed);
        }
        let vary = Vary::of(&sent);
        let variant = vary.secondary_key(&parts.headers);
        Head {
            status: rparts.status,
            stored: stored_headers(&sent, &d),
            sent,
            shareable: verdict.is_ok(),
            not_stored: verdict
                .err()
                .map(|r| r.as_str())
                .or(too_big.then_some("too-big")),
            len,
            vary,
            variant,
            exchange,
        }
    }

    /// Forwards a request as it is (unsafe methods, request bodies, upgrades, what the cache
    /// does not handle), streaming both bodies; a success invalidates what §4.4 says.
    pub(super) async fn pass(
        self: &Arc<Self>,
        t: &Target,
        mut req: Request<Incoming>,
        cs: CacheStatus,
    ) -> Response<Body> {
        let upgrade = is_upgrade(req.headers(), req.version());
        let client_side = upgrade.then(|| {
            // The tunnel holds the connection's place in `--max-connections` until it closes.
            let slot = req.extensions_mut().remove::<tinycdn_server::ConnSlot>();
            (hyper::upgrade::on(&mut req), slot)
        });
        let (parts, body) = req.into_parts();
        let body: OriginBody = body
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
            .boxed();
        self.pass_with(t, parts, body, client_side, cs).await
    }

    /// [`Proxy::pass`] of a request head and body; `client_side` is the client's connection
    /// once it is upgraded.
    pub(super) async fn pass_with(
        self: &Arc<Self>,
        t: &Target,
        parts: Parts,
        body: OriginBody,
        client_side: Option<(hyper::upgrade::OnUpgrade, Option<tinycdn_server::ConnSlot>)>,
        cs: CacheStatus,
    ) -> Response<Body> {
        let upgrade = client_side.is_some();
        let oreq = match self.origin_request(t, &parts, Mode::Pass { upgrade }, Vec::new(), body) {
            Ok(r) => r,
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot forward this request: {e}\n"),
                    &parts,
                    &self.via,
                    &cs,
                )
            }
        };
        self.counters.passed.fetch_add(1, Ordering::Relaxed);
        let mut resp = match self.origin.send(oreq).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "origin exchange failed");
                return text(failure_status(&e), e.public(), &parts, &self.via, &cs);
            }
        };
        if matches!(resp.status().as_u16(), 502..=504) {
            self.origin.failed();
        } else {
            self.origin.succeeded();
        }
        for key in invalidated(&parts.method, resp.status(), &t.key, resp.headers()) {
            let n = self.responses.purge(&Selector::Url(key), false, &|_| true);
            self.counters
                .invalidated
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        if let (true, Some((client_side, slot))) = (switching, client_side) {
            let origin_side = hyper::upgrade::on(&mut resp);
            let idle = slot
                .as_ref()
                .map_or(TUNNEL_IDLE, tinycdn_server::ConnSlot::idle_timeout);
            tokio::spawn(async move {
                if let (Ok(c), Ok(o)) = (client_side.await, origin_side.await) {
                    tinycdn_server::guard::tunnel(TokioIo::new(c), TokioIo::new(o), idle, slot)
                        .await;
                }
            });
        }
        let (mut rparts, rbody) = resp.into_parts();
        let upgrade_to = rparts.headers.get(header::UPGRADE).cloned();
        remove_hop_by_hop(&mut rparts.headers);
        if let (true, Some(u)) = (switching, upgrade_to) {
            rparts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            rparts.headers.insert(header::UPGRADE, u);
        }
        finish_head(&mut rparts.headers, &parts, &self.via, &cs);
        let body = rbody.map_err(std::io::Error::other).boxed();
        Response::from_parts(rparts, body)
    }
}

/// An empty request body.
pub fn empty_body() -> OriginBody {
    http_body_util::Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A copy of a request head (extensions left behind).
pub fn clone_parts(p: &Parts) -> Parts {
    let mut b = Request::builder()
        .method(p.method.clone())
        .uri(p.uri.clone())
        .version(p.version);
    if let Some(h) = b.headers_mut() {
        *h = p.headers.clone();
    }
    b.body(())
        .map(Request::into_parts)
        .map_or_else(|_| Request::new(()).into_parts().0, |(parts, ())| parts)
}
