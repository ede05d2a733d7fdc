//! Invalidation (RFC 9111 §4.4): an unsafe request that succeeds makes the cache drop what it
//! holds for the target URI and for the URIs in `Location` and `Content-Location`, when they are
//! of the same origin.

use http::header::HeaderMap;
use http::{Method, StatusCode};

use crate::key::{origin_of, primary_key};

/// Methods that are not safe (RFC 9110 §9.2.1).
#[must_use]
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    for (i, s) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *s {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
}

/// Resolves a URI reference against a primary key (RFC 3986 §5.2), as a primary key; `None`
/// when it is not an http(s) URI or not usable as a key.
#[must_use]
pub fn resolve(base: &str, reference: &str) -> Option<String> {
    let reference = reference.trim();
    let reference = reference.split('#').next().unwrap_or("");
    let scheme_end = base.find("://")?;
    let scheme = &base[..scheme_end];
    let absolute = |scheme: &str, rest: &str| {
        let slash = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(slash);
        let path = match path.strip_prefix('?') {
            Some(_) => format!("/{path}"),
            None if path.is_empty() => "/".to_owned(),
            None => path.to_owned(),
        };
        let (p, q) = path
            .split_once('?')
            .map_or((path.as_str(), None), |(p, q)| (p, Some(q)));
        let path = match q {
            Some(q) => format!("{}?{q}", remove_dot_segments(p)),
            None => remove_dot_segments(p),
        };
        primary_key(scheme, authority, &path).ok()
    };
    let lower = reference.to_ascii_lowercase();
    for s in ["http", "https"] {
        if lower.starts_with(s) && lower[s.len()..].starts_with("://") {
            return absolute(s, &reference[s.len() + 3..]);
        }
    }
    if reference.contains(':') && !reference.starts_with('/') && !reference.starts_with('?') {
        let colon = reference.find(':').unwrap_or(0);
        let slash = reference.find('/').unwrap_or(usize::MAX);
        if colon < slash {
            return None; // another scheme
        }
    }
    let origin = origin_of(base);
    if let Some(rest) = reference.strip_prefix("//") {
        return absolute(scheme, rest);
    }
    let base_path = &base[origin.len()..];
    let (base_path, base_query) = base_path
        .split_once('?')
        .map_or((base_path, None), |(p, q)| (p, Some(q)));
    let target = if reference.is_empty() {
        match base_query {
            Some(q) => format!("{base_path}?{q}"),
            None => base_path.to_owned(),
        }
    } else if let Some(q) = reference.strip_prefix('?') {
        format!("{base_path}?{q}")
    } else if reference.starts_with('/') {
        reference.to_owned()
    } else {
        let dir = base_path.rfind('/').map_or("/", |i| &base_path[..=i]);
        format!("{dir}{reference}")
    };
    absolute(scheme, &format!("{}{target}", &origin[scheme.len() + 3..]))
}

/// The primary keys a response to `method` on `target` invalidates (§4.4): none unless the method
/// is unsafe and the status is 2xx or 3xx; then the target and the same-origin URIs of `Location`
/// and `Content-Location`.
#[must_use]
pub fn invalidated(
    method: &Method,
    status: StatusCode,
    target: &str,
    response: &HeaderMap,
) -> Vec<String> {
    if !is_unsafe(method) || !(status.is_success() || status.is_redirection()) {
        return Vec::new();
    }
    let mut keys = vec![target.to_owned()];
    for field in ["location", "content-location"] {
        let Some(v) = response.get(field).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        if let Some(k) = resolve(target, v) {
            if origin_of(&k) == origin_of(target) && !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::headers as h;

    #[test]
    fn rfc3986_section_5_reference_resolution() {
        let base = "http://a.example/b/c/d;p?q";
        let r = |s| resolve(base, s);
        assert_eq!(r("g").as_deref(), Some("http://a.example/b/c/g"));
        assert_eq!(r("./g").as_deref(), Some("http://a.example/b/c/g"));
        assert_eq!(r("g/").as_deref(), Some("http://a.example/b/c/g/"));
        assert_eq!(r("/g").as_deref(), Some("http://a.example/g"));
        assert_eq!(r("//g").as_deref(), Some("http://g/"));
        assert_eq!(r("?y").as_deref(), Some("http://a.example/b/c/d;p?y"));
        assert_eq!(r("g?y").as_deref(), Some("http://a.example/b/c/g?y"));
        assert_eq!(r("#s").as_deref(), Some("http://a.example/b/c/d;p?q"));
        assert_eq!(r("../g").as_deref(), Some("http://a.example/b/g"));
        assert_eq!(r("../../../g").as_deref(), Some("http://a.example/g"));
        assert_eq!(
            r("HTTP://A.example:80/x").as_deref(),
            Some("http://a.example/x")
        );
        assert_eq!(r("mailto:x@y"), None);
    }

    #[test]
    fn section_4_4_unsafe_methods_invalidate_same_origin_uris() {
        let target = "http://shop.example/cart?id=1";
        let resp = h(&[
            ("location", "/cart/2"),
            ("content-location", "http://other.example/cart/2"),
        ]);
        assert_eq!(
            invalidated(&Method::POST, StatusCode::CREATED, target, &resp),
            vec![target.to_owned(), "http://shop.example/cart/2".to_owned()]
        );
        assert_eq!(
            invalidated(
                &Method::DELETE,
                StatusCode::SEE_OTHER,
                target,
                &HeaderMap::new()
            ),
            vec![target.to_owned()]
        );
        // Errors and safe methods invalidate nothing.
        assert!(invalidated(
            &Method::POST,
            StatusCode::INTERNAL_SERVER_ERROR,
            target,
            &resp
        )
        .is_empty());
        assert!(invalidated(&Method::POST, StatusCode::NOT_FOUND, target, &resp).is_empty());
        assert!(invalidated(&Method::GET, StatusCode::OK, target, &resp).is_empty());
        assert!(invalidated(&Method::OPTIONS, StatusCode::OK, target, &resp).is_empty());
        assert!(is_unsafe(&Method::from_bytes(b"PURGE").expect("method")));
    }

    proptest::proptest! {
        #[test]
        fn resolution_never_panics(reference in "\\PC{0,80}") {
            let _ = resolve("http://a.example/b/c?q", &reference);
        }
    }
}
