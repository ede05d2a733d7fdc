//! Which site a request's host belongs to: exact names, `*.example.com` wildcards and the
//! default site (`*`), as nginx's `server_name` matches (exact first, then the longest
//! wildcard, then the default).

use std::collections::HashMap;

/// One entry of a site's `hosts`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// One host name (`shop.example`).
    Exact(String),
    /// Every name below a domain (`*.shop.example`: `a.shop.example`, `a.b.shop.example`; not
    /// `shop.example` itself). Holds the suffix with its leading dot (`.shop.example`).
    Below(String),
    /// The default site: every host no other site names.
    Any,
}

impl HostPattern {
    /// Parses one `hosts` entry: lower-case letters, digits, `-` and `.`, optionally behind
    /// `*.`; or `*` alone.
    ///
    /// # Errors
    /// Why the entry is not a host name.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text == "*" {
            return Ok(Self::Any);
        }
        let (wild, name) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if !is_host_name(name) {
            return Err(format!(
                "{text:?} is not a host name (lower-case letters, digits, '-' and '.', no port; `*.example.com` for every name below a domain, `*` for the default site)"
            ));
        }
        Ok(if wild {
            Self::Below(format!(".{name}"))
        } else {
            Self::Exact(name.to_owned())
        })
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(h) => f.write_str(h),
            Self::Below(s) => write!(f, "*{s}"),
            Self::Any => f.write_str("*"),
        }
    }
}

/// A DNS name as a `Host` may carry it, in lower case: labels of 1 to 63 letters, digits and
/// `-` (not at either end), 253 bytes at most.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// The lower-case host name of a `Host` field or URI authority: the port and a trailing dot
/// removed; `None` when it is not a host name (an IP literal in brackets is kept whole).
#[must_use]
pub fn host_of(field: &str) -> Option<String> {
    let field = field.trim();
    let name = if field.starts_with('[') {
        // An IPv6 literal: only the default site can take it.
        return Some(field.split(']').next()?.to_owned() + "]");
    } else {
        field.rsplit_once(':').map_or(field, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                field
            }
        })
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    is_host_name(&name).then_some(name)
}

/// Values found by host: exact names, wildcards (longest first) and a default.
#[derive(Debug, Clone)]
pub struct HostTable<T> {
    exact: HashMap<String, T>,
    /// `(suffix with its leading dot, value)`, the longest suffix first.
    below: Vec<(String, T)>,
    any: Option<T>,
}

impl<T> Default for HostTable<T> {
    fn default() -> Self {
        Self {
            exact: HashMap::new(),
            below: Vec::new(),
            any: None,
        }
    }
}

impl<T: Clone> HostTable<T> {
    /// Adds `pattern` for `value`.
    ///
    /// # Errors
    /// The pattern, when another value already has it.
    pub fn insert(&mut self, pattern: &HostPattern, value: T) -> Result<(), HostPattern> {
        let taken = match pattern {
            HostPattern::Exact(h) => self.exact.insert(h.clone(), value).is_some(),
            HostPattern::Below(s) => {
                if self.below.iter().any(|(b, _)| b == s) {
                    true
                } else {
                    self.below.push((s.clone(), value));
                    self.below.sort_by_key(|(b, _)| std::cmp::Reverse(b.len()));
                    false
                }
            }
            HostPattern::Any => self.any.replace(value).is_some(),
        };
        if taken {
            Err(pattern.clone())
        } else {
            Ok(())
        }
    }

    /// The value for `host` (already [`host_of`]-normalised; `None`: a request without a
    /// host name, which only the default site takes).
    #[must_use]
    pub fn get(&self, host: Option<&str>) -> Option<&T> {
        let Some(host) = host else {
            return self.any.as_ref();
        };
        if let Some(v) = self.exact.get(host) {
            return Some(v);
        }
        self.below
            .iter()
            .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
            .map(|(_, v)| v)
            .or(self.any.as_ref())
    }

    /// The value with exactly the name `host`.
    #[must_use]
    pub fn get_exact(&self, host: &str) -> Option<&T> {
        self.exact.get(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(entries: &[(&str, u8)]) -> HostTable<u8> {
        let mut t = HostTable::default();
        for (p, v) in entries {
            t.insert(&HostPattern::parse(p).expect("pattern"), *v)
                .expect("new");
        }
        t
    }

    #[test]
    fn exact_then_longest_wildcard_then_default() {
        let t = table(&[
            ("shop.example", 1),
            ("*.shop.example", 2),
            ("*.eu.shop.example", 3),
            ("*", 9),
        ]);
        assert_eq!(t.get(Some("shop.example")), Some(&1));
        assert_eq!(t.get(Some("a.shop.example")), Some(&2));
        assert_eq!(t.get(Some("a.eu.shop.example")), Some(&3));
        assert_eq!(t.get(Some("eu.shop.example")), Some(&2));
        assert_eq!(t.get(Some("xshop.example")), Some(&9));
        assert_eq!(t.get(Some("other.example")), Some(&9));
        assert_eq!(t.get(None), Some(&9));
        let no_default = table(&[("shop.example", 1)]);
        assert_eq!(no_default.get(Some("other.example")), None);
        assert_eq!(no_default.get(None), None);
    }

    #[test]
    fn a_pattern_twice_is_refused() {
        let mut t = table(&[("shop.example", 1), ("*.shop.example", 2), ("*", 3)]);
        for p in ["shop.example", "*.shop.example", "*"] {
            assert_eq!(
                t.insert(&HostPattern::parse(p).expect("pattern"), 4),
                Err(HostPattern::parse(p).expect("pattern"))
            );
        }
    }

    #[test]
    fn patterns_parse_strictly() {
        for bad in [
            "",
            "Shop.example",
            "shop.example:8080",
            "*shop.example",
            "**.x",
            "a..b",
            "-a.b",
            "a_b.c",
            "*.*",
            "shop.example.",
            "http://x",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            HostPattern::parse("*.a.b").expect("pattern"),
            HostPattern::Below(".a.b".into())
        );
        assert_eq!(
            HostPattern::parse("*.a.b").expect("pattern").to_string(),
            "*.a.b".to_owned()
        );
    }

    #[test]
    fn host_fields_normalise() {
        assert_eq!(
            host_of("Shop.Example:8080").as_deref(),
            Some("shop.example")
        );
        assert_eq!(host_of("shop.example.").as_deref(), Some("shop.example"));
        assert_eq!(host_of("[::1]:8080").as_deref(), Some("[::1]"));
        assert_eq!(host_of("127.0.0.1:80").as_deref(), Some("127.0.0.1"));
        assert_eq!(host_of("a b"), None);
        assert_eq!(host_of(""), None);
    }

    proptest! {
        /// Whatever the host, the answer is the exact entry, else a wildcard that is a proper
        /// suffix (the longest), else the default: never a site that does not name it.
        #[test]
        fn lookup_never_crosses_sites(host in "[a-c]{1,2}(\\.[a-c]{1,2}){0,3}") {
            let t = table(&[("a.b", 1), ("*.b", 2), ("*.a.b", 3), ("c", 4)]);
            let got = t.get(Some(&host)).copied();
            let want = if host == "a.b" {
                Some(1)
            } else if host == "c" {
                Some(4)
            } else if host.ends_with(".a.b") {
                Some(3)
            } else if host.ends_with(".b") {
                Some(2)
            } else {
                None
            };
            prop_assert_eq!(got, want);
        }

        #[test]
        fn host_of_never_panics(field in "\\PC{0,40}") {
            if let Some(h) = host_of(&field) {
                prop_assert!(!h.contains(':') || h.starts_with('['));
            }
        }
    }
}
