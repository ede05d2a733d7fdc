//! Invariant checks for the parsers of untrusted input in this crate (cache directives and
//! targeted fields, cache keys and URI references, stored-response records), shared by the
//! `cargo fuzz` targets and the tests that replay their corpora. Each accepts any bytes and
//! panics only on a broken promise.

use http::header::{HeaderMap, HeaderValue};

use crate::directives::{RequestDirectives, ResponseDirectives, DELTA_SECONDS_MAX};
use crate::freshness::{current_age, lifetime, Exchange, Heuristic};
use crate::invalidation::resolve;
use crate::key::{accept_encoding_class, primary_key, Vary};
use crate::record::Record;

fn headers_from(data: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (i, line) in data.split(|b| *b == b'\n').enumerate() {
        let Ok(v) = HeaderValue::from_bytes(line) else {
            continue;
        };
        let name = [
            "cache-control",
            "cdn-cache-control",
            "tinycdn-cache-control",
            "expires",
            "date",
            "age",
            "last-modified",
            "vary",
            "pragma",
        ][i % 9];
        h.append(name, v);
    }
    h
}

/// Directives never exceed 2^31 seconds; freshness and age computations never panic or wrap.
///
/// # Panics
/// When a bound is broken.
pub fn cache_control(data: &[u8]) {
    let h = headers_from(data);
    let (d, targeted) = ResponseDirectives::for_shared_cache(&h);
    for v in [
        d.max_age,
        d.s_maxage,
        d.stale_while_revalidate,
        d.stale_if_error,
    ]
    .into_iter()
    .flatten()
    {
        assert!(v <= DELTA_SECONDS_MAX);
    }
    let r = RequestDirectives::from_request(&h);
    for v in [
        r.max_age,
        r.min_fresh,
        r.stale_if_error,
        r.max_stale.flatten(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(v <= DELTA_SECONDS_MAX);
    }
    let l = lifetime(
        http::StatusCode::OK,
        &h,
        &d,
        targeted,
        1_000_000,
        Heuristic::default(),
    );
    assert!(l.seconds <= u64::MAX / 2 || !l.heuristic);
    let ex = Exchange {
        request_time: 999_990,
        response_time: 1_000_000,
    };
    assert!(current_age(&h, ex, 1_000_100) >= 100);
    let _ = Vary::of(&h).secondary_key(&h);
    let class = accept_encoding_class(std::str::from_utf8(data).ok());
    assert!(
        class == "identity"
            || class
                .split(", ")
                .all(|c| ["br", "deflate", "gzip", "zstd"].contains(&c))
    );
}

/// Keys that are accepted are canonical (normalising one again gives it back) and printable;
/// resolved references are keys of the same kind.
///
/// # Panics
/// When a key is not canonical.
pub fn cache_key(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let (host, path) = s
        .split_once('/')
        .map_or((s, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    for scheme in ["http", "https"] {
        if let Ok(k) = primary_key(scheme, host, &path) {
            assert!(!k.bytes().any(|c| c <= b' ' || c >= 0x7f), "{k:?}");
            let rest = &k[scheme.len() + 3..];
            let slash = rest.find('/').unwrap_or(rest.len());
            assert_eq!(
                primary_key(scheme, &rest[..slash], &rest[slash..]).as_deref(),
                Ok(k.as_str())
            );
            if let Some(r) = resolve(&k, s) {
                let scheme_end = r.find("://").unwrap_or(0);
                let rest = &r[scheme_end + 3..];
                let slash = rest.find('/').unwrap_or(rest.len());
                assert_eq!(
                    primary_key(&r[..scheme_end], &rest[..slash], &rest[slash..]).as_deref(),
                    Ok(r.as_str())
                );
            }
        }
    }
}

/// A record that decodes re-encodes to exactly the same bytes.
///
/// # Panics
/// When decoding accepts a non-canonical encoding.
pub fn cache_record(data: &[u8]) {
    if let Ok(r) = Record::from_bytes(data) {
        assert_eq!(r.to_bytes(), data);
        assert_eq!(
            r.chunks.iter().map(|(_, l)| u64::from(*l)).sum::<u64>(),
            r.body_len
        );
    }
}
