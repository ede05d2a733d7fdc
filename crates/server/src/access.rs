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

/// The request's side of a line.
pub(crate) struct Pending {
    record: Record,
    started: Instant,
}

impl Pending {
    pub(crate) fn new<B>(req: &hyper::Request<B>, info: ConnInfo, pop: Arc<str>) -> Self {
        let h = req.headers();
        Self {
            started: Instant::now(),
            record: Record {
                time: SystemTime::now(),
                pop,
                client: info.peer,
                method: req.method().clone(),
                uri: req.uri().clone(),
                host: h.get(hyper::header::HOST).cloned(),
                status: 0,
                bytes: 0,
                duration: std::time::Duration::ZERO,
                ttfb: std::time::Duration::ZERO,
                cache: None,
                upstream: None,
                traceparent: h.get("traceparent").cloned(),
                route: "unknown",
                site: None,
                user_agent: h.get(hyper::header::USER_AGENT).cloned(),
                referer: h.get(hyper::header::REFERER).cloned(),
            },
        }
    }
}

/// Wraps a response so that its line is written once its body is done.
pub(crate) fn wrap(
    resp: hyper::Response<Body>,
    mut p: Pending,
    log: &'static AccessLog,
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
        p.record.site = a.site;
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
    log: &'static AccessLog,
}

impl Logged {
    fn finish(&mut self) {
        if let Some(mut p) = self.pending.take() {
            p.record.duration = p.started.elapsed();
            p.record.time = SystemTime::now();
            self.log.log(&p.record);
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
