//! Which logged requests are replayed: GETs (HEAD and writes are skipped: replaying a `POST`
//! could change the origin), in log order, up to a count, each a path and query the target can
//! be sent verbatim. Paths a log could hold but a request line cannot (no leading `/`, spaces,
//! control bytes) are counted and skipped.

use tinycdn_audit::parse::Request;

/// One request to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Path and query, as sent (`/a/b.jpg?w=320`).
    pub target: String,
    /// The `Host` the log recorded, if it did (sent when `--keep-host` asks).
    pub host: Option<String>,
}

/// The requests chosen so far, and what was left out.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// What will be sent, in log order.
    pub requests: Vec<Planned>,
    /// Requests that were not GETs.
    pub skipped_methods: u64,
    /// GETs whose path cannot be sent as a request target.
    pub skipped_targets: u64,
    /// GETs past the count asked for.
    pub over_limit: u64,
    limit: usize,
}

impl Plan {
    /// A plan of at most `limit` requests.
    #[must_use]
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// Whether the plan is full (reading more lines only counts them).
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.requests.len() >= self.limit
    }

    /// Considers one logged request.
    pub fn push(&mut self, r: &Request<'_>) {
        if !r.method.eq_ignore_ascii_case("GET") {
            self.skipped_methods += 1;
            return;
        }
        let Some(target) = request_target(&r.path, r.query.as_deref()) else {
            self.skipped_targets += 1;
            return;
        };
        if self.is_full() {
            self.over_limit += 1;
            return;
        }
        let host = r
            .host
            .as_deref()
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_owned);
        self.requests.push(Planned { target, host });
    }
}

/// `path?query` if it can be sent as an origin-form request target.
#[must_use]
pub fn request_target(path: &str, query: Option<&str>) -> Option<String> {
    let ok = |s: &str| s.bytes().all(|b| b.is_ascii_graphic() && b != b'#');
    if !path.starts_with('/') || path.starts_with("//") || !ok(path) {
        return None;
    }
    let t = match query {
        Some(q) if !q.is_empty() => {
            if !ok(q) {
                return None;
            }
            format!("{path}?{q}")
        }
        _ => path.to_owned(),
    };
    // What `http` accepts is what can be sent.
    t.parse::<http::uri::PathAndQuery>().ok().map(|_| t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn req<'a>(method: &'a str, path: &'a str, query: Option<&'a str>) -> Request<'a> {
        Request {
            time_ms: 0,
            method: Cow::Borrowed(method),
            host: Some(Cow::Borrowed("example.com")),
            path: Cow::Borrowed(path),
            query: query.map(Cow::Borrowed),
            status: 200,
            bytes: 1,
            request_time: None,
            upstream_time: None,
            content_type: None,
            cache: None,
        }
    }

    #[test]
    fn gets_in_order_up_to_the_limit_and_nothing_unsendable() {
        let mut p = Plan::new(2);
        p.push(&req("POST", "/upload", None));
        p.push(&req("GET", "/a.jpg", Some("w=320")));
        p.push(&req("get", "/b.jpg", None));
        p.push(&req("GET", "/c d", None));
        p.push(&req("GET", "http://evil/", None));
        p.push(&req("GET", "//evil/x", None));
        p.push(&req("GET", "/c\r\nX: 1", None));
        p.push(&req("GET", "/d.jpg", None));
        let t: Vec<&str> = p.requests.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(t, ["/a.jpg?w=320", "/b.jpg"]);
        assert_eq!(
            (p.skipped_methods, p.skipped_targets, p.over_limit),
            (1, 4, 1)
        );
        assert_eq!(p.requests[0].host.as_deref(), Some("example.com"));
    }

    proptest::proptest! {
        #[test]
        fn a_target_is_always_a_valid_request_target(path in "\\PC*", q in proptest::option::of("\\PC*")) {
            if let Some(t) = request_target(&path, q.as_deref()) {
                proptest::prop_assert!(t.starts_with('/'));
                proptest::prop_assert!(t.parse::<http::uri::PathAndQuery>().is_ok());
                proptest::prop_assert!(t.bytes().all(|b| b.is_ascii_graphic()));
            }
        }
    }
}
