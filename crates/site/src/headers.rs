//! The `_headers` file, as Cloudflare Pages reads it: a path pattern on a line of its own, then
//! indented `Name: value` lines for it and `! Name` lines that remove a header an earlier
//! (wider) rule set. Every rule whose pattern matches applies, in file order; a header set twice
//! is joined with `, `. Values may use the pattern's captures (`:splat`, `:name`).
//!
//! Strict: a problem is an error naming its line. Refused: more than 100 rules or lines over
//! 2,000 characters (Cloudflare's limits), a header line before any pattern, a pattern with no
//! header, names that are not HTTP tokens, values with control characters (CR/LF injection) or
//! non-ASCII bytes, captures a pattern lacks, and headers the server itself owns (framing,
//! hop-by-hop, and the validators it computes from the verified bytes).

use crate::pattern::{expand, tokens, Pattern, PatternError};

/// Rules at most.
pub const MAX_RULES: usize = 100;
/// Characters per line at most.
pub const MAX_LINE: usize = 2000;

/// Headers a site may not set: the server frames, encodes and validates responses itself.
const OWNED: [&str; 12] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "content-range",
    "content-encoding",
    "etag",
    "last-modified",
];

/// Why a `_headers` file was refused; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadersError {
    /// The line cannot be read.
    #[error("_headers line {line}: {why}")]
    Line {
        /// Where.
        line: usize,
        /// Why.
        why: String,
    },
    /// A pattern is refused.
    #[error("_headers line {line}: {source}")]
    Pattern {
        /// Where.
        line: usize,
        /// Why.
        source: PatternError,
    },
    /// Too many rules.
    #[error("_headers: {0} rules, more than the {MAX_RULES} allowed")]
    TooMany(usize),
}

/// One header line of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set (or append to) a header; the name in lower case.
    Set(String, String),
    /// Remove a header an earlier rule set.
    Detach(String),
}

/// One rule: a pattern and its header lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRule {
    /// Its pattern's line.
    pub line: usize,
    /// The pattern.
    pub pattern: Pattern,
    /// Its header lines, in order.
    pub ops: Vec<Op>,
}

/// A parsed `_headers` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderRules {
    rules: Vec<HeaderRule>,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl HeaderRules {
    /// Parses `text`.
    ///
    /// # Errors
    /// See [`HeadersError`]; the first problem found.
    pub fn parse(text: &str) -> Result<Self, HeadersError> {
        let mut rules: Vec<HeaderRule> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let bad = |why: String| HeadersError::Line { line, why };
            if raw.chars().count() > MAX_LINE {
                return Err(bad(format!("longer than {MAX_LINE} characters")));
            }
            if let Some(c) = raw.chars().find(|c| c.is_control() && *c != '\t') {
                return Err(bad(format!("control character {c:?} (header injection?)")));
            }
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let indented = raw.starts_with([' ', '\t']);
            if !indented {
                if let Some(prev) = rules.last().filter(|r| r.ops.is_empty()) {
                    return Err(HeadersError::Line {
                        line: prev.line,
                        why: format!("pattern {} has no header lines", prev.pattern.as_str()),
                    });
                }
                if t.contains("://") {
                    return Err(bad(
                        "host-level patterns are not supported: each host is its own --site".into(),
                    ));
                }
                let pattern =
                    Pattern::parse(t).map_err(|e| HeadersError::Pattern { line, source: e })?;
                rules.push(HeaderRule {
                    line,
                    pattern,
                    ops: Vec::new(),
                });
                if rules.len() > MAX_RULES {
                    return Err(HeadersError::TooMany(rules.len()));
                }
                continue;
            }
            let Some(rule) = rules.last_mut() else {
                return Err(bad("a header line before any path pattern".into()));
            };
            let op = if let Some(name) = t.strip_prefix('!') {
                Op::Detach(Self::name(name.trim(), &bad)?)
            } else {
                let Some((name, value)) = t.split_once(':') else {
                    return Err(bad(format!("{t:?} is neither `Name: value` nor `! Name`")));
                };
                let name = Self::name(name.trim_end(), &bad)?;
                let value = value.trim();
                if value.is_empty() {
                    return Err(bad(format!(
                        "{name} has no value (use `! {name}` to remove it)"
                    )));
                }
                if !value.is_ascii() {
                    return Err(bad(format!("the value of {name} is not ASCII")));
                }
                let names = rule.pattern.names();
                if let Some(missing) = tokens(value).into_iter().find(|t| {
                    !names.contains(t) && (*t == "splat" || value.contains(&format!("/:{t}")))
                }) {
                    return Err(bad(format!(
                        "the value uses :{missing}, which the pattern does not capture"
                    )));
                }
                Op::Set(name, value.to_owned())
            };
            rule.ops.push(op);
        }
        if let Some(prev) = rules.last().filter(|r| r.ops.is_empty()) {
            return Err(HeadersError::Line {
                line: prev.line,
                why: format!("pattern {} has no header lines", prev.pattern.as_str()),
            });
        }
        Ok(Self { rules })
    }

    fn name(name: &str, bad: &dyn Fn(String) -> HeadersError) -> Result<String, HeadersError> {
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(bad(format!("{name:?} is not a header name")));
        }
        let lower = name.to_ascii_lowercase();
        if OWNED.contains(&lower.as_str()) {
            return Err(bad(format!(
                "{name} is set by the server from the verified bytes; a site cannot set it"
            )));
        }
        Ok(lower)
    }

    /// The rules, in file order.
    #[must_use]
    pub fn rules(&self) -> &[HeaderRule] {
        &self.rules
    }

    /// The headers for `path`: names in lower case, in the order first set.
    #[must_use]
    pub fn headers_for(&self, path: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for rule in &self.rules {
            let Some(caps) = rule.pattern.matches(path) else {
                continue;
            };
            for op in &rule.ops {
                match op {
                    Op::Set(name, value) => {
                        let value = expand(value, &caps);
                        // A capture could carry what a value must not (a request path holds
                        // only visible ASCII, so it cannot; checked anyway).
                        if value.bytes().any(|b| b.is_ascii_control()) {
                            continue;
                        }
                        match out.iter_mut().find(|(n, _)| n == name) {
                            Some((_, v)) => {
                                v.push_str(", ");
                                v.push_str(&value);
                            }
                            None => out.push((name.clone(), value)),
                        }
                    }
                    Op::Detach(name) => out.retain(|(n, _)| n != name),
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(t: &str) -> String {
        HeaderRules::parse(t).expect_err("refused").to_string()
    }

    #[test]
    fn rules_stack_join_and_detach() {
        let h = HeaderRules::parse(
            "# every page\n/*\n  X-Frame-Options: DENY\n  Link: </style.css>; rel=preload\n\n/assets/*\n  Cache-Control: public, max-age=31536000, immutable\n  ! X-Frame-Options\n/assets/:name.js\n  Link: </assets/:name.map>; rel=alternate\n",
        )
        .expect("parses");
        assert_eq!(h.rules().len(), 3);
        assert_eq!(
            h.headers_for("/about"),
            vec![
                ("x-frame-options".to_owned(), "DENY".to_owned()),
                ("link".to_owned(), "</style.css>; rel=preload".to_owned())
            ]
        );
        let a = h.headers_for("/assets/app.js");
        assert!(!a.iter().any(|(n, _)| n == "x-frame-options"), "{a:?}");
        let link = a.iter().find(|(n, _)| n == "link").expect("link");
        assert_eq!(
            link.1,
            "</style.css>; rel=preload, </assets/app.map>; rel=alternate"
        );
    }

    #[test]
    fn strict_errors_name_the_line() {
        for (t, want) in [
            (
                "  X-A: 1\n",
                "line 1: a header line before any path pattern",
            ),
            (
                "/a\n/b\n  X-A: 1\n",
                "line 1: pattern /a has no header lines",
            ),
            (
                "/a\n  X-A: 1\n/b\n",
                "line 3: pattern /b has no header lines",
            ),
            ("/a\n  X A: 1\n", "is not a header name"),
            ("/a\n  X-A\n", "neither `Name: value`"),
            ("/a\n  X-A:\n", "has no value"),
            ("/a\n  X-A: 1\rSet-Cookie: s=1\n", "control character"),
            ("/a\n  X-A: caf\u{e9}\n", "not ASCII"),
            ("/a\n  Content-Length: 5\n", "set by the server"),
            ("/a\n  Transfer-Encoding: chunked\n", "set by the server"),
            (
                "/a\n  Link: </x/:splat>\n",
                ":splat, which the pattern does not capture",
            ),
            ("https://x.test/*\n  X-A: 1\n", "host-level"),
            ("a\n  X-A: 1\n", "must start with '/'"),
        ] {
            let e = why(t);
            assert!(e.contains(want), "{t:?}: {e}");
        }
        let many: String = (0..101).map(|i| format!("/p{i}\n  X-A: 1\n")).collect();
        assert_eq!(HeaderRules::parse(&many), Err(HeadersError::TooMany(101)));
        assert!(why(&format!("/a\n  X-A: {}\n", "v".repeat(2000))).contains("longer than"));
    }

    #[test]
    fn crlf_line_endings_are_lines() {
        let h = HeaderRules::parse("/a\r\n  X-A: 1\r\n").expect("parses");
        assert_eq!(
            h.headers_for("/a"),
            vec![("x-a".to_owned(), "1".to_owned())]
        );
    }

    #[test]
    fn a_value_with_a_colon_is_not_a_capture() {
        let h = HeaderRules::parse("/*\n  Content-Security-Policy: default-src 'self' https://cdn.example:443\n  X-Time: 12:30\n").expect("parses");
        let v = h.headers_for("/x");
        assert_eq!(v[0].1, "default-src 'self' https://cdn.example:443");
        assert_eq!(v[1].1, "12:30");
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_names_a_line_and_never_yields_a_control_byte(t in "(\\PC{0,30}\n){0,8}", path in "/[a-z/.]{0,20}") {
            if let Ok(h) = HeaderRules::parse(&t) {
                for (n, v) in h.headers_for(&path) {
                    proptest::prop_assert!(n.bytes().all(is_tchar));
                    proptest::prop_assert!(!v.bytes().any(|b| b.is_ascii_control()));
                }
            }
        }
    }
}
