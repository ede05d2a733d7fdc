//! Whether a shared cache may store a response (RFC 9111 §3, §3.5), and which of its header fields
//! it keeps (§3.1).
//!
//! Besides the RFC's rules tinycdn stores the answer to a request with credentials (`Cookie`, or
//! a field the operator names) only when the application said explicitly that a shared cache may
//! keep it ([`crate::credentials`]), and nothing that carries `Set-Cookie` (as nginx's
//! `proxy_cache` and Varnish's built-in policy do: a session cookie handed to every client is the
//! classic shared-cache leak), no partial (206) or 304 response (fills ask for whole
//! representations), and nothing with `Vary: *` (it could never be selected, §4.1).

use http::header::HeaderMap;
use http::{Method, StatusCode};

use crate::credentials::explicitly_shareable;
use crate::directives::{Fields, RequestDirectives, ResponseDirectives};
use crate::freshness::heuristically_cacheable;
use crate::key::Vary;

/// Why a response is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotStorable {
    /// Only `GET` responses are stored (`HEAD` is answered from them).
    Method,
    /// A status the cache does not store (1xx, 206, 304, or not understood under
    /// `must-understand`).
    Status,
    /// `no-store` in the request or the response (§5.2.1.5, §5.2.2.5).
    NoStore,
    /// `private` (§5.2.2.7).
    Private,
    /// The request had `Authorization` and the response did not allow a shared cache to keep it
    /// (§3.5).
    Authorization,
    /// No explicit freshness, no `public` and not heuristically cacheable (§3).
    NoFreshness,
    /// The request carried credentials (`Cookie`, or a field the operator named) and the
    /// response did not say explicitly that a shared cache may keep it (tinycdn's rule, §3.5
    /// extended: [`crate::credentials`]).
    Credentials,
    /// `Set-Cookie` (tinycdn's rule).
    SetCookie,
    /// `Vary: *` (§4.1).
    VaryAny,
}

impl NotStorable {
    /// A short name, for `Cache-Status`' `detail` and for metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Method => "method",
            Self::Status => "status",
            Self::NoStore => "no-store",
            Self::Private => "private",
            Self::Authorization => "authorization",
            Self::NoFreshness => "no-freshness",
            Self::Credentials => "credentials",
            Self::SetCookie => "set-cookie",
            Self::VaryAny => "vary-star",
        }
    }
}

/// Status codes whose semantics this cache understands (`must-understand`, §5.2.2.3).
fn understood(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203
            | 204
            | 300
            | 301
            | 302
            | 303
            | 307
            | 308
            | 400
            | 403
            | 404
            | 405
            | 410
            | 414
            | 451
            | 501
    )
}

/// Whether a response to a request with `Authorization` may be stored and reused by a shared
/// cache (§3.5): `public`, `s-maxage` or `must-revalidate`.
#[must_use]
pub fn shareable_with_authorization(d: &ResponseDirectives) -> bool {
    d.public || d.s_maxage.is_some() || d.must_revalidate
}

/// Decides whether the response may be stored (§3, for a shared cache).
///
/// `d` and `targeted` are [`ResponseDirectives::for_shared_cache`] of the response headers;
/// `credentialed`: the request carried credentials ([`crate::credentials::CredentialRules::carries`]).
///
/// # Errors
/// The first rule that forbids storing it.
// Each argument is one fact of the exchange that §3 reads; the edge has them all at hand.
#[allow(clippy::too_many_arguments)]
pub fn storable(
    method: &Method,
    request: &HeaderMap,
    req: &RequestDirectives,
    status: StatusCode,
    response: &HeaderMap,
    d: &ResponseDirectives,
    targeted: bool,
    credentialed: bool,
) -> Result<(), NotStorable> {
    if method != Method::GET {
        return Err(NotStorable::Method);
    }
    let code = status.as_u16();
    if code < 200 || code == 206 || code == 304 {
        return Err(NotStorable::Status);
    }
    if d.must_understand {
        // §5.2.2.3: no-store is overridden when the status is understood.
        if !understood(status) {
            return Err(NotStorable::Status);
        }
    } else if d.no_store {
        return Err(NotStorable::NoStore);
    }
    if req.no_store {
        return Err(NotStorable::NoStore);
    }
    if d.private == Some(Fields::All) {
        return Err(NotStorable::Private);
    }
    if request.contains_key("authorization") && !shareable_with_authorization(d) {
        return Err(NotStorable::Authorization);
    }
    if credentialed && !explicitly_shareable(response, d, targeted) {
        return Err(NotStorable::Credentials);
    }
    if response.contains_key("set-cookie") {
        return Err(NotStorable::SetCookie);
    }
    if Vary::of(response) == Vary::Any {
        return Err(NotStorable::VaryAny);
    }
    let explicit = d.public
        || d.max_age.is_some()
        || d.s_maxage.is_some()
        || (!targeted && response.contains_key("expires"));
    if !explicit && !heuristically_cacheable(status) {
        return Err(NotStorable::NoFreshness);
    }
    Ok(())
}

/// Header fields never stored (§3.1): hop-by-hop fields, and the fields a qualified `no-cache` or
/// `private` names (a shared cache may store the rest, §5.2.2.4, §5.2.2.7).
#[must_use]
pub fn stored_headers(response: &HeaderMap, d: &ResponseDirectives) -> HeaderMap {
    let mut kept = response.clone();
    crate::forwarding::remove_hop_by_hop(&mut kept);
    for q in [&d.no_cache, &d.private] {
        if let Some(Fields::Named(names)) = q {
            for n in names {
                kept.remove(n.as_str());
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::headers as h;

    fn check(req: &[(&str, &str)], status: u16, resp: &[(&str, &str)]) -> Result<(), NotStorable> {
        let (rq, rs) = (h(req), h(resp));
        let (d, targeted) = ResponseDirectives::for_shared_cache(&rs);
        storable(
            &Method::GET,
            &rq,
            &RequestDirectives::from_request(&rq),
            StatusCode::from_u16(status).expect("status"),
            &rs,
            &d,
            targeted,
            crate::credentials::CredentialRules::default().carries(&rq),
        )
    }

    #[test]
    fn section_3_what_a_shared_cache_stores() {
        assert_eq!(check(&[], 200, &[("cache-control", "max-age=60")]), Ok(()));
        // Heuristically cacheable statuses need no explicit freshness; others do.
        assert_eq!(check(&[], 200, &[]), Ok(()));
        assert_eq!(check(&[], 404, &[]), Ok(()));
        assert_eq!(check(&[], 302, &[]), Err(NotStorable::NoFreshness));
        assert_eq!(check(&[], 302, &[("cache-control", "max-age=5")]), Ok(()));
        assert_eq!(
            check(&[], 500, &[("expires", "Thu, 01 Jan 2099 00:00:00 GMT")]),
            Ok(())
        );
        assert_eq!(
            check(&[], 206, &[("cache-control", "max-age=5")]),
            Err(NotStorable::Status)
        );
        assert_eq!(check(&[], 304, &[]), Err(NotStorable::Status));
        let rq = HeaderMap::new();
        let d = ResponseDirectives::parse("max-age=60");
        assert_eq!(
            storable(
                &Method::POST,
                &rq,
                &RequestDirectives::default(),
                StatusCode::OK,
                &rq,
                &d,
                false,
                false
            ),
            Err(NotStorable::Method)
        );
    }

    #[test]
    fn section_5_2_no_store_and_private() {
        assert_eq!(
            check(&[], 200, &[("cache-control", "no-store, max-age=5")]),
            Err(NotStorable::NoStore)
        );
        assert_eq!(
            check(&[("cache-control", "no-store")], 200, &[]),
            Err(NotStorable::NoStore)
        );
        assert_eq!(
            check(&[], 200, &[("cache-control", "private, max-age=5")]),
            Err(NotStorable::Private)
        );
        // The qualified form only keeps the named fields out.
        assert_eq!(
            check(
                &[],
                200,
                &[("cache-control", "private=\"x-user\", max-age=5")]
            ),
            Ok(())
        );
        let rs = h(&[
            ("cache-control", "private=\"x-user\", no-cache=\"x-token\""),
            ("x-user", "a"),
            ("x-token", "b"),
            ("x-other", "c"),
        ]);
        let kept = stored_headers(
            &rs,
            &ResponseDirectives::parse("private=\"x-user\", no-cache=\"x-token\""),
        );
        assert!(kept.get("x-user").is_none() && kept.get("x-token").is_none());
        assert_eq!(
            kept.get("x-other").map(http::HeaderValue::as_bytes),
            Some(&b"c"[..])
        );
    }

    #[test]
    fn section_5_2_2_3_must_understand_overrides_no_store() {
        assert_eq!(
            check(
                &[],
                200,
                &[("cache-control", "must-understand, no-store, max-age=5")]
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &[],
                299,
                &[("cache-control", "must-understand, no-store, max-age=5")]
            ),
            Err(NotStorable::Status)
        );
    }

    #[test]
    fn section_3_5_authorization() {
        let auth = [("authorization", "Bearer x")];
        assert_eq!(
            check(&auth, 200, &[("cache-control", "max-age=60")]),
            Err(NotStorable::Authorization)
        );
        for allowed in ["public", "s-maxage=60", "must-revalidate, max-age=5"] {
            assert_eq!(
                check(&auth, 200, &[("cache-control", allowed)]),
                Ok(()),
                "{allowed}"
            );
        }
        // must-revalidate alone lets §3.5 store it, but it states no freshness: not shared.
        assert_eq!(
            check(&auth, 200, &[("cache-control", "must-revalidate")]),
            Err(NotStorable::Credentials)
        );
    }

    #[test]
    fn a_personal_page_behind_a_cookie_is_stored_only_when_the_app_says_so() {
        let cookie = [("cookie", "session=alice")];
        // Express, Flask and Rails send a logged-in page with no Cache-Control at all.
        assert_eq!(check(&cookie, 200, &[]), Err(NotStorable::Credentials));
        assert_eq!(
            check(
                &cookie,
                200,
                &[("last-modified", "Thu, 01 Jan 2020 00:00:00 GMT")]
            ),
            Err(NotStorable::Credentials)
        );
        assert_eq!(check(&cookie, 404, &[]), Err(NotStorable::Credentials));
        for explicit in ["public", "max-age=60", "s-maxage=60"] {
            assert_eq!(
                check(&cookie, 200, &[("cache-control", explicit)]),
                Ok(()),
                "{explicit}"
            );
        }
        assert_eq!(
            check(&cookie, 200, &[("cdn-cache-control", "max-age=60")]),
            Ok(())
        );
        // Without the cookie the same answer is heuristically cacheable.
        assert_eq!(check(&[], 200, &[]), Ok(()));
    }

    #[test]
    fn set_cookie_and_vary_star_are_not_stored() {
        assert_eq!(
            check(
                &[],
                200,
                &[
                    ("cache-control", "public, max-age=5"),
                    ("set-cookie", "s=1")
                ]
            ),
            Err(NotStorable::SetCookie)
        );
        assert_eq!(
            check(&[], 200, &[("cache-control", "max-age=5"), ("vary", "*")]),
            Err(NotStorable::VaryAny)
        );
    }

    #[test]
    fn rfc9213_targeted_fields_decide_storability() {
        assert_eq!(
            check(
                &[],
                200,
                &[
                    ("cache-control", "private"),
                    ("cdn-cache-control", "max-age=60")
                ]
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &[],
                200,
                &[
                    ("cache-control", "max-age=60"),
                    ("cdn-cache-control", "no-store")
                ]
            ),
            Err(NotStorable::NoStore)
        );
    }
}
