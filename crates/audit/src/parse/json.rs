//! tinycdn's JSON access log (the schema in `tinycdn_telemetry::access`).

use std::borrow::Cow;

use super::{time::parse_rfc3339, ParseError, Request};

#[derive(serde::Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow, default)]
    host: Option<Cow<'a, str>>,
    #[serde(borrow)]
    path: Cow<'a, str>,
    #[serde(borrow, default)]
    query: Option<Cow<'a, str>>,
    status: u16,
    bytes: u64,
    #[serde(default)]
    duration_ms: Option<f64>,
    #[serde(borrow, default)]
    cache: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    upstream: Option<Cow<'a, str>>,
    #[serde(default)]
    ttfb_ms: Option<f64>,
    #[serde(borrow, default)]
    content_type: Option<Cow<'a, str>>,
}

pub(super) fn parse(line: &str) -> Result<Request<'_>, ParseError> {
    let l: Line<'_> = serde_json::from_str(line).map_err(|e| ParseError::Json(e.to_string()))?;
    let time_ms =
        parse_rfc3339(&l.time).ok_or(ParseError::Malformed("the time is not RFC 3339"))?;
    let secs = |ms: Option<f64>| ms.filter(|v| v.is_finite() && *v >= 0.0).map(|v| v / 1e3);
    // A miss's wait for its upstream is about its time to first byte.
    let upstream_time = match (&l.upstream, l.cache.as_deref()) {
        (Some(_), Some("miss" | "expired" | "revalidated" | "pass")) => secs(l.ttfb_ms),
        _ => None,
    };
    Ok(Request {
        time_ms,
        method: l.method,
        host: l.host,
        path: l.path,
        query: l.query,
        status: l.status,
        bytes: l.bytes,
        request_time: secs(l.duration_ms),
        upstream_time,
        content_type: l.content_type,
        cache: l.cache,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_edge_schema() {
        let l = r#"{"time":"2026-12-01T20:01:17.123Z","pop":"fra1","client":"127.0.0.1:5000","method":"GET","host":"cdn","path":"/a\"b","query":"w=1","status":200,"bytes":4096,"duration_ms":1.500,"ttfb_ms":0.900,"cache":"miss","upstream":"http://o","trace_id":null,"route":"proxy","user_agent":null,"referer":null}"#;
        let r = parse(l).expect("parses");
        assert_eq!(r.path, "/a\"b");
        assert_eq!(r.query.as_deref(), Some("w=1"));
        assert_eq!(r.request_time, Some(0.0015));
        assert_eq!(r.upstream_time, Some(0.0009));
        assert_eq!(r.cache.as_deref(), Some("miss"));
        assert!(parse("{}").is_err());
        assert!(parse(r#"{"time":"x","method":"GET","path":"/","status":200,"bytes":1}"#).is_err());
    }
}
