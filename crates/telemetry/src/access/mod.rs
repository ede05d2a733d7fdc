//! Access logs: one line per response, JSON (one documented schema) or nginx's `combined`,
//! written by a background thread from a bounded queue so that a slow or failing disk never
//! delays a request (a full queue drops the line and counts it), to a file reopened on `SIGHUP`
//! (log rotation) or to stdout.
//!
//! The JSON schema, one object per line:
//!
//! | field | meaning |
//! |---|---|
//! | `time` | when the response completed, RFC 3339 UTC with milliseconds |
//! | `pop` | the node's `--pop` |
//! | `client` | the peer address |
//! | `method`, `host`, `path`, `query` | the request (`query` without `?`, `null` if none) |
//! | `status` | the status code sent |
//! | `bytes` | body bytes sent |
//! | `duration_ms` | request received to the last body byte sent |
//! | `ttfb_ms` | request received to the response head |
//! | `cache` | `hit`, `stale`, `revalidated`, `expired`, `collapsed`, `miss`, `pass` or `null` |
//! | `upstream` | where a miss was filled from, else `null` |
//! | `trace_id` | the W3C trace id (32 hex), else `null` |
//! | `route` | the route class (as in `http_server_request_duration_seconds`) |
//! | `site` | the edge's site (`[[site]]` name) the host belongs to, else `null` |
//! | `user_agent`, `referer` | those request headers, else `null` |

use std::sync::Arc;
use std::time::{Duration, SystemTime};

mod format;
mod writer;

pub use format::{nginx_time, rfc3339};
pub use writer::{AccessLog, Format, LogCounters, Target};

/// One response, as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// When the response completed.
    pub time: SystemTime,
    /// The node's point of presence.
    pub pop: Arc<str>,
    /// The peer.
    pub client: std::net::SocketAddr,
    /// Request method.
    pub method: http::Method,
    /// The request target as received (its path is logged undecoded). Header values and the URI
    /// are cheap reference-counted clones of the request's own bytes: nothing is copied on the
    /// request's path, the writer formats them.
    pub uri: http::Uri,
    /// `Host`.
    pub host: Option<http::HeaderValue>,
    /// Status code.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// Whole request.
    pub duration: Duration,
    /// To the response head.
    pub ttfb: Duration,
    /// The cache's verdict.
    pub cache: Option<&'static str>,
    /// Where a miss was filled from.
    pub upstream: Option<String>,
    /// The request's `traceparent`.
    pub traceparent: Option<http::HeaderValue>,
    /// The route class.
    pub route: &'static str,
    /// The site the request's host belongs to.
    pub site: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<http::HeaderValue>,
    /// `Referer`.
    pub referer: Option<http::HeaderValue>,
}

/// Longest path, query or header value kept in a line.
const MAX_FIELD: usize = 2048;

/// At most [`MAX_FIELD`] bytes of `s`, cut at a character boundary.
fn clip(s: &str) -> &str {
    let mut end = s.len().min(MAX_FIELD);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn header_text(v: &Option<http::HeaderValue>) -> Option<std::borrow::Cow<'_, str>> {
    v.as_ref()
        .map(|v| match String::from_utf8_lossy(v.as_bytes()) {
            std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(clip(s)),
            std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(clip(&s).to_owned()),
        })
}

/// The trace id of a valid W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), not all zeros.
#[must_use]
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut it = traceparent.trim().split('-');
    let (version, trace, parent, flags) = (it.next()?, it.next()?, it.next()?, it.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    (version != "ff"
        && hex(version, 2)
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0'))
    .then_some(trace)
}

impl Record {
    fn host_text(&self) -> std::borrow::Cow<'_, str> {
        header_text(&self.host).unwrap_or_else(|| {
            std::borrow::Cow::Owned(
                self.uri
                    .authority()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            )
        })
    }
}

/// What a handler tells the access log about a response, as a response extension: its route
/// class and, for a miss, where it was filled from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// The route class.
    pub route: &'static str,
    /// Where a miss was filled from.
    pub upstream: Option<String>,
    /// The site (`[[site]]` name) the request's host belongs to.
    pub site: Option<String>,
}

/// The result this cache reports for itself in a `Cache-Status` field value (RFC 9211).
#[must_use]
pub fn cache_result(field: &str, name: &str) -> Option<&'static str> {
    let ours = field
        .split(',')
        .map(str::trim)
        .rfind(|e| e.split(';').next().map(str::trim) == Some(name))?;
    let params: Vec<&str> = ours.split(';').skip(1).map(str::trim).collect();
    let has = |p: &str| params.contains(&p);
    let fwd = params.iter().find_map(|p| p.strip_prefix("fwd="));
    let fwd_status = params.iter().find_map(|p| p.strip_prefix("fwd-status="));
    Some(if has("collapsed") {
        "collapsed"
    } else if has("hit") {
        if fwd == Some("stale") {
            "stale"
        } else {
            "hit"
        }
    } else {
        match (fwd, fwd_status) {
            (Some("stale"), Some("304")) => "revalidated",
            (Some("stale"), _) => "expired",
            (Some("bypass" | "method" | "request"), _) => "pass",
            _ => "miss",
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    pub(super) fn record() -> Record {
        Record {
            time: UNIX_EPOCH + Duration::from_millis(1_764_619_277_123),
            pop: "fra1".into(),
            client: "127.0.0.1:5000".parse().expect("addr"),
            method: http::Method::GET,
            uri: "/img/a%22b.jpg?w=640".parse().expect("uri"),
            host: Some(http::HeaderValue::from_static("cdn.example")),
            status: 200,
            bytes: 1234,
            duration: Duration::from_micros(1500),
            ttfb: Duration::from_micros(900),
            cache: Some("hit"),
            upstream: None,
            traceparent: None,
            route: "image",
            site: None,
            user_agent: Some(http::HeaderValue::from_static("curl/8\t")),
            referer: None,
        }
    }

    #[test]
    fn traceparents() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(good), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
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

    #[test]
    fn cache_results() {
        let r = |v| cache_result(v, "tinycdn");
        assert_eq!(r("tinycdn; hit; ttl=30"), Some("hit"));
        assert_eq!(r("other; hit, tinycdn; fwd=uri-miss; stored"), Some("miss"));
        assert_eq!(r("tinycdn; fwd=stale; fwd-status=304"), Some("revalidated"));
        assert_eq!(r("tinycdn; hit; fwd=stale"), Some("stale"));
        assert_eq!(r("tinycdn; fwd=miss; collapsed"), Some("collapsed"));
        assert_eq!(r("tinycdn; fwd=method"), Some("pass"));
        assert_eq!(r("other; hit"), None);
    }
}
