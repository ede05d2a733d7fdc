//! Turning a representation into a response: validators, caching headers, preconditions, ranges
//! and multipart bodies, shared by the origin and edge roles. Where the bytes come from is the
//! caller's [`Content`].

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use tinycdn_http::conditional::{self, Precondition};
use tinycdn_http::multipart::{self, Segment};
use tinycdn_http::range::{self, ByteRange, RangeOutcome};
use tinycdn_http::EntityTag;

use crate::body::{self, Body};

/// A response being built: status, headers, body and body length.
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers (`Content-Length` is added from `len` when missing).
    pub headers: HeaderMap,
    /// The body.
    pub body: Body,
    /// The body's length.
    pub len: u64,
}

impl Reply {
    /// A short plain-text reply that caches must not store.
    #[must_use]
    pub fn text(status: StatusCode, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Self {
            status,
            len: text.len() as u64,
            headers,
            body: body::full(text),
        }
    }

    /// The HTTP response; a `HEAD` gets the headers without the body.
    #[must_use]
    pub fn into_response(self, head: bool) -> Response<Body> {
        let mut resp = Response::new(if head { body::empty() } else { self.body });
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers;
        if !resp.headers().contains_key(header::CONTENT_LENGTH) {
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, value(&self.len.to_string()));
        }
        resp
    }
}

/// `/readyz`: 200 while serving, 503 once the process drains (load balancers stop sending).
#[must_use]
pub fn readiness(draining: bool) -> Reply {
    let mut r = if draining {
        Reply::text(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    } else {
        Reply::text(StatusCode::OK, "ready\n")
    };
    r.headers.insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    r
}

/// `None` for GET and HEAD, which tinycdn serves; a 405 naming them for anything else.
#[must_use]
pub fn refuse_method(method: &hyper::Method) -> Option<Reply> {
    if method == hyper::Method::GET || method == hyper::Method::HEAD {
        return None;
    }
    let mut r = Reply::text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    r.headers
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    Some(r)
}

/// A header value from text (invalid characters become `invalid`; callers pass ASCII).
#[must_use]
pub fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// A request header as text.
#[must_use]
pub fn header_str(headers: &HeaderMap, name: HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// What is being served, apart from its bytes.
#[derive(Debug, Clone)]
pub struct Representation {
    /// Strong validator.
    pub etag: EntityTag,
    /// `Content-Type`.
    pub media_type: String,
    /// `Cache-Control`.
    pub cache_control: String,
    /// Length in bytes.
    pub len: u64,
    /// More headers (`X-Tinycdn-Version`, `Content-Location`).
    pub extra: Vec<(&'static str, String)>,
}

/// Where the bytes of a representation come from.
pub trait Content {
    /// A body that sends `segments` in order (literal bytes, or ranges of the representation).
    fn body(self, segments: Vec<Segment>) -> Body;
}

/// Bytes held in memory, as [`Content`]: ranges are zero-copy slices of them.
pub struct InMemory(pub bytes::Bytes);

impl Content for InMemory {
    fn body(self, segments: Vec<Segment>) -> Body {
        let len = self.0.len();
        let parts = segments
            .into_iter()
            .map(|s| match s {
                Segment::Literal(b) => bytes::Bytes::from(b),
                Segment::Range(r) => {
                    let start = usize::try_from(r.start).unwrap_or(usize::MAX).min(len);
                    let end = usize::try_from(r.end).map_or(len, |e| e.saturating_add(1).min(len));
                    self.0.slice(start..end.max(start))
                }
            })
            .collect();
        body::parts(parts)
    }
}

/// Evaluates preconditions and `Range` and builds the reply.
#[must_use]
pub fn represent<C: Content>(req: &HeaderMap, rep: &Representation, content: C) -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, value(&rep.etag.to_string()));
    headers.insert(header::CACHE_CONTROL, value(&rep.cache_control));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    for (name, v) in &rep.extra {
        headers.insert(*name, value(v));
    }
    // Only GET and HEAD are served: both are safe methods.
    match conditional::evaluate(
        true,
        header_str(req, header::IF_MATCH),
        header_str(req, header::IF_NONE_MATCH),
        &rep.etag,
    ) {
        Precondition::Proceed => {}
        Precondition::NotModified => {
            return Reply {
                status: StatusCode::NOT_MODIFIED,
                headers,
                body: body::empty(),
                len: 0,
            }
        }
        Precondition::Failed => {
            let mut r = Reply::text(StatusCode::PRECONDITION_FAILED, "precondition failed\n");
            r.headers.insert(header::ETAG, value(&rep.etag.to_string()));
            return r;
        }
    }
    let outcome = range::evaluate(
        header_str(req, header::RANGE),
        header_str(req, header::IF_RANGE),
        &rep.etag,
        rep.len,
    );
    let (status, segments) = match outcome {
        RangeOutcome::Full => {
            headers.insert(header::CONTENT_TYPE, value(&rep.media_type));
            let segments = if rep.len == 0 {
                Vec::new()
            } else {
                vec![Segment::Range(ByteRange {
                    start: 0,
                    end: rep.len - 1,
                })]
            };
            (StatusCode::OK, segments)
        }
        RangeOutcome::Unsatisfiable => {
            let mut r = Reply::text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
            r.headers.insert(
                header::CONTENT_RANGE,
                value(&format!("bytes */{}", rep.len)),
            );
            r.headers.insert(header::ETAG, value(&rep.etag.to_string()));
            return r;
        }
        RangeOutcome::Partial(ranges) if ranges.len() == 1 => {
            headers.insert(header::CONTENT_TYPE, value(&rep.media_type));
            headers.insert(
                header::CONTENT_RANGE,
                value(&ranges[0].content_range(rep.len)),
            );
            (StatusCode::PARTIAL_CONTENT, vec![Segment::Range(ranges[0])])
        }
        RangeOutcome::Partial(ranges) => {
            let boundary = format!("tinycdn-{}", &rep.etag.tag[..rep.etag.tag.len().min(24)]);
            let plan = multipart::plan(&ranges, rep.len, &rep.media_type, &boundary);
            headers.insert(header::CONTENT_TYPE, value(&plan.content_type));
            (StatusCode::PARTIAL_CONTENT, plan.segments)
        }
    };
    let len: u64 = segments
        .iter()
        .map(|s| match s {
            Segment::Literal(b) => b.len() as u64,
            Segment::Range(r) => r.len(),
        })
        .sum();
    headers.insert(header::CONTENT_LENGTH, value(&len.to_string()));
    Reply {
        status,
        headers,
        body: content.body(segments),
        len,
    }
}
