//! Validation (RFC 9111 §4.3): the conditional request that revalidates a stored response
//! (§4.3.1), whether a 304 applies to it (§4.3.4) and how it freshens the stored header fields
//! (§3.2); and the client's own conditionals answered from a stored response (§4.3.2, RFC 9110
//! §13.2.2), `If-Range` included (RFC 9110 §13.1.5).

use http::header::{HeaderMap, HeaderName, HeaderValue};
use tinycdn_http::etag::{EntityTag, TagList};

use crate::freshness::{date_field, date_value};

fn stored_etag(headers: &HeaderMap) -> Option<EntityTag> {
    headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .and_then(EntityTag::parse)
}

/// The validators to send when revalidating a stored response (§4.3.1): `If-None-Match` with its
/// entity tag and `If-Modified-Since` with its `Last-Modified`, where it has them.
#[must_use]
pub fn conditional_headers(stored: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    if let Some(e) = stored.get("etag") {
        out.push((http::header::IF_NONE_MATCH, e.clone()));
    }
    if let Some(lm) = stored.get("last-modified") {
        out.push((http::header::IF_MODIFIED_SINCE, lm.clone()));
    }
    out
}

/// Whether a 304 selects this stored response (§4.3.4): by its entity tag when the 304 has one
/// (strong comparison for a strong tag), else by `Last-Modified`, else (no validator) yes.
#[must_use]
pub fn selects(stored: &HeaderMap, not_modified: &HeaderMap) -> bool {
    if let Some(new) = stored_etag(not_modified) {
        return stored_etag(stored).is_some_and(|old| {
            if new.weak {
                old.weak_eq(&new)
            } else {
                old.strong_eq(&new)
            }
        });
    }
    if let Some(lm) = not_modified.get("last-modified") {
        return stored.get("last-modified") == Some(lm);
    }
    true
}

/// Fields a 304 never replaces in the stored response (§3.2): its length, and what describes
/// one connection.
const KEPT_ON_UPDATE: [&str; 3] = ["content-length", "content-range", "content-encoding"];

/// Freshens stored header fields with a 304's (§3.2, §4.3.4): each field the 304 carries
/// replaces the stored one. `Age` is dropped when the 304 has none: the validation just showed
/// the response to be current.
pub fn freshen(stored: &mut HeaderMap, not_modified: &HeaderMap) {
    let mut update = not_modified.clone();
    crate::forwarding::remove_hop_by_hop(&mut update);
    if !update.contains_key("age") {
        stored.remove("age");
    }
    let names: Vec<HeaderName> = update.keys().cloned().collect();
    for name in names {
        if KEPT_ON_UPDATE.contains(&name.as_str()) {
            continue;
        }
        stored.remove(&name);
        for v in update.get_all(&name) {
            stored.append(name.clone(), v.clone());
        }
    }
}

/// What the client's conditionals decide against a stored response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conditional {
    /// Send the response.
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// The stored response's modification time for `If-(Un)Modified-Since`: `Last-Modified`, else its
/// `Date`, else when it was received (§4.3.2).
fn modified(stored: &HeaderMap, response_time: u64) -> u64 {
    date_field(stored, "last-modified").unwrap_or_else(|| date_value(stored, response_time))
}

/// Evaluates a GET or HEAD's preconditions against a stored response (RFC 9110 §13.2.2 order):
/// `If-Match`, else `If-Unmodified-Since`; then `If-None-Match`, else `If-Modified-Since`.
#[must_use]
pub fn evaluate(request: &HeaderMap, stored: &HeaderMap, response_time: u64) -> Conditional {
    let text = |n: &str| request.get(n).and_then(|v| v.to_str().ok());
    let etag = stored_etag(stored);
    if let Some(v) = text("if-match") {
        let ok = match TagList::parse(v) {
            Some(TagList::Any) => true,
            Some(list) => etag.as_ref().is_some_and(|e| list.matches(e, true)),
            None => false,
        };
        if !ok {
            return Conditional::Failed;
        }
    } else if let Some(since) = text("if-unmodified-since").and_then(parse_date) {
        if modified(stored, response_time) > since {
            return Conditional::Failed;
        }
    }
    if let Some(v) = text("if-none-match") {
        let matched = match TagList::parse(v) {
            Some(TagList::Any) => true,
            Some(list) => etag.as_ref().is_some_and(|e| list.matches(e, false)),
            None => false,
        };
        return if matched {
            Conditional::NotModified
        } else {
            Conditional::Proceed
        };
    }
    if let Some(since) = text("if-modified-since").and_then(parse_date) {
        if modified(stored, response_time) <= since {
            return Conditional::NotModified;
        }
    }
    Conditional::Proceed
}

fn parse_date(s: &str) -> Option<u64> {
    httpdate::parse_http_date(s.trim())
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// Whether `If-Range` lets a `Range` be honoured (RFC 9110 §13.1.5): absent, or it names the
/// stored response by a strong entity tag, or by a `Last-Modified` date that is strong (at least
/// one second before its `Date`).
#[must_use]
pub fn if_range_allows(request: &HeaderMap, stored: &HeaderMap, response_time: u64) -> bool {
    let Some(v) = request.get("if-range").and_then(|v| v.to_str().ok()) else {
        return request.get("if-range").is_none();
    };
    let v = v.trim();
    if v.starts_with('"') || v.starts_with("W/") {
        return EntityTag::parse(v)
            .zip(stored_etag(stored))
            .is_some_and(|(asked, have)| asked.strong_eq(&have));
    }
    let (Some(asked), Some(lm)) = (parse_date(v), date_field(stored, "last-modified")) else {
        return false;
    };
    asked == lm && date_value(stored, response_time) > lm
}

/// Fields a 304 sent from the cache carries (RFC 9110 §15.4.5), besides `Age`, `Via` and
/// `Cache-Status`.
pub const NOT_MODIFIED_FIELDS: [&str; 7] = [
    "cache-control",
    "content-location",
    "date",
    "etag",
    "expires",
    "last-modified",
    "vary",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::freshness::format_date;

    use crate::headers as h;

    const T0: u64 = 1_800_000_000;

    #[test]
    fn section_4_3_1_validators_sent() {
        let lm = format_date(T0);
        let v = conditional_headers(&h(&[("etag", "W/\"a\""), ("last-modified", &lm)]));
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].1, "W/\"a\"");
        assert!(conditional_headers(&h(&[("date", &lm)])).is_empty());
    }

    #[test]
    fn section_4_3_4_which_stored_response_a_304_freshens() {
        let lm = format_date(T0);
        let stored = h(&[("etag", "\"v1\""), ("last-modified", &lm)]);
        assert!(selects(&stored, &h(&[("etag", "\"v1\"")])));
        assert!(!selects(&stored, &h(&[("etag", "\"v2\"")])));
        assert!(selects(&stored, &h(&[("etag", "W/\"v1\"")])));
        assert!(!selects(
            &h(&[("etag", "W/\"v1\"")]),
            &h(&[("etag", "\"v1\"")])
        ));
        assert!(selects(&stored, &h(&[("last-modified", &lm)])));
        assert!(!selects(
            &stored,
            &h(&[("last-modified", &format_date(T0 + 1))])
        ));
        assert!(selects(&stored, &h(&[("date", &lm)])));
    }

    #[test]
    fn section_3_2_updating_stored_header_fields() {
        let mut stored = h(&[
            ("cache-control", "max-age=10"),
            ("content-length", "5"),
            ("x-a", "old"),
            ("x-b", "kept"),
            ("age", "100"),
        ]);
        freshen(
            &mut stored,
            &h(&[
                ("cache-control", "max-age=60"),
                ("content-length", "0"),
                ("x-a", "new"),
                ("x-a", "newer"),
                ("connection", "close"),
            ]),
        );
        assert_eq!(stored["cache-control"], "max-age=60");
        assert_eq!(stored["content-length"], "5");
        let xa: Vec<_> = stored.get_all("x-a").iter().collect();
        assert_eq!(xa, ["new", "newer"]);
        assert_eq!(stored["x-b"], "kept");
        assert!(stored.get("age").is_none());
        assert!(stored.get("connection").is_none());
    }

    #[test]
    fn section_4_3_2_client_conditionals_from_the_cache() {
        let lm = format_date(T0);
        let stored = h(&[("etag", "\"v1\""), ("last-modified", &lm)]);
        let ev = |req: &[(&str, &str)]| evaluate(&h(req), &stored, T0 + 5);
        assert_eq!(ev(&[]), Conditional::Proceed);
        assert_eq!(
            ev(&[("if-none-match", "\"v0\", W/\"v1\"")]),
            Conditional::NotModified
        );
        assert_eq!(ev(&[("if-none-match", "\"v0\"")]), Conditional::Proceed);
        assert_eq!(ev(&[("if-none-match", "*")]), Conditional::NotModified);
        // If-None-Match takes precedence over If-Modified-Since.
        assert_eq!(
            ev(&[
                ("if-none-match", "\"v0\""),
                ("if-modified-since", &format_date(T0 + 9))
            ]),
            Conditional::Proceed
        );
        assert_eq!(
            ev(&[("if-modified-since", &format_date(T0))]),
            Conditional::NotModified
        );
        assert_eq!(
            ev(&[("if-modified-since", &format_date(T0 - 1))]),
            Conditional::Proceed
        );
        assert_eq!(
            ev(&[("if-modified-since", "garbage")]),
            Conditional::Proceed
        );
        assert_eq!(ev(&[("if-match", "\"v1\"")]), Conditional::Proceed);
        assert_eq!(ev(&[("if-match", "W/\"v1\"")]), Conditional::Failed);
        assert_eq!(ev(&[("if-match", "\"v0\"")]), Conditional::Failed);
        assert_eq!(
            ev(&[("if-unmodified-since", &format_date(T0 - 1))]),
            Conditional::Failed
        );
        assert_eq!(
            ev(&[("if-unmodified-since", &format_date(T0))]),
            Conditional::Proceed
        );
        // Without Last-Modified, the Date (else the time received) stands in.
        let no_lm = h(&[("date", &format_date(T0))]);
        assert_eq!(
            evaluate(
                &h(&[("if-modified-since", &format_date(T0))]),
                &no_lm,
                T0 + 9
            ),
            Conditional::NotModified
        );
        assert_eq!(
            evaluate(&h(&[("if-match", "\"x\"")]), &no_lm, T0),
            Conditional::Failed
        );
    }

    #[test]
    fn rfc9110_section_13_1_5_if_range() {
        let lm = format_date(T0);
        let stored = h(&[
            ("etag", "\"v1\""),
            ("last-modified", &lm),
            ("date", &format_date(T0 + 10)),
        ]);
        let ok = |v: &str| if_range_allows(&h(&[("if-range", v)]), &stored, T0 + 10);
        assert!(if_range_allows(&HeaderMap::new(), &stored, T0));
        assert!(ok("\"v1\""));
        assert!(!ok("W/\"v1\""));
        assert!(!ok("\"v2\""));
        assert!(ok(&lm));
        assert!(!ok(&format_date(T0 + 1)));
        // A Last-Modified as recent as the Date is a weak validator.
        let weak = h(&[("last-modified", &lm), ("date", &lm)]);
        assert!(!if_range_allows(&h(&[("if-range", &lm)]), &weak, T0));
    }
}
