//! Freshness lifetime (RFC 9111 §4.2.1, §4.2.2) and age (§4.2.3) of a stored response, in whole
//! seconds of Unix time.

use http::header::HeaderMap;
use http::StatusCode;

use crate::directives::{field_value, ResponseDirectives};

/// When the cache sent the request that produced a stored response and when the response came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exchange {
    /// `request_time` of §4.2.3 (Unix seconds).
    pub request_time: u64,
    /// `response_time` of §4.2.3 (Unix seconds).
    pub response_time: u64,
}

/// How long a response stays fresh, and whether that was a heuristic guess (§4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// Seconds from generation at the origin.
    pub seconds: u64,
    /// Derived from `Last-Modified`, not stated by the origin.
    pub heuristic: bool,
}

/// The heuristic freshness a cache may assign when the origin states none (§4.2.2): a fraction of
/// the time since `Last-Modified`, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heuristic {
    /// Percent of (`Date` − `Last-Modified`); the RFC suggests 10.
    pub percent: u64,
    /// Upper bound, seconds.
    pub max_seconds: u64,
}

impl Default for Heuristic {
    fn default() -> Self {
        Self {
            percent: 10,
            max_seconds: 86_400,
        }
    }
}

/// Status codes that are heuristically cacheable (RFC 9110 §15.1).
#[must_use]
pub fn heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 206 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// An HTTP-date field as Unix seconds; `None` when absent or not a valid date (all three formats
/// of RFC 9110 §5.6.7 are accepted; the first line counts).
#[must_use]
pub fn date_field(headers: &HeaderMap, name: &str) -> Option<u64> {
    let v = headers.get(name)?.to_str().ok()?;
    let t = httpdate::parse_http_date(v.trim()).ok()?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// An HTTP-date for Unix seconds (IMF-fixdate).
#[must_use]
pub fn format_date(secs: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// `date_value`: the response's `Date`, or when it was received (RFC 9110 §6.6.1).
#[must_use]
pub fn date_value(headers: &HeaderMap, response_time: u64) -> u64 {
    date_field(headers, "date").unwrap_or(response_time)
}

/// `age_value` (§5.1): the first member of `Age`; an invalid value is ignored (0).
#[must_use]
pub fn age_value(headers: &HeaderMap) -> u64 {
    field_value(headers, "age")
        .and_then(|v| {
            v.split(',')
                .next()
                .and_then(|a| crate::directives::delta_seconds(a.trim()))
        })
        .unwrap_or(0)
}

/// `corrected_initial_age` (§4.2.3): the age when the response was received; it never changes
/// for a stored response, so callers may compute it once.
#[must_use]
pub fn initial_age(headers: &HeaderMap, exchange: Exchange) -> u64 {
    let apparent_age = exchange
        .response_time
        .saturating_sub(date_value(headers, exchange.response_time));
    let response_delay = exchange.response_time.saturating_sub(exchange.request_time);
    let corrected_age_value = age_value(headers).saturating_add(response_delay);
    apparent_age.max(corrected_age_value)
}

/// `current_age` (§4.2.3): the initial age plus the time since the response was received.
#[must_use]
pub fn current_age(headers: &HeaderMap, exchange: Exchange, now: u64) -> u64 {
    let resident_time = now.saturating_sub(exchange.response_time);
    initial_age(headers, exchange).saturating_add(resident_time)
}

/// The freshness lifetime for a shared cache (§4.2.1): `s-maxage`, else `max-age`, else
/// `Expires` − `Date` (ignored when the directives came from a targeted field, RFC 9213 §2.2),
/// else a heuristic where §4.2.2 allows one, else 0.
#[must_use]
pub fn lifetime(
    status: StatusCode,
    headers: &HeaderMap,
    d: &ResponseDirectives,
    targeted: bool,
    response_time: u64,
    heuristic: Heuristic,
) -> Lifetime {
    let stated = |seconds| Lifetime {
        seconds,
        heuristic: false,
    };
    if let Some(s) = d.s_maxage {
        return stated(s);
    }
    if let Some(m) = d.max_age {
        return stated(m);
    }
    if !targeted && headers.contains_key("expires") {
        // §5.3: an invalid date ("0" among them) means already expired; so do differing lines.
        let lines: Vec<_> = headers.get_all("expires").iter().collect();
        let consistent = lines.windows(2).all(|w| w[0] == w[1]);
        let expires = date_field(headers, "expires").filter(|_| consistent);
        let date = date_value(headers, response_time);
        return stated(expires.map_or(0, |e| e.saturating_sub(date)));
    }
    if heuristically_cacheable(status) || d.public {
        if let Some(lm) = date_field(headers, "last-modified") {
            let since = date_value(headers, response_time).saturating_sub(lm);
            return Lifetime {
                // A tenth of the interval for 10 %: computed before dividing, so a file
                // modified 50 s ago is fresh for 5 s (not 0).
                seconds: (since.saturating_mul(heuristic.percent) / 100).min(heuristic.max_seconds),
                heuristic: true,
            };
        }
    }
    stated(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::headers as h;

    const T0: u64 = 1_700_000_000;

    fn life(headers: &HeaderMap) -> Lifetime {
        let (d, targeted) = ResponseDirectives::for_shared_cache(headers);
        lifetime(
            StatusCode::OK,
            headers,
            &d,
            targeted,
            T0,
            Heuristic::default(),
        )
    }

    #[test]
    fn section_4_2_1_shared_cache_precedence() {
        let date = format_date(T0);
        let expires = format_date(T0 + 300);
        assert_eq!(
            life(&h(&[
                ("cache-control", "max-age=60, s-maxage=120"),
                ("expires", &expires),
                ("date", &date)
            ]))
            .seconds,
            120
        );
        assert_eq!(
            life(&h(&[
                ("cache-control", "max-age=60"),
                ("expires", &expires)
            ]))
            .seconds,
            60
        );
        assert_eq!(
            life(&h(&[("expires", &expires), ("date", &date)])).seconds,
            300
        );
        // Without Date, Expires counts from when the response came.
        assert_eq!(life(&h(&[("expires", &expires)])).seconds, 300);
    }

    #[test]
    fn section_5_3_invalid_expires_is_in_the_past() {
        assert_eq!(life(&h(&[("expires", "0")])).seconds, 0);
        assert_eq!(life(&h(&[("expires", "tomorrow")])).seconds, 0);
        let a = format_date(T0 + 100);
        let b = format_date(T0 + 200);
        assert_eq!(life(&h(&[("expires", &a), ("expires", &b)])).seconds, 0);
        assert_eq!(life(&h(&[("expires", &a), ("expires", &a)])).seconds, 100);
    }

    #[test]
    fn rfc9213_targeted_fields_ignore_expires() {
        let expires = format_date(T0 + 300);
        let l = life(&h(&[
            ("cdn-cache-control", "public"),
            ("expires", &expires),
        ]));
        assert_eq!(l.seconds, 0);
    }

    #[test]
    fn section_4_2_2_heuristics_only_where_allowed() {
        let date = format_date(T0);
        let lm = format_date(T0 - 10_000);
        let l = life(&h(&[("date", &date), ("last-modified", &lm)]));
        assert_eq!(
            l,
            Lifetime {
                seconds: 1_000,
                heuristic: true
            }
        );
        // A recent file: 10 % of 50 s is 5 s, not 0 (the fraction is taken before rounding).
        let recent = format_date(T0 - 50);
        assert_eq!(
            life(&h(&[("date", &date), ("last-modified", &recent)])).seconds,
            5
        );
        let seconds = format_date(T0 - 9);
        assert_eq!(
            life(&h(&[("date", &date), ("last-modified", &seconds)])).seconds,
            0
        );
        // Capped.
        let old = format_date(T0 - 100 * 86_400);
        assert_eq!(
            life(&h(&[("date", &date), ("last-modified", &old)])).seconds,
            86_400
        );
        // Not for a status that is not heuristically cacheable, unless public.
        let hd = h(&[("date", &date), ("last-modified", &lm)]);
        let d = ResponseDirectives::default();
        let st = StatusCode::FOUND;
        assert_eq!(
            lifetime(st, &hd, &d, false, T0, Heuristic::default()).seconds,
            0
        );
        let public = ResponseDirectives::parse("public");
        assert_eq!(
            lifetime(st, &hd, &public, false, T0, Heuristic::default()).seconds,
            1_000
        );
        // Never when an explicit expiration is present.
        let l = life(&h(&[
            ("date", &date),
            ("last-modified", &lm),
            ("cache-control", "max-age=5"),
        ]));
        assert!(!l.heuristic);
    }

    #[test]
    fn section_4_2_3_age_calculation() {
        let ex = Exchange {
            request_time: T0,
            response_time: T0 + 2,
        };
        // Date 10 s before the response came: the apparent age wins over Age + delay.
        let hd = h(&[("date", &format_date(T0 - 8)), ("age", "3")]);
        assert_eq!(current_age(&hd, ex, T0 + 2), 10);
        assert_eq!(current_age(&hd, ex, T0 + 32), 40);
        // A clock ahead of ours does not make the age negative; Age + delay counts.
        let hd = h(&[("date", &format_date(T0 + 100)), ("age", "30")]);
        assert_eq!(current_age(&hd, ex, T0 + 2), 32);
        // §5.1: only the first member counts (plus the 2 s response delay); an invalid Age is
        // ignored.
        let hd = h(&[("date", &format_date(T0 + 2)), ("age", "7, 9")]);
        assert_eq!(current_age(&hd, ex, T0 + 2), 9);
        let hd = h(&[("date", &format_date(T0 + 2)), ("age", "soon")]);
        assert_eq!(current_age(&hd, ex, T0 + 2), 2);
    }

    proptest::proptest! {
        #[test]
        fn age_grows_with_resident_time(age in 0u64..1_000_000, skew in 0u64..100_000, delay in 0u64..1_000, wait in 0u64..1_000_000) {
            let ex = Exchange { request_time: T0, response_time: T0 + delay };
            let hd = h(&[("date", &format_date(T0 - skew)), ("age", &age.to_string())]);
            let at_arrival = current_age(&hd, ex, T0 + delay);
            proptest::prop_assert!(at_arrival >= age);
            proptest::prop_assert_eq!(current_age(&hd, ex, T0 + delay + wait), at_arrival + wait);
        }
    }
}
