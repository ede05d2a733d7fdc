//! Invariant checks for the parsers of untrusted input in this crate (cache directives and
//! targeted fields, cache keys and URI references, stored-response records, the forwarding-field
//! rewrite, credential and sharing decisions), shared by the
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

/// Header fields from `data`: each line `name: value`, names lowercased; lines that are not a
/// valid field are skipped.
fn fields_from(data: &[u8]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for line in data.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(n), Ok(v)) = (
            http::header::HeaderName::from_bytes(&name.to_ascii_lowercase()),
            HeaderValue::from_bytes(value),
        ) {
            h.append(n, v);
        }
    }
    h
}

/// Whatever forwarding fields a client sends, an untrusted client's never reach the application:
/// what is left of [`crate::forwarding::CLIENT_FORWARDING`] is exactly what the edge wrote; a
/// trusted hop's chain ends with this hop; the scheme a hop reports is `http` or `https`.
///
/// # Panics
/// When a client-sent forwarding field survives the rewrite.
pub fn forwarding(data: &[u8]) {
    use crate::forwarding::{forwarded_proto, rewrite_forwarding, Hop, CLIENT_FORWARDING};
    let sent = fields_from(data);
    assert!(matches!(
        forwarded_proto(&sent),
        None | Some("http" | "https")
    ));
    for trusted in [false, true] {
        let mut h = sent.clone();
        let hop = Hop {
            client: std::net::IpAddr::from([192, 0, 2, 7]),
            proto: "https",
            host: "shop.example",
            trusted,
        };
        rewrite_forwarding(&mut h, &hop);
        assert_eq!(h.get_all("x-forwarded-host").iter().count(), 1);
        assert_eq!(h["x-forwarded-host"], "shop.example");
        assert_eq!(h.get_all("x-forwarded-proto").iter().count(), 1);
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(forwarded_proto(&h), Some("https"));
        for name in CLIENT_FORWARDING {
            let ours = [
                "forwarded",
                "x-forwarded-for",
                "x-forwarded-host",
                "x-forwarded-proto",
            ];
            if !ours.contains(&name) {
                assert!(!h.contains_key(name), "{name} survived");
            }
        }
        let xff = h
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if trusted {
            assert!(xff.ends_with("192.0.2.7"), "{xff:?}");
        } else {
            assert_eq!(xff, "192.0.2.7");
            assert_eq!(
                h["forwarded"],
                "for=192.0.2.7;proto=https;host=shop.example"
            );
        }
    }
}

/// Credentials and sharing: an answer to a credentialed request is storable only when it is
/// explicitly shareable; stripping ignored cookies removes every one of them, is idempotent and
/// never turns an anonymous request into a credentialed one; a stored response with no
/// freshness is never reused stale.
///
/// # Panics
/// When one of those promises is broken.
pub fn credentials(data: &[u8]) {
    use crate::credentials::{explicitly_shareable, CredentialRules};
    use crate::reuse::{decide, Reuse, Stored};
    use crate::storable::storable;
    let split = data
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(data.len());
    let request = fields_from(&data[..split]);
    let response = fields_from(data.get(split..).unwrap_or_default());
    let Ok(rules) = CredentialRules::new(&["x-api-key"], &["_ga", "_ga_*", "utm"]) else {
        return;
    };
    let mut stripped = request.clone();
    rules.strip_ignored_cookies(&mut stripped);
    if rules.carries(&stripped) {
        assert!(rules.carries(&request));
    }
    for v in stripped.get_all("cookie") {
        for pair in v.as_bytes().split(|b| *b == b';') {
            let name = pair
                .split(|b| *b == b'=')
                .next()
                .unwrap_or(pair)
                .trim_ascii();
            assert!(
                name != b"_ga" && !name.starts_with(b"_ga_") && name != b"utm",
                "an ignored cookie survived"
            );
        }
    }
    let mut again = stripped.clone();
    rules.strip_ignored_cookies(&mut again);
    assert_eq!(again, stripped);
    let (d, targeted) = ResponseDirectives::for_shared_cache(&response);
    let req = RequestDirectives::from_request(&stripped);
    let credentialed = rules.carries(&stripped);
    for status in [200u16, 404] {
        let status = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
        let ok = storable(
            &http::Method::GET,
            &stripped,
            &req,
            status,
            &response,
            &d,
            targeted,
            credentialed,
        )
        .is_ok();
        if ok && credentialed {
            assert!(explicitly_shareable(&response, &d, targeted));
        }
    }
    let ex = Exchange {
        request_time: 1_000_000,
        response_time: 1_000_000,
    };
    let stored = Stored::new(
        http::StatusCode::OK,
        &response,
        ex,
        &d,
        targeted,
        false,
        Heuristic::default(),
    );
    if stored.lifetime == 0 {
        let later = decide(&stored, &stripped, &req, 1_000_010);
        assert_ne!(later.reuse, Reuse::Stale);
    }
}
