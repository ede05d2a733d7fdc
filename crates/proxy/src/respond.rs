//! Responses of the proxy: from a stored response (conditionals, ranges and `HEAD` answered from
//! the cache, §4.3.2) or from a fill as its body arrives; every one carries `Via` and
//! `Cache-Status`, and responses from the cache an `Age` (§5.1).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Channel};
use tinycdn_cache_policy::forwarding::append_via;
use tinycdn_cache_policy::validation::{self, Conditional, NOT_MODIFIED_FIELDS};
use tinycdn_cache_policy::CacheStatus;
use tinycdn_core::ChunkId;
use tinycdn_http::multipart::{self, Segment};
use tinycdn_http::range::{self, ByteRange, RangeOutcome};
use tinycdn_server::body::{self, Body};
use tinycdn_server::respond::{value, Reply};

use super::fill::{Head, Reader, Step};
use super::store::Entry;
use tinycdn_edge_cache::cache::ChunkCache;

/// The name this cache gives itself in `Cache-Status`.
pub const CACHE_NAME: &str = "tinycdn";

/// Response fields for the cache's own use, never sent on (surrogate keys).
const INTERNAL: [&str; 2] = ["surrogate-key", "cache-tag"];

/// What every response of the proxy gets: `Via` and our `Cache-Status` entry, surrogate keys
/// removed.
pub fn finish_head(headers: &mut HeaderMap, req: &Parts, via: &str, status: &CacheStatus) {
    for f in INTERNAL {
        headers.remove(f);
    }
    append_via(headers, req.version, via);
    if headers.contains_key("cache-status") {
        status.append_to(headers, CACHE_NAME);
    } else if let Ok(v) = HeaderValue::from_str(&status.render(CACHE_NAME)) {
        headers.insert("cache-status", v);
    }
}

/// A short text answer that caches must not store ([`Reply::text`]), with `Via` and
/// `Cache-Status`.
pub fn text(
    status: StatusCode,
    msg: &str,
    req: &Parts,
    via: &str,
    cs: &CacheStatus,
) -> Response<Body> {
    let mut r = Reply::text(status, msg).into_response(req.method == Method::HEAD);
    finish_head(r.headers_mut(), req, via, cs);
    r
}

fn build(status: StatusCode, headers: HeaderMap, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

/// The body of `segments` of a stored body: straight from memory without a copy when every chunk
/// it needs is there, else streamed, each chunk from memory or from disk verified by its hash (a
/// chunk that cannot be had ends the body with an error: nothing unverified is sent).
pub fn stored_body(
    cache: &Arc<ChunkCache>,
    chunks: &Arc<[(ChunkId, u32)]>,
    segments: Vec<Segment>,
) -> Body {
    let mut parts = Vec::new();
    let mut in_memory = true;
    'all: for s in &segments {
        match s {
            Segment::Literal(b) => parts.push(Bytes::from(b.clone())),
            Segment::Range(r) => {
                let mut off = 0u64;
                for (id, len) in chunks.iter() {
                    let end = off + u64::from(*len) - 1;
                    if end >= r.start && off <= r.end {
                        let Some(b) = cache.memory_get(id) else {
                            in_memory = false;
                            break 'all;
                        };
                        let from = usize::try_from(r.start.saturating_sub(off)).unwrap_or(0);
                        let to = usize::try_from(r.end.min(end) - off).unwrap_or(0);
                        parts.push(b.slice(from..=to));
                    }
                    off += u64::from(*len);
                }
            }
        }
    }
    if in_memory {
        return body::parts(parts);
    }
    let (mut tx, out) = Channel::<Bytes, std::io::Error>::new(4);
    let (cache, chunks) = (cache.clone(), chunks.clone());
    tokio::spawn(async move {
        for s in segments {
            let r = match s {
                Segment::Literal(b) => {
                    if tx.send_data(Bytes::from(b)).await.is_err() {
                        return;
                    }
                    continue;
                }
                Segment::Range(r) => r,
            };
            match send_stored(&mut tx, &cache, &chunks, r).await {
                Ok(()) => {}
                Err(Some(e)) => return tx.abort(e),
                Err(None) => return,
            }
        }
    });
    out.boxed()
}

/// A 304 from the cache (RFC 9110 §15.4.5).
fn not_modified(stored: &HeaderMap) -> HeaderMap {
    let mut h = HeaderMap::new();
    for f in NOT_MODIFIED_FIELDS {
        for v in stored.get_all(f) {
            h.append(f, v.clone());
        }
    }
    h
}

/// What a 200's client conditionals and `Range` make of it: a 304, a 412, a 416, or the
/// segments of its body to send with their status.
enum Plan {
    Done(StatusCode, HeaderMap),
    Send(StatusCode, Vec<Segment>),
}

fn plan(
    req: &Parts,
    status: StatusCode,
    headers: &mut HeaderMap,
    len: u64,
    response_time: u64,
) -> Plan {
    let whole = |len: u64| {
        if len == 0 {
            Vec::new()
        } else {
            vec![Segment::Range(ByteRange {
                start: 0,
                end: len - 1,
            })]
        }
    };
    if status != StatusCode::OK {
        return Plan::Send(status, whole(len));
    }
    match validation::evaluate(&req.headers, headers, response_time) {
        Conditional::NotModified => {
            return Plan::Done(StatusCode::NOT_MODIFIED, not_modified(headers))
        }
        Conditional::Failed => {
            return Plan::Done(StatusCode::PRECONDITION_FAILED, HeaderMap::new())
        }
        Conditional::Proceed => {}
    }
    if !headers.contains_key(header::ACCEPT_RANGES) {
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    let asked = req.headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let Some(asked) =
        asked.filter(|_| validation::if_range_allows(&req.headers, headers, response_time))
    else {
        return Plan::Send(StatusCode::OK, whole(len));
    };
    match range::parse(asked, len) {
        RangeOutcome::Full => Plan::Send(StatusCode::OK, whole(len)),
        RangeOutcome::Unsatisfiable => {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_RANGE, value(&format!("bytes */{len}")));
            Plan::Done(StatusCode::RANGE_NOT_SATISFIABLE, h)
        }
        RangeOutcome::Partial(ranges) if ranges.len() == 1 => {
            headers.insert(header::CONTENT_RANGE, value(&ranges[0].content_range(len)));
            Plan::Send(StatusCode::PARTIAL_CONTENT, vec![Segment::Range(ranges[0])])
        }
        RangeOutcome::Partial(ranges) => {
            let media = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_owned();
            let boundary = format!("tinycdn-{}", &blake3::hash(asked.as_bytes()).to_hex()[..24]);
            let p = multipart::plan(&ranges, len, &media, &boundary);
            headers.insert(header::CONTENT_TYPE, value(&p.content_type));
            Plan::Send(StatusCode::PARTIAL_CONTENT, p.segments)
        }
    }
}

fn segments_len(segments: &[Segment]) -> u64 {
    segments
        .iter()
        .map(|s| match s {
            Segment::Literal(b) => b.len() as u64,
            Segment::Range(r) => r.len(),
        })
        .sum()
}

/// Everything a response needs from the edge.
pub struct Ctx<'a> {
    /// The request being answered.
    pub req: &'a Parts,
    /// This edge's `Via` entry.
    pub via: &'a str,
    /// The chunk cache holding stored bodies.
    pub cache: &'a Arc<ChunkCache>,
}

/// Answers from a stored response that is `age` seconds old.
pub fn from_entry(ctx: &Ctx<'_>, entry: &Entry, age: u64, cs: &CacheStatus) -> Response<Body> {
    let rec = &entry.record;
    let mut headers = entry.hit_headers.clone();
    headers.insert(header::AGE, HeaderValue::from(age));
    let head = ctx.req.method == Method::HEAD;
    match plan(
        ctx.req,
        rec.status,
        &mut headers,
        rec.body_len,
        rec.exchange.response_time,
    ) {
        Plan::Done(status, mut h) => {
            h.insert(header::AGE, HeaderValue::from(age));
            finish_head(&mut h, ctx.req, ctx.via, cs);
            h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            build(status, h, body::empty())
        }
        Plan::Send(status, segments) => {
            headers.insert(
                header::CONTENT_LENGTH,
                HeaderValue::from(segments_len(&segments)),
            );
            finish_head(&mut headers, ctx.req, ctx.via, cs);
            let b = if head || segments.is_empty() {
                body::empty()
            } else {
                let chunks: Arc<[(ChunkId, u32)]> = rec.chunks.clone().into();
                stored_body(ctx.cache, &chunks, segments)
            };
            build(status, headers, b)
        }
    }
}

/// Answers from a fill as its body arrives. `leader`: this request started the fill and gets the
/// response exactly as the origin sent it (less hop-by-hop fields).
pub fn from_fill(
    ctx: &Ctx<'_>,
    head: &Head,
    reader: Reader,
    leader: bool,
    cs: &CacheStatus,
) -> Response<Body> {
    let mut headers = if leader {
        head.sent.clone()
    } else {
        head.stored.clone()
    };
    let method_head = ctx.req.method == Method::HEAD;
    // Ranges of a body still arriving: only one range of a body whose length is announced.
    let (status, range) = match (head.len, head.status) {
        (Some(len), StatusCode::OK) => match plan(
            ctx.req,
            head.status,
            &mut headers,
            len,
            head.exchange.response_time,
        ) {
            Plan::Done(status, mut h) => {
                finish_head(&mut h, ctx.req, ctx.via, cs);
                h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
                return build(status, h, body::empty());
            }
            Plan::Send(StatusCode::PARTIAL_CONTENT, segments) if segments.len() == 1 => {
                match segments[0] {
                    Segment::Range(r) => {
                        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(r.len()));
                        (StatusCode::PARTIAL_CONTENT, Some(r))
                    }
                    Segment::Literal(_) => (StatusCode::OK, None),
                }
            }
            Plan::Send(_, _) => {
                // Several ranges: the whole body (a server may ignore Range, RFC 9110 §14.2).
                headers.remove(header::CONTENT_RANGE);
                if let Some(ct) = head.stored.get(header::CONTENT_TYPE) {
                    headers.insert(header::CONTENT_TYPE, ct.clone());
                }
                (StatusCode::OK, None)
            }
        },
        (_, status) => (status, None),
    };
    finish_head(&mut headers, ctx.req, ctx.via, cs);
    if method_head {
        return build(status, headers, body::empty());
    }
    build(status, headers, fill_body(ctx.cache.clone(), reader, range))
}

/// The body of a fill from its first frame (or one range of it), frame by frame; once the fill
/// has ended stored and let its frames go, the rest from the stored entry's chunks.
fn fill_body(cache: Arc<ChunkCache>, mut reader: Reader, range: Option<ByteRange>) -> Body {
    let (mut tx, out) = Channel::<Bytes, std::io::Error>::new(4);
    tokio::spawn(async move {
        let mut at = 0u64;
        loop {
            let frame = match reader.step().await {
                Step::Frame(f) => f,
                Step::End => return,
                Step::Failed(e) => {
                    tx.abort(std::io::Error::other(e));
                    return;
                }
                Step::Stored(entry) => {
                    // The reader holds the fill no more: nothing of it stays pinned.
                    drop(reader);
                    let last = entry.record.body_len.saturating_sub(1);
                    let want = match range {
                        None => ByteRange {
                            start: at,
                            end: last,
                        },
                        Some(r) => ByteRange {
                            start: r.start.max(at),
                            end: r.end.min(last),
                        },
                    };
                    if want.start <= want.end && entry.record.body_len > 0 {
                        if let Err(Some(e)) =
                            send_stored(&mut tx, &cache, &entry.record.chunks, want).await
                        {
                            tx.abort(e);
                        }
                    }
                    return;
                }
            };
            let start = at;
            at += frame.len() as u64;
            let piece = match range {
                None => frame,
                Some(r) => {
                    if at <= r.start {
                        continue;
                    }
                    if start > r.end {
                        return;
                    }
                    let from = usize::try_from(r.start.saturating_sub(start)).unwrap_or(0);
                    let to =
                        usize::try_from((r.end - start).min(frame.len() as u64 - 1)).unwrap_or(0);
                    frame.slice(from..=to)
                }
            };
            if tx.send_data(piece).await.is_err() {
                return;
            }
            if range.is_some_and(|r| at > r.end) {
                return;
            }
        }
    });
    out.boxed()
}

/// Sends `r` of a stored body, chunk by chunk from the cache (each verified by its hash).
///
/// # Errors
/// `Some`: a chunk that cannot be had (the caller aborts the body with it); `None`: the client
/// went away.
async fn send_stored(
    tx: &mut http_body_util::channel::Sender<Bytes, std::io::Error>,
    cache: &ChunkCache,
    chunks: &[(ChunkId, u32)],
    r: ByteRange,
) -> Result<(), Option<std::io::Error>> {
    let mut off = 0u64;
    for (id, len) in chunks {
        let end = off + u64::from(*len) - 1;
        if end >= r.start && off <= r.end {
            let Some(b) = cache.get(id).await else {
                return Err(Some(std::io::Error::other(
                    "a stored chunk is gone or failed verification",
                )));
            };
            let from = usize::try_from(r.start.saturating_sub(off)).unwrap_or(0);
            let to = usize::try_from(r.end.min(end) - off).unwrap_or(0);
            tx.send_data(b.slice(from..=to)).await.map_err(|_| None)?;
        }
        off += u64::from(*len);
        if off > r.end {
            break;
        }
    }
    Ok(())
}
