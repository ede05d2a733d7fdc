//! Cache directives (RFC 9111 §5.2, RFC 5861) from `Cache-Control`, and from targeted fields
//! (RFC 9213: `Tinycdn-Cache-Control`, then `CDN-Cache-Control`), which are Structured Field
//! Dictionaries.
//!
//! Parsing is forgiving where the RFC asks it to be and strict where a mistake would keep content
//! too long: a directive that is not understood is ignored; an argument that is not a valid
//! `delta-seconds` makes the response stale (§4.2.1: "invalid freshness information … stale");
//! when a directive repeats, the first occurrence counts (§4.2.1); a value larger than 2^31 is
//! taken as 2^31 (§1.2.2).

use http::header::{HeaderMap, HeaderName};

/// The largest `delta-seconds` value kept (§1.2.2).
pub const DELTA_SECONDS_MAX: u64 = 2_147_483_648;

/// `Tinycdn-Cache-Control`: directives for tinycdn alone (RFC 9213 targeted field).
pub const TINYCDN_CACHE_CONTROL: &str = "tinycdn-cache-control";
/// `CDN-Cache-Control`: directives for every CDN cache (RFC 9213 §3).
pub const CDN_CACHE_CONTROL: &str = "cdn-cache-control";

/// The fields a qualified `no-cache="…"` or `private="…"` names, or all of the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fields {
    /// The unqualified form: the whole response.
    All,
    /// The qualified form: only these header fields (lowercased).
    Named(Vec<String>),
}

/// Response directives that matter to a shared cache.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseDirectives {
    /// `max-age` (§5.2.2.1).
    pub max_age: Option<u64>,
    /// `s-maxage` (§5.2.2.10).
    pub s_maxage: Option<u64>,
    /// `no-store` (§5.2.2.5).
    pub no_store: bool,
    /// `no-cache` (§5.2.2.4).
    pub no_cache: Option<Fields>,
    /// `private` (§5.2.2.7).
    pub private: Option<Fields>,
    /// `public` (§5.2.2.9).
    pub public: bool,
    /// `must-revalidate` (§5.2.2.2).
    pub must_revalidate: bool,
    /// `proxy-revalidate` (§5.2.2.8).
    pub proxy_revalidate: bool,
    /// `must-understand` (§5.2.2.3).
    pub must_understand: bool,
    /// `no-transform` (§5.2.2.6).
    pub no_transform: bool,
    /// `immutable` (RFC 8246).
    pub immutable: bool,
    /// `stale-while-revalidate` (RFC 5861 §3).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error` (RFC 5861 §4).
    pub stale_if_error: Option<u64>,
}

/// Request directives (§5.2.1, RFC 5861 §4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestDirectives {
    /// `max-age`: the client accepts no response older than this.
    pub max_age: Option<u64>,
    /// `max-stale`: `Some(None)` accepts any staleness, `Some(Some(n))` up to n seconds.
    pub max_stale: Option<Option<u64>>,
    /// `min-fresh`: the response must stay fresh at least this long.
    pub min_fresh: Option<u64>,
    /// `no-cache` (or `Pragma: no-cache` without `Cache-Control`): validate before reuse.
    pub no_cache: bool,
    /// `no-store`: store nothing of this exchange.
    pub no_store: bool,
    /// `only-if-cached`: answer from the cache or with 504.
    pub only_if_cached: bool,
    /// `stale-if-error`: the client accepts a stale response this old when the origin fails.
    pub stale_if_error: Option<u64>,
}

/// One directive as written: its lowercased name, its argument, and whether it parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    name: String,
    value: Option<String>,
    valid: bool,
}

/// Every line of a field joined as one list (RFC 9110 §5.3); lines that are not visible ASCII
/// are left out.
#[must_use]
pub fn field_value(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut joined: Option<String> = None;
    for v in headers.get_all(name) {
        let Ok(s) = v.to_str() else { continue };
        match &mut joined {
            Some(j) => {
                j.push_str(", ");
                j.push_str(s);
            }
            None => joined = Some(s.to_owned()),
        }
    }
    joined
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Splits a list at commas outside quoted strings.
fn split_list(value: &str) -> Vec<&str> {
    let bytes = value.as_bytes();
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, &c) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && c == b'\\' {
            escaped = true;
        } else if c == b'"' {
            quoted = !quoted;
        } else if c == b',' && !quoted {
            parts.push(&value[start..i]);
            start = i + 1;
        }
    }
    parts.push(&value[start..]);
    parts
}

/// A quoted-string's content, unescaped; `None` if it is not one.
fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// `Cache-Control`'s syntax (§5.2): `token [ "=" ( token / quoted-string ) ]`, comma-separated.
fn parse_cache_control(value: &str) -> Vec<Member> {
    split_list(value)
        .into_iter()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| {
            let (name, arg) = match m.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim())),
                None => (m, None),
            };
            let name_ok = !name.is_empty() && name.bytes().all(is_tchar);
            let (value, value_ok) = match arg {
                None => (None, true),
                Some(a) if a.starts_with('"') => match unquote(a) {
                    Some(v) => (Some(v), true),
                    None => (None, false),
                },
                Some(a) => (Some(a.to_owned()), !a.is_empty() && a.bytes().all(is_tchar)),
            };
            Member {
                name: name.to_ascii_lowercase(),
                value,
                valid: name_ok && value_ok,
            }
        })
        .collect()
}

/// A targeted field's syntax (RFC 9213 §2.1): a Structured Field Dictionary. `None` when it does
/// not parse or is empty, so that the next field is used (§2.2).
fn parse_targeted(value: &str) -> Option<Vec<Member>> {
    let dict: sfv::Dictionary = sfv::Parser::new(value).parse().ok()?;
    if dict.is_empty() {
        return None;
    }
    let members = dict
        .iter()
        .filter_map(|(key, entry)| {
            let name = key.as_str().to_owned();
            let sfv::ListEntry::Item(item) = entry else {
                return Some(Member {
                    name,
                    value: None,
                    valid: false,
                });
            };
            let (value, valid) = match &item.bare_item {
                sfv::BareItem::Boolean(true) => (None, true),
                // `?0` says the directive is not there.
                sfv::BareItem::Boolean(false) => return None,
                sfv::BareItem::Integer(n) => {
                    let n = i64::from(*n);
                    (Some(n.to_string()), n >= 0)
                }
                sfv::BareItem::String(s) => (Some(s.as_str().to_owned()), true),
                sfv::BareItem::Token(t) => (Some(t.as_str().to_owned()), true),
                _ => (None, false),
            };
            Some(Member { name, value, valid })
        })
        .collect();
    Some(members)
}

/// `delta-seconds` (§1.2.2): digits only, capped at 2^31; `None` when invalid.
#[must_use]
pub fn delta_seconds(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(
        s.parse::<u64>()
            .map_or(DELTA_SECONDS_MAX, |n| n.min(DELTA_SECONDS_MAX)),
    )
}

/// A seconds argument: invalid or missing counts as 0, which makes the response stale.
fn seconds(m: &Member) -> u64 {
    if !m.valid {
        return 0;
    }
    m.value.as_deref().and_then(delta_seconds).unwrap_or(0)
}

/// The field names of a qualified `no-cache` or `private`.
fn fields(m: &Member) -> Fields {
    match &m.value {
        None => Fields::All,
        Some(v) => Fields::Named(
            v.split(',')
                .map(|f| f.trim().to_ascii_lowercase())
                .filter(|f| !f.is_empty() && HeaderName::from_bytes(f.as_bytes()).is_ok())
                .collect(),
        ),
    }
}

fn first<T>(slot: &mut Option<T>, v: impl FnOnce() -> T) {
    if slot.is_none() {
        *slot = Some(v());
    }
}

impl ResponseDirectives {
    fn from_members(members: &[Member]) -> Self {
        let mut d = Self::default();
        for m in members {
            match m.name.as_str() {
                "max-age" => first(&mut d.max_age, || seconds(m)),
                "s-maxage" => first(&mut d.s_maxage, || seconds(m)),
                "stale-while-revalidate" => first(&mut d.stale_while_revalidate, || seconds(m)),
                "stale-if-error" => first(&mut d.stale_if_error, || seconds(m)),
                "no-store" => d.no_store = true,
                "no-cache" => first(&mut d.no_cache, || fields(m)),
                "private" => first(&mut d.private, || fields(m)),
                "public" => d.public = true,
                "must-revalidate" => d.must_revalidate = true,
                "proxy-revalidate" => d.proxy_revalidate = true,
                "must-understand" => d.must_understand = true,
                "no-transform" => d.no_transform = true,
                "immutable" => d.immutable = true,
                _ => {}
            }
        }
        d
    }

    /// The directives of a `Cache-Control` value.
    #[must_use]
    pub fn parse(value: &str) -> Self {
        Self::from_members(&parse_cache_control(value))
    }

    /// The directives a shared cache obeys for this response, and whether they came from a
    /// targeted field (RFC 9213 §2.2: the first of `Tinycdn-Cache-Control` and
    /// `CDN-Cache-Control` that parses and is not empty; then `Cache-Control` and `Expires` are
    /// ignored for this cache).
    #[must_use]
    pub fn for_shared_cache(headers: &HeaderMap) -> (Self, bool) {
        for name in [TINYCDN_CACHE_CONTROL, CDN_CACHE_CONTROL] {
            if let Some(members) = field_value(headers, name).and_then(|v| parse_targeted(&v)) {
                return (Self::from_members(&members), true);
            }
        }
        let d =
            field_value(headers, "cache-control").map_or_else(Self::default, |v| Self::parse(&v));
        (d, false)
    }

    /// Whether a stale response may never be served without validation (§4.2.4): `no-cache`,
    /// `must-revalidate` or `proxy-revalidate`. (`s-maxage` implies `proxy-revalidate`, §5.2.2.10,
    /// unless the origin also grants `stale-while-revalidate` or `stale-if-error` explicitly; see
    /// [`crate::reuse`].)
    #[must_use]
    pub fn forbids_stale(&self) -> bool {
        self.no_cache == Some(Fields::All) || self.must_revalidate || self.proxy_revalidate
    }
}

impl RequestDirectives {
    /// The directives of a request's `Cache-Control`, or `Pragma: no-cache` when it has none
    /// (§5.4).
    #[must_use]
    pub fn from_request(headers: &HeaderMap) -> Self {
        let Some(value) = field_value(headers, "cache-control") else {
            let pragma = field_value(headers, "pragma").unwrap_or_default();
            return Self {
                no_cache: pragma
                    .split(',')
                    .any(|p| p.trim().eq_ignore_ascii_case("no-cache")),
                ..Self::default()
            };
        };
        let mut d = Self::default();
        for m in parse_cache_control(&value) {
            let secs = || m.value.as_deref().and_then(delta_seconds);
            match m.name.as_str() {
                // An invalid max-age asks for a response no older than 0: validate.
                "max-age" => first(&mut d.max_age, || secs().unwrap_or(0)),
                "max-stale" => first(&mut d.max_stale, || {
                    m.value.as_ref().map(|_| secs().unwrap_or(0))
                }),
                "min-fresh" => first(&mut d.min_fresh, || secs().unwrap_or(0)),
                "stale-if-error" => first(&mut d.stale_if_error, || secs().unwrap_or(0)),
                "no-cache" => d.no_cache = true,
                "no-store" => d.no_store = true,
                "only-if-cached" => d.only_if_cached = true,
                _ => {}
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    use crate::headers;

    #[test]
    fn section_5_2_syntax_tokens_quoted_strings_and_case() {
        let d = ResponseDirectives::parse(
            r#"Public, MAX-AGE=60, s-maxage="120", no-cache="Set-Cookie, X-Foo", x-ext="a,b""#,
        );
        assert!(d.public);
        assert_eq!(d.max_age, Some(60));
        assert_eq!(d.s_maxage, Some(120));
        assert_eq!(
            d.no_cache,
            Some(Fields::Named(vec!["set-cookie".into(), "x-foo".into()]))
        );
        assert!(!d.no_store);
    }

    #[test]
    fn section_4_2_1_invalid_or_repeated_freshness() {
        // Invalid arguments make the response stale; the first of repeated directives counts.
        assert_eq!(ResponseDirectives::parse("max-age=ten").max_age, Some(0));
        assert_eq!(ResponseDirectives::parse("max-age").max_age, Some(0));
        assert_eq!(ResponseDirectives::parse("max-age=-1").max_age, Some(0));
        assert_eq!(
            ResponseDirectives::parse("max-age=5, max-age=600").max_age,
            Some(5)
        );
        assert_eq!(
            ResponseDirectives::parse(r#"max-age="5"#).max_age,
            Some(0),
            "an unterminated quoted string is invalid"
        );
    }

    #[test]
    fn section_1_2_2_delta_seconds_overflow() {
        assert_eq!(
            delta_seconds("99999999999999999999999"),
            Some(DELTA_SECONDS_MAX)
        );
        assert_eq!(delta_seconds("3000000000"), Some(DELTA_SECONDS_MAX));
        assert_eq!(delta_seconds("0"), Some(0));
        assert_eq!(delta_seconds(""), None);
        assert_eq!(delta_seconds("+5"), None);
    }

    #[test]
    fn field_lines_are_joined() {
        let h = headers(&[("cache-control", "public"), ("cache-control", "max-age=9")]);
        let (d, targeted) = ResponseDirectives::for_shared_cache(&h);
        assert!(!targeted);
        assert!(d.public);
        assert_eq!(d.max_age, Some(9));
    }

    #[test]
    fn rfc9213_section_2_2_targeted_fields_take_precedence() {
        let h = headers(&[
            ("cache-control", "no-store"),
            ("cdn-cache-control", "max-age=600, stale-if-error=30"),
        ]);
        let (d, targeted) = ResponseDirectives::for_shared_cache(&h);
        assert!(targeted);
        assert!(!d.no_store);
        assert_eq!(d.max_age, Some(600));
        assert_eq!(d.stale_if_error, Some(30));
        // Our own targeted field comes first.
        let h = headers(&[
            ("cdn-cache-control", "max-age=600"),
            ("tinycdn-cache-control", "no-store"),
        ]);
        assert!(ResponseDirectives::for_shared_cache(&h).0.no_store);
        // A targeted field that is not a valid Dictionary, or empty, is ignored.
        for bad in ["max-age=\"x", "MAX-AGE=5", ""] {
            let h = headers(&[("cache-control", "max-age=7"), ("cdn-cache-control", bad)]);
            let (d, targeted) = ResponseDirectives::for_shared_cache(&h);
            assert!(!targeted, "{bad:?}");
            assert_eq!(d.max_age, Some(7));
        }
        // Booleans and strings map as the RFC says; ?0 is absent; a negative integer is invalid.
        let h = headers(&[(
            "cdn-cache-control",
            r#"no-cache="set-cookie", public=?0, max-age=-3"#,
        )]);
        let (d, _) = ResponseDirectives::for_shared_cache(&h);
        assert_eq!(d.no_cache, Some(Fields::Named(vec!["set-cookie".into()])));
        assert!(!d.public);
        assert_eq!(d.max_age, Some(0));
    }

    #[test]
    fn section_5_2_1_request_directives_and_section_5_4_pragma() {
        let r = RequestDirectives::from_request(&headers(&[(
            "cache-control",
            "max-age=0, max-stale, min-fresh=5, only-if-cached",
        )]));
        assert_eq!(r.max_age, Some(0));
        assert_eq!(r.max_stale, Some(None));
        assert_eq!(r.min_fresh, Some(5));
        assert!(r.only_if_cached);
        let r = RequestDirectives::from_request(&headers(&[("cache-control", "max-stale=30")]));
        assert_eq!(r.max_stale, Some(Some(30)));
        assert!(RequestDirectives::from_request(&headers(&[("pragma", "no-cache")])).no_cache);
        // Pragma is ignored when Cache-Control is present.
        let r = RequestDirectives::from_request(&headers(&[
            ("pragma", "no-cache"),
            ("cache-control", "max-stale"),
        ]));
        assert!(!r.no_cache);
    }

    #[test]
    fn section_4_2_4_what_forbids_stale() {
        assert!(ResponseDirectives::parse("no-cache").forbids_stale());
        assert!(ResponseDirectives::parse("must-revalidate").forbids_stale());
        assert!(ResponseDirectives::parse("proxy-revalidate").forbids_stale());
        assert!(!ResponseDirectives::parse("no-cache=\"set-cookie\"").forbids_stale());
        assert!(!ResponseDirectives::parse("max-age=5").forbids_stale());
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,200}") {
            let _ = ResponseDirectives::parse(&s);
            let _ = parse_targeted(&s);
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(&s) {
                h.insert("cache-control", v.clone());
                h.insert("cdn-cache-control", v);
            }
            let _ = ResponseDirectives::for_shared_cache(&h);
            let _ = RequestDirectives::from_request(&h);
        }
    }
}
