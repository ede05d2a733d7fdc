//! Access logging at the connection layer, for every role: the request's fields are taken when
//! it arrives, and the line is written when its body has been sent (or the client went away),
//! with the bytes actually sent, the time to the response head and to the last byte.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tinycdn_telemetry::access::{cache_result, AccessLog, Annotation, Record};

use crate::body::Body;
use crate::ConnInfo;

/// The name tinycdn gives itself in `Cache-Status`.
const CACHE_NAME: &str = "tinycdn";
/// Longest path or query kept in a line.
const MAX_FIELD: usize = 2048;

/// At most [`MAX_FIELD`] bytes of `s`, cut at a character boundary.
fn clip(s: &str) -> String {
    let mut end = s.len().min(MAX_FIELD);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

/// The trace id of a valid W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), not all zeros.
#[must_use]
pub fn trace_id(traceparent: &str) -> Option<String> {
    let mut it = traceparent.trim().split('-');
    let (version, trace, parent, flags) = (it.next()?, it.next()?, it.next()?, it.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    (version.len() == 2
        && version != "ff"
        && hex(version, 2)
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0'))
    .then(|| trace.to_owned())
}

/// The request's side of a line.
pub(crate) struct Pending {
    record: Record,
    started: Instant,
}

impl Pending {
    pub(crate) fn new<B>(req: &hyper::Request<B>, info: ConnInfo, pop: Arc<str>) -> Self {
        let uri = req.uri();
        let parts_headers = req.headers();
        let get = |n: &str| parts_headers.get(n).and_then(|v| v.to_str().ok()).map(clip);
        let host = get("host")
            .or_else(|| uri.authority().map(|a| a.to_string()))
            .unwrap_or_default();
        Self {
            started: Instant::now(),
            record: Record {
                time: SystemTime::now(),
                pop,
                client: info.peer,
                method: req.method().as_str().to_owned(),
                host,
                path: clip(uri.path()),
                query: uri.query().map(clip),
                status: 0,
                bytes: 0,
                duration: std::time::Duration::ZERO,
                ttfb: std::time::Duration::ZERO,
                cache: None,
                upstream: None,
                trace_id: get("traceparent").as_deref().and_then(trace_id),
                route: "unknown",
                user_agent: get("user-agent"),
                referer: get("referer"),
            },
        }
    }
}

/// Wraps a response so that its line is written once its body is done.
pub(crate) fn wrap(
    resp: hyper::Response<Body>,
    mut p: Pending,
    log: Arc<AccessLog>,
) -> hyper::Response<Body> {
    let (mut parts, body) = resp.into_parts();
    p.record.ttfb = p.started.elapsed();
    p.record.status = parts.status.as_u16();
    p.record.cache = parts
        .headers
        .get_all("cache-status")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| cache_result(v, CACHE_NAME))
        .next_back();
    if let Some(a) = parts.extensions.remove::<Annotation>() {
        p.record.route = a.route;
        if p.record.cache != Some("hit") {
            p.record.upstream = a.upstream;
        }
    }
    let logged = Logged {
        inner: body,
        pending: Some(p),
        log,
    };
    hyper::Response::from_parts(parts, logged.boxed())
}

struct Logged {
    inner: Body,
    pending: Option<Pending>,
    log: Arc<AccessLog>,
}

impl Logged {
    fn finish(&mut self) {
        if let Some(mut p) = self.pending.take() {
            p.record.duration = p.started.elapsed();
            p.record.time = SystemTime::now();
            self.log.log(p.record);
        }
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        self.finish();
    }
}

impl HttpBody for Logged {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(p)) = (frame.data_ref(), self.pending.as_mut()) {
                    p.record.bytes += data.len() as u64;
                }
            }
            Poll::Ready(None) => self.finish(),
            _ => {}
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_id(good).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id(bad), None, "{bad}");
        }
    }
}
