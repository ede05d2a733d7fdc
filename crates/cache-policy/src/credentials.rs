//! Requests that carry credentials, and what a shared cache may do with the answers to them.
//!
//! RFC 9111 §3.5 forbids a shared cache to store a response to a request with `Authorization`
//! unless the response allows it. It says nothing of `Cookie`; yet a page an application builds
//! from a session cookie is as personal as one built from `Authorization`, and the default of the
//! common frameworks for such a page (Express, Flask, Rails: no `Cache-Control` at all) is
//! heuristically cacheable by §4.2.2. tinycdn therefore extends §3.5 to every credential
//! (`Authorization`, `Cookie`, and the fields an operator names): the answer to such a request is
//! stored, and handed to any other request, only when the application said explicitly that a
//! shared cache may keep it ([`explicitly_shareable`]). This is Varnish's built-in policy
//! (`return (pass)` on `Cookie`), narrowed to let an application that does say `public` or
//! `max-age` be cached.
//!
//! Cookies that identify nobody (analytics: `_ga`, `_gid`) would otherwise make every request
//! credentialed; an operator can name them ([`CredentialRules::new`]) and they are stripped from
//! the request before it is keyed and forwarded, as Varnish setups do in `vcl_recv`. The risk is
//! the operator's: a cookie named there that the application does read is no longer sent to it.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use thiserror::Error;

use crate::directives::ResponseDirectives;

/// A credential rule that cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialError {
    /// `--credential-header` names no valid header field.
    #[error("{0:?} is not a header field name")]
    BadHeader(String),
    /// `--ignore-cookie` names no valid cookie name (a token, with an optional trailing `*`).
    #[error("{0:?} is not a cookie name (a token, optionally ending in `*` for a prefix)")]
    BadCookie(String),
}

/// A cookie name, or a prefix of names (`_ga_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum CookiePattern {
    Exact(String),
    Prefix(String),
}

impl CookiePattern {
    fn matches(&self, name: &[u8]) -> bool {
        match self {
            Self::Exact(n) => n.as_bytes() == name,
            Self::Prefix(p) => name.starts_with(p.as_bytes()),
        }
    }
}

/// RFC 6265 §4.1.1's `cookie-name` is an RFC 9110 token.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c))
}

/// Which request fields are credentials, and which cookies are not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialRules {
    extra: Vec<HeaderName>,
    ignored: Vec<CookiePattern>,
}

impl CredentialRules {
    /// Rules with `extra` header fields counted as credentials besides `Authorization` and
    /// `Cookie`, and the cookies `ignore` names (exact names, or prefixes ending in `*`)
    /// stripped from requests.
    ///
    /// # Errors
    /// A name that is not a header field or cookie name.
    pub fn new<S: AsRef<str>>(extra: &[S], ignore: &[S]) -> Result<Self, CredentialError> {
        let extra = extra
            .iter()
            .map(|n| {
                let n = n.as_ref().trim();
                HeaderName::from_bytes(n.as_bytes())
                    .map_err(|_| CredentialError::BadHeader(n.to_owned()))
            })
            .collect::<Result<_, _>>()?;
        let ignored = ignore
            .iter()
            .map(|c| {
                let c = c.as_ref().trim();
                match c.strip_suffix('*') {
                    Some(p) if is_token(p) && !p.contains('*') => {
                        Ok(CookiePattern::Prefix(p.to_owned()))
                    }
                    None if is_token(c) && !c.contains('*') => {
                        Ok(CookiePattern::Exact(c.to_owned()))
                    }
                    _ => Err(CredentialError::BadCookie(c.to_owned())),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { extra, ignored })
    }

    /// Whether a request carries credentials: `Authorization`, a non-empty `Cookie`, or a field
    /// the rules add.
    #[must_use]
    pub fn carries(&self, request: &HeaderMap) -> bool {
        request.contains_key(http::header::AUTHORIZATION)
            || request.get_all(http::header::COOKIE).iter().any(|v| {
                v.as_bytes()
                    .iter()
                    .any(|c| !matches!(c, b' ' | b'\t' | b';'))
            })
            || self.extra.iter().any(|n| request.contains_key(n))
    }

    /// Removes the ignored cookies from `Cookie` (every `Cookie` field joined into one, as
    /// RFC 9113 §8.2.3 does for HTTP/1.1), and the field itself when none is left.
    pub fn strip_ignored_cookies(&self, request: &mut HeaderMap) {
        if self.ignored.is_empty() || !request.contains_key(http::header::COOKIE) {
            return;
        }
        let mut kept: Vec<&[u8]> = Vec::new();
        let values: Vec<HeaderValue> = request
            .get_all(http::header::COOKIE)
            .iter()
            .cloned()
            .collect();
        for v in &values {
            for pair in v.as_bytes().split(|&c| c == b';') {
                let pair = pair.trim_ascii();
                if pair.is_empty() {
                    continue;
                }
                let name = pair
                    .split(|&c| c == b'=')
                    .next()
                    .unwrap_or(pair)
                    .trim_ascii();
                if !self.ignored.iter().any(|p| p.matches(name)) {
                    kept.push(pair);
                }
            }
        }
        request.remove(http::header::COOKIE);
        if kept.is_empty() {
            return;
        }
        if let Ok(v) = HeaderValue::from_bytes(&kept.join(&b"; "[..])) {
            request.insert(http::header::COOKIE, v);
        }
    }
}

/// Whether the application said explicitly that a shared cache may keep a response: `public`,
/// `s-maxage`, `max-age`, `Expires`, or a targeted field (`CDN-Cache-Control`,
/// `Tinycdn-Cache-Control`, RFC 9213). `d` and `targeted` are
/// [`ResponseDirectives::for_shared_cache`] of `response`.
#[must_use]
pub fn explicitly_shareable(response: &HeaderMap, d: &ResponseDirectives, targeted: bool) -> bool {
    targeted
        || d.public
        || d.s_maxage.is_some()
        || d.max_age.is_some()
        || response.contains_key(http::header::EXPIRES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers as h;

    fn shareable(resp: &[(&str, &str)]) -> bool {
        let m = h(resp);
        let (d, targeted) = ResponseDirectives::for_shared_cache(&m);
        explicitly_shareable(&m, &d, targeted)
    }

    #[test]
    fn what_counts_as_an_explicit_statement() {
        assert!(!shareable(&[]));
        assert!(!shareable(&[(
            "last-modified",
            "Thu, 01 Jan 2020 00:00:00 GMT"
        )]));
        assert!(!shareable(&[("cache-control", "must-revalidate")]));
        assert!(!shareable(&[("cache-control", "no-cache")]));
        assert!(shareable(&[("cache-control", "public")]));
        assert!(shareable(&[("cache-control", "max-age=0")]));
        assert!(shareable(&[("cache-control", "s-maxage=60")]));
        assert!(shareable(&[("expires", "Thu, 01 Jan 2099 00:00:00 GMT")]));
        assert!(shareable(&[("cdn-cache-control", "max-age=60")]));
    }

    #[test]
    fn credentials_are_authorization_cookies_and_named_fields() {
        let r = CredentialRules::new(&["X-Api-Key"], &[]).expect("rules");
        assert!(!r.carries(&h(&[("accept", "*/*")])));
        assert!(r.carries(&h(&[("authorization", "Bearer x")])));
        assert!(r.carries(&h(&[("cookie", "session=alice")])));
        assert!(!r.carries(&h(&[("cookie", " ; ")])));
        assert!(r.carries(&h(&[("x-api-key", "k")])));
        assert!(!CredentialRules::default().carries(&h(&[("x-api-key", "k")])));
    }

    #[test]
    fn ignored_cookies_are_stripped_and_the_rest_kept() {
        let r = CredentialRules::new::<&str>(&[], &["_ga", "_gid", "_ga_*"]).expect("rules");
        let mut m = h(&[("cookie", "_ga=1; _gid=2;_ga_XYZ=3")]);
        r.strip_ignored_cookies(&mut m);
        assert!(!m.contains_key("cookie"));
        assert!(!r.carries(&m));
        let mut m = h(&[
            ("cookie", "_ga=1; session=alice"),
            ("cookie", "_gid=2; b=3"),
        ]);
        r.strip_ignored_cookies(&mut m);
        assert_eq!(m["cookie"], "session=alice; b=3");
        assert!(r.carries(&m));
        // A name that merely starts like an exact one is kept.
        let mut m = h(&[("cookie", "_gax=1")]);
        r.strip_ignored_cookies(&mut m);
        assert_eq!(m["cookie"], "_gax=1");
    }

    #[test]
    fn bad_names_are_refused() {
        assert_eq!(
            CredentialRules::new(&["bad header"], &[]),
            Err(CredentialError::BadHeader("bad header".into()))
        );
        for bad in ["", "*", "a*b", "a b", "a=b"] {
            assert!(CredentialRules::new::<&str>(&[], &[bad]).is_err(), "{bad}");
        }
    }
}
