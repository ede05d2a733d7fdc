//! The rules of an HTTP shared cache (RFC 9111, with RFC 5861's stale extensions, RFC 9213's
//! targeted `CDN-Cache-Control` and RFC 9211's `Cache-Status`) as pure functions over request and
//! response heads and clock readings. No sockets, no runtime, no clock: tinycdn's edge calls these
//! and does the I/O.
//!
//! - [`key`]: the primary key (effective request URI) and the `Vary` secondary key (§2, §4.1);
//! - [`directives`]: `Cache-Control` and targeted fields (§5.2, RFC 9213);
//! - [`storable`]: what may be stored and which fields of it (§3);
//! - [`credentials`]: requests with credentials, cookies that are not, explicit shareability;
//! - [`freshness`]: freshness lifetime, heuristics and age (§4.2);
//! - [`reuse`]: whether a stored response may answer a request, stale or not (§4, RFC 5861);
//! - [`validation`]: conditional requests, 304 freshening, client conditionals (§4.3, §3.2);
//! - [`invalidation`]: what unsafe methods invalidate (§4.4);
//! - [`status`]: `Cache-Status` (RFC 9211);
//! - [`forwarding`]: hop-by-hop fields, `Via`, `Forwarded`;
//! - [`record`]: the stored response's canonical encoding for the cache disk.
//!
//! Why not the `http-cache-semantics` crate: it implements RFC 7234 (not 9111) and has no
//! targeted fields, `Cache-Status`, `stale-if-error` policy or stored-record format; the rules
//! here are each a short function tested against the section that states them.

pub mod credentials;
pub mod directives;
pub mod forwarding;
pub mod freshness;
pub mod invalidation;
pub mod invariants;
pub mod key;
pub mod record;
pub mod reuse;
pub mod status;
pub mod storable;
pub mod validation;

pub use directives::{Fields, RequestDirectives, ResponseDirectives};
pub use freshness::{Exchange, Heuristic};
pub use record::{Record, RecordError};
pub use reuse::{decide, Decision, Reuse, Stored};
pub use status::{CacheStatus, Forward};

/// Header maps from `(name, value)` pairs, for the tests of every module.
#[cfg(test)]
pub(crate) fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
    let mut m = http::HeaderMap::new();
    for (k, v) in pairs {
        m.append(
            http::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            http::HeaderValue::from_str(v).expect("value"),
        );
    }
    m
}
