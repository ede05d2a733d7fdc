//! Whether a stored response may answer a request (RFC 9111 §4, §4.2.4, §5.2.1; RFC 5861).
//!
//! One reading of the RFCs is a choice, stated here: `s-maxage` implies `proxy-revalidate` for a
//! shared cache (§5.2.2.10), which would forbid serving stale; but an origin that sends
//! `s-maxage=60, stale-while-revalidate=300` (the most common CDN policy) asks for exactly that,
//! so an explicit `stale-while-revalidate` or `stale-if-error` is honoured next to `s-maxage`.
//! `must-revalidate`, `proxy-revalidate` and `no-cache` always win: such a response is never
//! served stale. A second choice: a response whose freshness lifetime is 0 is never served stale
//! for `max-stale` (§4.2.4 allows it; a shared cache in front of logged-in pages must not).

use http::header::HeaderMap;
use http::StatusCode;

use crate::directives::{RequestDirectives, ResponseDirectives};
use crate::freshness::{initial_age, lifetime, Exchange, Heuristic};
use crate::storable::shareable_with_authorization;

/// A stored response as the decision needs it. Its lifetime and initial age depend only on what
/// was stored, so [`Stored::new`] computes them once and a cache may keep them.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    /// Its status.
    pub status: StatusCode,
    /// Its stored header fields.
    pub headers: &'a HeaderMap,
    /// When it was requested and received.
    pub exchange: Exchange,
    /// Its directives for this cache ([`ResponseDirectives::for_shared_cache`]).
    pub directives: &'a ResponseDirectives,
    /// Whether those came from a targeted field.
    pub targeted: bool,
    /// Marked invalid (§4.4, or a soft purge): it must be validated before reuse.
    pub invalid: bool,
    /// Its freshness lifetime, seconds (§4.2.1).
    pub lifetime: u64,
    /// Its age when it was received, seconds (§4.2.3 `corrected_initial_age`).
    pub initial_age: u64,
}

impl<'a> Stored<'a> {
    /// The view of a stored response, its lifetime and initial age computed.
    #[must_use]
    pub fn new(
        status: StatusCode,
        headers: &'a HeaderMap,
        exchange: Exchange,
        directives: &'a ResponseDirectives,
        targeted: bool,
        invalid: bool,
        heuristic: Heuristic,
    ) -> Self {
        let lifetime = lifetime(
            status,
            headers,
            directives,
            targeted,
            exchange.response_time,
            heuristic,
        )
        .seconds;
        Self {
            status,
            headers,
            exchange,
            directives,
            targeted,
            invalid,
            lifetime,
            initial_age: initial_age(headers, exchange),
        }
    }

    /// `current_age` at `now`.
    #[must_use]
    pub fn age(&self, now: u64) -> u64 {
        self.initial_age
            .saturating_add(now.saturating_sub(self.exchange.response_time))
    }
}

/// What to do with the stored response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    /// Serve it.
    Fresh,
    /// Serve it although stale (`max-stale` in the request).
    Stale,
    /// Serve it stale and revalidate in the background (RFC 5861 §3).
    StaleWhileRevalidate,
    /// Validate it with the origin first.
    Validate,
    /// It may not answer this request at all (a request with `Authorization`, §3.5): forward.
    Unusable,
}

/// The decision, with the numbers `Age` and `Cache-Status` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// What to do.
    pub reuse: Reuse,
    /// `current_age`, seconds.
    pub age: u64,
    /// Freshness left: lifetime − age (negative when stale).
    pub ttl: i64,
    /// Whether the stored response may answer if the origin fails or sends a 5xx now: it is still
    /// fresh, or `stale-if-error` covers its staleness (RFC 5861 §4).
    pub on_error: bool,
}

fn covers(window: Option<u64>, staleness: u64) -> bool {
    window.is_some_and(|w| staleness <= w)
}

/// Decides how `stored` may answer a request with `request` headers.
#[must_use]
pub fn decide(
    stored: &Stored<'_>,
    request: &HeaderMap,
    req: &RequestDirectives,
    now: u64,
) -> Decision {
    let d = stored.directives;
    let age = stored.age(now);
    let life = stored.lifetime;
    let ttl = i64::try_from(life).unwrap_or(i64::MAX) - i64::try_from(age).unwrap_or(i64::MAX);
    let staleness = age.saturating_sub(life);
    let fresh = life > age;
    let strict = d.forbids_stale();
    let implied = d.s_maxage.is_some();
    let on_error = !strict
        && ((fresh && !stored.invalid)
            || covers(d.stale_if_error, staleness)
            || covers(req.stale_if_error, staleness));
    let decision = |reuse| Decision {
        reuse,
        age,
        ttl,
        on_error,
    };
    if request.contains_key("authorization") && !shareable_with_authorization(d) {
        return decision(Reuse::Unusable);
    }
    // What the client asks for (§5.2.1): validation, a bound on age, freshness left.
    let client_validates = req.no_cache
        || req.max_age.is_some_and(|m| age > m)
        || req.min_fresh.is_some_and(|m| life < age.saturating_add(m));
    let must_validate = stored.invalid || d.no_cache == Some(crate::Fields::All);
    if fresh && !client_validates && !must_validate {
        return decision(Reuse::Fresh);
    }
    if !fresh && !must_validate && !strict {
        let max_stale = req
            .max_stale
            .is_some_and(|m| m.is_none_or(|n| staleness <= n));
        // A response stored with no freshness at all (lifetime 0: no `max-age`, no `Expires`
        // in the future, no `Last-Modified` to guess from) was never meant to answer anyone but
        // its own requester: a client's `max-stale` does not make it reusable (tinycdn's rule,
        // so that `max-stale, only-if-cached` cannot read the last visitor's page).
        if max_stale && !implied && !client_validates && life > 0 {
            return decision(Reuse::Stale);
        }
        if covers(d.stale_while_revalidate, staleness) && !client_validates {
            return decision(Reuse::StaleWhileRevalidate);
        }
    }
    decision(Reuse::Validate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::freshness::format_date;

    const T0: u64 = 1_800_000_000;

    use crate::headers as h;

    /// The decision for a response with `cc` stored at T0, asked for `elapsed` seconds later.
    fn at(cc: &str, req: &[(&str, &str)], elapsed: u64) -> Decision {
        at_with(cc, req, elapsed, false)
    }

    fn at_with(cc: &str, req: &[(&str, &str)], elapsed: u64, invalid: bool) -> Decision {
        let date = format_date(T0);
        let headers = h(&[("cache-control", cc), ("date", &date)]);
        let (d, targeted) = ResponseDirectives::for_shared_cache(&headers);
        let exchange = Exchange {
            request_time: T0,
            response_time: T0,
        };
        let stored = Stored::new(
            StatusCode::OK,
            &headers,
            exchange,
            &d,
            targeted,
            invalid,
            Heuristic::default(),
        );
        let rq = h(req);
        decide(
            &stored,
            &rq,
            &RequestDirectives::from_request(&rq),
            T0 + elapsed,
        )
    }

    #[test]
    fn section_4_2_fresh_then_stale() {
        let d = at("max-age=60", &[], 10);
        assert_eq!((d.reuse, d.age, d.ttl), (Reuse::Fresh, 10, 50));
        let d = at("max-age=60", &[], 60);
        assert_eq!((d.reuse, d.ttl), (Reuse::Validate, 0));
        assert!(!d.on_error);
    }

    #[test]
    fn section_5_2_2_4_no_cache_always_validates() {
        assert_eq!(at("no-cache, max-age=60", &[], 1).reuse, Reuse::Validate);
        assert_eq!(
            at("no-cache, max-age=60, stale-while-revalidate=600", &[], 61).reuse,
            Reuse::Validate
        );
    }

    #[test]
    fn section_5_2_1_request_directives() {
        assert_eq!(
            at("max-age=60", &[("cache-control", "no-cache")], 1).reuse,
            Reuse::Validate
        );
        assert_eq!(
            at("max-age=60", &[("pragma", "no-cache")], 1).reuse,
            Reuse::Validate
        );
        assert_eq!(
            at("max-age=60", &[("cache-control", "max-age=5")], 10).reuse,
            Reuse::Validate
        );
        assert_eq!(
            at("max-age=60", &[("cache-control", "max-age=15")], 10).reuse,
            Reuse::Fresh
        );
        assert_eq!(
            at("max-age=60", &[("cache-control", "min-fresh=55")], 10).reuse,
            Reuse::Validate
        );
        assert_eq!(
            at("max-age=60", &[("cache-control", "max-stale=30")], 80).reuse,
            Reuse::Stale
        );
        assert_eq!(
            at("max-age=60", &[("cache-control", "max-stale=30")], 95).reuse,
            Reuse::Validate
        );
        assert_eq!(
            at("max-age=60", &[("cache-control", "max-stale")], 10_000).reuse,
            Reuse::Stale
        );
    }

    #[test]
    fn a_response_with_no_freshness_is_never_served_stale_for_max_stale() {
        // No max-age, no Expires, no Last-Modified: lifetime 0.
        for cc in ["", "max-age=0"] {
            assert_eq!(
                at(cc, &[("cache-control", "max-stale")], 5).reuse,
                Reuse::Validate,
                "{cc:?}"
            );
        }
    }

    #[test]
    fn section_4_2_4_must_revalidate_and_proxy_revalidate_forbid_stale() {
        for cc in [
            "max-age=60, must-revalidate",
            "max-age=60, proxy-revalidate",
        ] {
            let with_swr = format!("{cc}, stale-while-revalidate=600, stale-if-error=600");
            let d = at(&with_swr, &[("cache-control", "max-stale")], 61);
            assert_eq!(d.reuse, Reuse::Validate, "{cc}");
            assert!(!d.on_error, "{cc}");
        }
        // s-maxage implies proxy-revalidate: no max-stale …
        assert_eq!(
            at("s-maxage=60", &[("cache-control", "max-stale")], 61).reuse,
            Reuse::Validate
        );
        // … but an explicit stale-while-revalidate next to it is honoured.
        assert_eq!(
            at("s-maxage=60, stale-while-revalidate=30", &[], 80).reuse,
            Reuse::StaleWhileRevalidate
        );
    }

    #[test]
    fn rfc5861_section_3_stale_while_revalidate() {
        let d = at("max-age=60, stale-while-revalidate=30", &[], 80);
        assert_eq!((d.reuse, d.ttl), (Reuse::StaleWhileRevalidate, -20));
        assert_eq!(
            at("max-age=60, stale-while-revalidate=30", &[], 91).reuse,
            Reuse::Validate
        );
        // Not when the client asks for validation.
        assert_eq!(
            at(
                "max-age=60, stale-while-revalidate=30",
                &[("cache-control", "no-cache")],
                80
            )
            .reuse,
            Reuse::Validate
        );
    }

    #[test]
    fn rfc5861_section_4_stale_if_error() {
        assert!(at("max-age=60, stale-if-error=100", &[], 150).on_error);
        assert!(!at("max-age=60, stale-if-error=100", &[], 170).on_error);
        assert!(
            at(
                "max-age=60",
                &[("cache-control", "stale-if-error=100")],
                150
            )
            .on_error
        );
        // A fresh response may always stand in when validation the client asked for fails.
        assert!(at("max-age=60", &[("cache-control", "no-cache")], 10).on_error);
        assert!(
            !at(
                "max-age=60, must-revalidate",
                &[("cache-control", "no-cache")],
                10
            )
            .on_error
        );
    }

    #[test]
    fn section_4_4_invalid_responses_are_validated() {
        let d = at_with("max-age=60, stale-while-revalidate=600", &[], 1, true);
        assert_eq!(d.reuse, Reuse::Validate);
        assert!(!d.on_error);
        assert!(at_with("max-age=60, stale-if-error=600", &[], 1, true).on_error);
    }

    #[test]
    fn section_3_5_authorization_requests_need_a_shareable_response() {
        let auth = [("authorization", "Basic eA==")];
        assert_eq!(at("max-age=60", &auth, 1).reuse, Reuse::Unusable);
        assert_eq!(at("public, max-age=60", &auth, 1).reuse, Reuse::Fresh);
        assert_eq!(at("s-maxage=60", &auth, 1).reuse, Reuse::Fresh);
    }

    proptest::proptest! {
        #[test]
        fn fresh_only_within_the_lifetime(max_age in 0u64..10_000, elapsed in 0u64..20_000, swr in 0u64..1_000) {
            let d = at(&format!("max-age={max_age}, stale-while-revalidate={swr}"), &[], elapsed);
            proptest::prop_assert_eq!(d.reuse == Reuse::Fresh, elapsed < max_age);
            proptest::prop_assert_eq!(d.reuse == Reuse::StaleWhileRevalidate, elapsed >= max_age && elapsed - max_age <= swr);
            proptest::prop_assert_eq!(d.ttl, max_age as i64 - elapsed as i64);
        }
    }
}
