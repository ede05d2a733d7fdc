//! Cache keys (RFC 9111 §2, §4.1): the primary key is the effective request URI (scheme, host,
//! path and query; RFC 9110 §7.1), normalised so that equivalent URIs share an entry; the
//! secondary key is the request's values of the fields a stored response's `Vary` names, with
//! `Accept-Encoding` reduced to the set of codings a client takes.

use http::header::HeaderMap;
use thiserror::Error;

use crate::directives::field_value;

/// A request that has no usable effective URI.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// No `Host` and no authority in the request target.
    #[error("the request has no Host")]
    NoHost,
    /// A `Host` that is not a host name, an IPv4 address or a bracketed IPv6 address, with an
    /// optional port.
    #[error("the Host {0:?} is not a valid host[:port]")]
    BadHost(String),
    /// The request target is not an absolute path (with an optional query).
    #[error("the request target {0:?} is not an absolute path")]
    BadTarget(String),
}

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~".contains(&c)
}

/// Percent-encoding normalised as RFC 3986 §6.2.2 allows: hex digits upper-cased and unreserved
/// characters decoded; a stray `%` is written `%25`. Nothing else is touched (`%2F` stays
/// encoded: it is not `/`). The input is ASCII (the caller checked).
fn normalise_percent(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).unwrap_or("");
            let digits = hex.len() == 2 && hex.bytes().all(|c| c.is_ascii_hexdigit());
            if let (true, Ok(v)) = (digits, u8::from_str_radix(hex, 16)) {
                if is_unreserved(v) {
                    out.push(char::from(v));
                } else {
                    out.push('%');
                    out.push_str(&hex.to_ascii_uppercase());
                }
                i += 3;
                continue;
            }
            // A '%' that starts no escape is written as one, so that normalising twice changes
            // nothing ("%a%33" must not become the escape "%a3").
            out.push_str("%25");
            i += 1;
            continue;
        }
        out.push(char::from(b[i]));
        i += 1;
    }
    out
}

/// The host and port as a key names them: lowercased, without the scheme's default port.
///
/// # Errors
/// [`KeyError::BadHost`] for anything but `reg-name`, IPv4 or `[IPv6]`, with an optional port.
pub fn normalise_host(scheme: &str, host: &str) -> Result<String, KeyError> {
    let bad = || KeyError::BadHost(host.to_owned());
    let lower = host.trim().to_ascii_lowercase();
    let (name, port) = if let Some(rest) = lower.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or_else(bad)?;
        if v6.is_empty()
            || !v6
                .bytes()
                .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
        {
            return Err(bad());
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(bad)?),
        };
        (format!("[{v6}]"), port)
    } else {
        let (n, p) = match lower.rsplit_once(':') {
            Some((n, p)) => (n.to_owned(), Some(p)),
            None => (lower.clone(), None),
        };
        let ok = !n.is_empty()
            && n.len() <= 253
            && n.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-._~".contains(&c));
        if !ok {
            return Err(bad());
        }
        (n, p)
    };
    let default = if scheme == "https" { "443" } else { "80" };
    match port {
        None | Some("") => Ok(name),
        Some(p) if p.len() <= 5 && p.bytes().all(|c| c.is_ascii_digit()) => {
            let p = p.trim_start_matches('0');
            let p = if p.is_empty() { "0" } else { p };
            Ok(if p == default {
                name
            } else {
                format!("{name}:{p}")
            })
        }
        Some(_) => Err(bad()),
    }
}

/// The primary cache key: the effective request URI, `scheme://host[:port]/path[?query]`.
///
/// # Errors
/// A host or target that cannot be part of a URI.
pub fn primary_key(scheme: &str, host: &str, path_and_query: &str) -> Result<String, KeyError> {
    let target = normalise_target(path_and_query)?;
    let host = normalise_host(scheme, host)?;
    let mut key = String::with_capacity(scheme.len() + 3 + host.len() + target.len());
    key.push_str(scheme);
    key.push_str("://");
    key.push_str(&host);
    key.push_str(&target);
    Ok(key)
}

/// A request target (path and query) as a primary key holds it: percent-encoding normalised.
///
/// # Errors
/// [`KeyError::BadTarget`] for anything but an absolute path of visible ASCII.
pub fn normalise_target(path_and_query: &str) -> Result<String, KeyError> {
    if !path_and_query.starts_with('/') || path_and_query.bytes().any(|c| c <= b' ' || c >= 0x7f) {
        return Err(KeyError::BadTarget(path_and_query.to_owned()));
    }
    Ok(if path_and_query.contains('%') {
        normalise_percent(path_and_query)
    } else {
        path_and_query.to_owned()
    })
}

/// The origin part of a primary key (`scheme://host[:port]`), for §4.4's same-origin rule.
#[must_use]
pub fn origin_of(key: &str) -> &str {
    let after_scheme = key.find("://").map_or(0, |i| i + 3);
    let end = key[after_scheme..]
        .find('/')
        .map_or(key.len(), |i| after_scheme + i);
    &key[..end]
}

/// What a stored response's `Vary` says about selecting it (§4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vary {
    /// `Vary: *`: it never matches a later request.
    Any,
    /// These request fields (lowercased, sorted, deduplicated) must match.
    Fields(Vec<String>),
}

impl Vary {
    /// The `Vary` of a response.
    #[must_use]
    pub fn of(headers: &HeaderMap) -> Self {
        let mut fields = Vec::new();
        for name in field_value(headers, "vary")
            .unwrap_or_default()
            .split(',')
            .map(|f| f.trim().to_ascii_lowercase())
            .filter(|f| !f.is_empty())
        {
            if name == "*" {
                return Self::Any;
            }
            fields.push(name);
        }
        fields.sort();
        fields.dedup();
        Self::Fields(fields)
    }

    /// The secondary key of a request under this `Vary`: each field's normalised value (`None`
    /// when the request lacks it, which only matches another request that lacks it). `None` for
    /// `Vary: *`.
    #[must_use]
    pub fn secondary_key(&self, request: &HeaderMap) -> Option<Vec<(String, Option<String>)>> {
        let Self::Fields(fields) = self else {
            return None;
        };
        Some(
            fields
                .iter()
                .map(|f| (f.clone(), normalised_field(request, f)))
                .collect(),
        )
    }
}

/// A request field's value as a secondary key compares it (§4.1 allows normalising): lines joined,
/// whitespace runs collapsed; `Accept-Encoding` reduced by [`accept_encoding_class`].
#[must_use]
pub fn normalised_field(request: &HeaderMap, name: &str) -> Option<String> {
    if name == "accept-encoding" {
        return Some(accept_encoding_class(field_value(request, name).as_deref()));
    }
    let v = field_value(request, name)?;
    Some(v.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The codings an edge tells apart in `Accept-Encoding`.
const CODINGS: [&str; 4] = ["br", "deflate", "gzip", "zstd"];

/// `Accept-Encoding` reduced to the sorted set of known codings the client accepts (q > 0),
/// `identity` when none: clients that accept the same codings share a variant, and the origin is
/// sent this value so that what it answers is right for all of them.
#[must_use]
pub fn accept_encoding_class(value: Option<&str>) -> String {
    let Some(value) = value else {
        return "identity".into();
    };
    let mut star = None;
    let mut listed: Vec<(&str, bool)> = Vec::new();
    for member in value.split(',') {
        let mut parts = member.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let q_ok = parts
            .map(str::trim)
            .find_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
            .is_none_or(|q| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0));
        let coding = match coding.to_ascii_lowercase().as_str() {
            "x-gzip" => "gzip",
            "*" => {
                star = Some(q_ok);
                continue;
            }
            c => match CODINGS.iter().find(|k| **k == c) {
                Some(k) => k,
                None => continue,
            },
        };
        listed.push((coding, q_ok));
    }
    let accepted: Vec<&str> = CODINGS
        .iter()
        .copied()
        .filter(|c| match listed.iter().find(|(l, _)| l == c) {
            Some((_, ok)) => *ok,
            None => star == Some(true),
        })
        .collect();
    if accepted.is_empty() {
        "identity".into()
    } else {
        accepted.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::headers as h;

    #[test]
    fn section_2_primary_key_is_the_normalised_effective_uri() {
        let k = |host, target| primary_key("http", host, target);
        assert_eq!(
            k("Example.COM", "/a?b=1").as_deref(),
            Ok("http://example.com/a?b=1")
        );
        assert_eq!(k("example.com:80", "/a"), k("example.com", "/a"));
        assert_eq!(k("example.com:080", "/a"), k("example.com", "/a"));
        assert_eq!(
            k("example.com:8080", "/a").as_deref(),
            Ok("http://example.com:8080/a")
        );
        assert_eq!(
            k("example.com", "/%7euser/%2f%41"),
            k("example.com", "/~user/%2FA")
        );
        assert_ne!(
            k("example.com", "/a?x=1&y=2"),
            k("example.com", "/a?y=2&x=1")
        );
        assert_eq!(k("[::1]:8080", "/").as_deref(), Ok("http://[::1]:8080/"));
        assert_eq!(
            primary_key("https", "example.com:443", "/").as_deref(),
            Ok("https://example.com/")
        );
        for bad in [
            "",
            "ex ample",
            "a/b",
            "a@b",
            "[zz]",
            "[::1",
            "host:http",
            "host:123456",
        ] {
            assert!(k(bad, "/").is_err(), "{bad:?}");
        }
        assert!(k("example.com", "a").is_err());
        assert!(k("example.com", "*").is_err());
        assert_eq!(
            origin_of("http://example.com:81/x/y"),
            "http://example.com:81"
        );
        assert_eq!(origin_of("http://example.com"), "http://example.com");
    }

    #[test]
    fn section_4_1_vary_selects_by_normalised_fields() {
        let v = Vary::of(&h(&[
            ("vary", "Accept-Language, accept-encoding"),
            ("vary", "accept-language"),
        ]));
        assert_eq!(
            v,
            Vary::Fields(vec!["accept-encoding".into(), "accept-language".into()])
        );
        assert_eq!(Vary::of(&h(&[("vary", "Accept, *")])), Vary::Any);
        assert_eq!(Vary::Any.secondary_key(&HeaderMap::new()), None);
        let a = v.secondary_key(&h(&[
            ("accept-language", "en,  fr"),
            ("accept-encoding", "gzip, br"),
        ]));
        let b = v.secondary_key(&h(&[
            ("accept-language", "en, fr"),
            ("accept-encoding", "br;q=1, gzip"),
        ]));
        assert_eq!(a, b);
        let absent = v.secondary_key(&h(&[("accept-encoding", "gzip, br")]));
        assert_ne!(a, absent);
        let empty = Vary::of(&HeaderMap::new());
        assert_eq!(empty.secondary_key(&h(&[("x", "y")])), Some(vec![]));
    }

    #[test]
    fn accept_encoding_classes() {
        assert_eq!(accept_encoding_class(None), "identity");
        assert_eq!(accept_encoding_class(Some("")), "identity");
        assert_eq!(
            accept_encoding_class(Some("gzip, deflate, br, zstd")),
            "br, deflate, gzip, zstd"
        );
        assert_eq!(accept_encoding_class(Some("br;q=0, gzip;q=0.5")), "gzip");
        assert_eq!(accept_encoding_class(Some("x-gzip")), "gzip");
        assert_eq!(accept_encoding_class(Some("*")), "br, deflate, gzip, zstd");
        assert_eq!(
            accept_encoding_class(Some("*, br;q=0")),
            "deflate, gzip, zstd"
        );
        assert_eq!(
            accept_encoding_class(Some("compress, identity")),
            "identity"
        );
        assert_eq!(accept_encoding_class(Some("gzip;q=bogus")), "identity");
    }

    proptest::proptest! {
        #[test]
        fn keys_never_panic_and_are_idempotent(host in "[a-zA-Z0-9.:\\[\\]-]{0,30}", path in "/[ -~]{0,60}") {
            if let Ok(k) = primary_key("http", &host, &path) {
                let rest = &k["http://".len()..];
                let slash = rest.find('/').unwrap_or(rest.len());
                let again = primary_key("http", &rest[..slash], &rest[slash..]);
                proptest::prop_assert_eq!(again.as_deref(), Ok(k.as_str()));
            }
        }
    }
}
