//! The `Cache-Status` response field (RFC 9211): what this cache did with a request, appended
//! after the entries of caches nearer the origin.

use http::header::{HeaderMap, HeaderValue};

use crate::directives::field_value;

/// Why the request went to the next hop (RFC 9211 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// The cache was configured not to handle this request.
    Bypass,
    /// The method is not cacheable.
    Method,
    /// Nothing stored for the URI.
    UriMiss,
    /// Something stored for the URI, but not for these request fields (`Vary`).
    VaryMiss,
    /// Nothing usable stored (the cache cannot say which miss).
    Miss,
    /// The request asked for it (`no-cache`, `max-age`, …).
    Request,
    /// A stored response was stale and had to be validated.
    Stale,
}

impl Forward {
    fn token(self) -> &'static str {
        match self {
            Self::Bypass => "bypass",
            Self::Method => "method",
            Self::UriMiss => "uri-miss",
            Self::VaryMiss => "vary-miss",
            Self::Miss => "miss",
            Self::Request => "request",
            Self::Stale => "stale",
        }
    }
}

/// One cache's entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheStatus {
    /// Answered from the cache without going forward.
    pub hit: bool,
    /// Why it went forward.
    pub fwd: Option<Forward>,
    /// The status the next hop answered with.
    pub fwd_status: Option<u16>,
    /// Freshness left, seconds (negative: served stale).
    pub ttl: Option<i64>,
    /// The response was stored.
    pub stored: bool,
    /// The request was collapsed with another one.
    pub collapsed: bool,
    /// Why not stored, why stale was served, …: a token.
    pub detail: Option<&'static str>,
}

impl CacheStatus {
    /// The entry as a Structured Field list member: `NAME; hit; ttl=…` or `NAME; fwd=…; …`.
    #[must_use]
    pub fn render(&self, name: &str) -> String {
        let mut s = name.to_owned();
        if self.hit {
            s.push_str("; hit");
        }
        if let Some(f) = self.fwd {
            s.push_str("; fwd=");
            s.push_str(f.token());
        }
        if let Some(st) = self.fwd_status {
            s.push_str(&format!("; fwd-status={st}"));
        }
        if let Some(t) = self.ttl {
            s.push_str(&format!("; ttl={t}"));
        }
        if self.stored {
            s.push_str("; stored");
        }
        if self.collapsed {
            s.push_str("; collapsed");
        }
        if let Some(d) = self.detail {
            s.push_str("; detail=");
            s.push_str(d);
        }
        s
    }

    /// Appends this entry to the response's `Cache-Status`.
    pub fn append_to(&self, headers: &mut HeaderMap, name: &str) {
        let entry = self.render(name);
        let joined = match field_value(headers, "cache-status") {
            Some(v) => format!("{v}, {entry}"),
            None => entry,
        };
        if let Ok(v) = HeaderValue::from_str(&joined) {
            headers.insert("cache-status", v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9211_section_2_entries() {
        let hit = CacheStatus {
            hit: true,
            ttl: Some(376),
            ..Default::default()
        };
        assert_eq!(hit.render("tinycdn"), "tinycdn; hit; ttl=376");
        let miss = CacheStatus {
            fwd: Some(Forward::UriMiss),
            fwd_status: Some(200),
            stored: true,
            collapsed: true,
            ..Default::default()
        };
        assert_eq!(
            miss.render("tinycdn"),
            "tinycdn; fwd=uri-miss; fwd-status=200; stored; collapsed"
        );
        let mut h = HeaderMap::new();
        h.insert(
            "cache-status",
            HeaderValue::from_static("origin-cache; hit"),
        );
        let stale = CacheStatus {
            fwd: Some(Forward::Stale),
            fwd_status: Some(503),
            ttl: Some(-30),
            detail: Some("stale-if-error"),
            ..Default::default()
        };
        stale.append_to(&mut h, "tinycdn");
        assert_eq!(
            h["cache-status"],
            "origin-cache; hit, tinycdn; fwd=stale; fwd-status=503; ttl=-30; detail=stale-if-error"
        );
        // What we write parses as a Structured Field List (RFC 9211 §2).
        let parsed: Result<sfv::List, _> = sfv::Parser::new(h["cache-status"].as_bytes()).parse();
        assert_eq!(parsed.map(|l| l.len()).ok(), Some(2));
    }
}
