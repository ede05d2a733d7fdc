//! The `_redirects` file, as Cloudflare Pages reads it: one `source destination [status]` per
//! line, `#` comments, the first matching rule applies (redirects apply whether or not a file
//! exists: a `!` after the status is accepted and changes nothing). Status 301, 302 (default),
//! 303, 307 or 308 redirect; 200 serves the destination's file in place (a rewrite); 404 serves
//! it with a 404 (Netlify's custom not-found pages).
//!
//! Strict where those services are lenient: an unreadable line is an error naming it, not a
//! line skipped. Refused: more than 2,000 static or 100 dynamic rules or lines over 1,000
//! characters (Cloudflare's limits), a source given twice, a destination using a capture its
//! source lacks, a rewrite or 404 to another host, a redirect to another host unless allowed,
//! a rule redirecting to itself, and chains that loop or run past 16 hops. Netlify's conditions
//! (`Country=`, `Role=`), query matching and proxying to other hosts are not supported, and say so.

use crate::pattern::{expand, tokens, Captures, Pattern, PatternError};

/// Static rules at most (Cloudflare Pages).
pub const MAX_STATIC: usize = 2000;
/// Dynamic rules (with a splat or placeholder) at most.
pub const MAX_DYNAMIC: usize = 100;
/// Characters per line at most.
pub const MAX_LINE: usize = 1000;
/// Hops a chain of rules may take.
pub const MAX_HOPS: usize = 16;

/// Why a `_redirects` file was refused; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectsError {
    /// The line cannot be read as a rule.
    #[error("_redirects line {line}: {why}")]
    Line {
        /// Where.
        line: usize,
        /// Why.
        why: String,
    },
    /// Its source pattern is refused.
    #[error("_redirects line {line}: {source}")]
    Pattern {
        /// Where.
        line: usize,
        /// Why.
        source: PatternError,
    },
    /// Too many rules.
    #[error("_redirects: {count} {kind} rules, more than the {max} allowed")]
    TooMany {
        /// Static or dynamic.
        kind: &'static str,
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Following the rules from a path comes back to it, or never ends.
    #[error("_redirects line {line}: {path} loops: {chain}")]
    Loop {
        /// The rule the chain starts at.
        line: usize,
        /// The path it starts from.
        path: String,
        /// The paths visited.
        chain: String,
    },
}

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A redirect with this status (301, 302, 303, 307, 308).
    Redirect(u16),
    /// Serve the destination's file at the source's URL (status 200).
    Rewrite,
    /// Serve the destination's file with a 404.
    NotFound,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Its line in the file.
    pub line: usize,
    /// The source pattern.
    pub source: Pattern,
    /// The destination as written (`:name` and `:splat` filled from the source's captures).
    pub destination: String,
    /// What it does.
    pub action: Action,
}

/// The outcome of matching a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    /// The rule.
    pub rule: &'a Rule,
    /// The destination filled in.
    pub to: String,
}

/// A parsed `_redirects` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redirects {
    rules: Vec<Rule>,
}

/// The host of an absolute destination (`https://host/...`, `//host/...`), if it is one.
fn external_host(dest: &str) -> Option<&str> {
    let rest = dest
        .strip_prefix("https://")
        .or_else(|| dest.strip_prefix("http://"))
        .or_else(|| dest.strip_prefix("//"))?;
    Some(rest.split(['/', '?', '#']).next().unwrap_or(rest))
}

fn path_of(dest: &str) -> &str {
    dest.split(['?', '#']).next().unwrap_or(dest)
}

impl Redirects {
    /// Parses `text`; `allow_external` lets redirects (never rewrites) go to other hosts.
    ///
    /// # Errors
    /// See [`RedirectsError`]; the first problem found.
    pub fn parse(text: &str, allow_external: bool) -> Result<Self, RedirectsError> {
        let mut rules: Vec<Rule> = Vec::new();
        let (mut statics, mut dynamics) = (0, 0);
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let bad = |why: String| RedirectsError::Line { line, why };
            if raw.chars().count() > MAX_LINE {
                return Err(bad(format!("longer than {MAX_LINE} characters")));
            }
            if let Some(c) = raw.chars().find(|c| c.is_control() && *c != '\t') {
                return Err(bad(format!("control character {:?}", c)));
            }
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = t.split_whitespace().collect();
            if fields
                .iter()
                .skip(1)
                .any(|f| f.contains('=') && !f.starts_with('/') && !f.contains("://"))
            {
                return Err(bad(
                    "conditions and query matching (Country=, Language=, Role=, id=:id) are not supported".into(),
                ));
            }
            let (source, destination, status) = match fields.as_slice() {
                [s, d] => (*s, *d, "302"),
                [s, d, st] => (*s, *d, *st),
                [_] => return Err(bad("a rule needs a source and a destination".into())),
                _ => {
                    return Err(bad(format!(
                        "{} fields; a rule is `source destination [status]`",
                        fields.len()
                    )))
                }
            };
            let status = status.strip_suffix('!').unwrap_or(status);
            let action = match status {
                "301" | "302" | "303" | "307" | "308" => {
                    Action::Redirect(status.parse().unwrap_or(302))
                }
                "200" => Action::Rewrite,
                "404" => Action::NotFound,
                other => {
                    return Err(bad(format!(
                        "status {other:?}: use 301, 302, 303, 307, 308, 200 (rewrite) or 404"
                    )))
                }
            };
            if source.contains("://") {
                return Err(bad(
                    "host-level sources are not supported: each host is its own --site".into(),
                ));
            }
            let source =
                Pattern::parse(source).map_err(|e| RedirectsError::Pattern { line, source: e })?;
            match external_host(destination) {
                Some("") => return Err(bad("a destination URL without a host".into())),
                Some(host) if matches!(action, Action::Rewrite | Action::NotFound) => {
                    return Err(bad(format!(
                        "a {} serves a file of this site; {host} is another host (proxying is not supported)",
                        if action == Action::Rewrite { "rewrite (200)" } else { "404" }
                    )));
                }
                Some(host) if !allow_external => {
                    return Err(bad(format!(
                        "a redirect to another host ({host}) is not allowed here"
                    )));
                }
                Some(_) => {}
                None if !destination.starts_with('/') => {
                    return Err(bad(format!(
                        "destination {destination:?} is neither a path (/...) nor an http(s) URL"
                    )));
                }
                None => {}
            }
            let names = source.names();
            if let Some(missing) = tokens(destination).into_iter().find(|t| !names.contains(t)) {
                return Err(bad(format!(
                    "the destination uses :{missing}, which the source does not capture"
                )));
            }
            if let Some(prev) = rules.iter().find(|r| r.source.as_str() == source.as_str()) {
                return Err(bad(format!(
                    "source {} is already on line {} (only the first would apply)",
                    source.as_str(),
                    prev.line
                )));
            }
            if !source.is_dynamic()
                && external_host(destination).is_none()
                && path_of(destination) == source.as_str()
                && matches!(action, Action::Redirect(_))
            {
                return Err(bad(format!("{} redirects to itself", source.as_str())));
            }
            if source.is_dynamic() {
                dynamics += 1;
            } else {
                statics += 1;
            }
            rules.push(Rule {
                line,
                source,
                destination: destination.to_owned(),
                action,
            });
        }
        if statics > MAX_STATIC {
            return Err(RedirectsError::TooMany {
                kind: "static",
                count: statics,
                max: MAX_STATIC,
            });
        }
        if dynamics > MAX_DYNAMIC {
            return Err(RedirectsError::TooMany {
                kind: "dynamic",
                count: dynamics,
                max: MAX_DYNAMIC,
            });
        }
        let r = Self { rules };
        r.check_chains()?;
        Ok(r)
    }

    /// The rules, in file order.
    #[must_use]
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule matching `path`, with its destination filled in.
    #[must_use]
    pub fn lookup(&self, path: &str) -> Option<Matched<'_>> {
        self.rules.iter().find_map(|rule| {
            let caps: Captures = rule.source.matches(path)?;
            Some(Matched {
                rule,
                to: expand(&rule.destination, &caps),
            })
        })
    }

    /// From each rule's example path, follows local destinations through the rules: a path seen
    /// twice is a loop, more than [`MAX_HOPS`] a chain too long. Only redirects are followed: a
    /// rewrite or a 404 serves a file.
    fn check_chains(&self) -> Result<(), RedirectsError> {
        for rule in &self.rules {
            let start = rule.source.example();
            let mut seen = vec![start.clone()];
            let mut at = start.clone();
            while let Some(m) = self.lookup(&at) {
                // A rewrite or a 404 serves a file; only a redirect sends the client round again.
                if external_host(&m.to).is_some() || !matches!(m.rule.action, Action::Redirect(_)) {
                    break;
                }
                let next = path_of(&m.to).to_owned();
                let looped = seen.contains(&next);
                seen.push(next.clone());
                if looped || seen.len() > MAX_HOPS + 1 {
                    return Err(RedirectsError::Loop {
                        line: rule.line,
                        path: start,
                        chain: seen.join(" -> "),
                    });
                }
                at = next;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Redirects, RedirectsError> {
        Redirects::parse(t, false)
    }

    fn why(t: &str) -> String {
        parse(t).expect_err("refused").to_string()
    }

    #[test]
    fn rules_apply_first_match_with_captures() {
        let r = parse(
            "# moved pages\n/old /new 301\n/blog/* /posts/:splat\n/news/:year/:slug /n/:year-:slug.html 308!\n/app/* /app/index.html 200\n/en/* /en/404.html 404\n",
        )
        .expect("parses");
        assert_eq!(r.rules().len(), 5);
        let m = r.lookup("/old").expect("match");
        assert_eq!(
            (m.to.as_str(), m.rule.action),
            ("/new", Action::Redirect(301))
        );
        let m = r.lookup("/blog/2026/x").expect("match");
        assert_eq!(
            (m.to.as_str(), m.rule.action),
            ("/posts/2026/x", Action::Redirect(302))
        );
        assert_eq!(
            r.lookup("/news/2026/hi").expect("match").to,
            "/n/2026-hi.html"
        );
        assert_eq!(
            r.lookup("/app/settings").expect("match").rule.action,
            Action::Rewrite
        );
        assert_eq!(
            r.lookup("/en/nope").expect("match").rule.action,
            Action::NotFound
        );
        assert!(r.lookup("/elsewhere").is_none());
    }

    #[test]
    fn other_hosts_only_when_allowed_and_never_for_rewrites() {
        assert!(why("/x https://evil.example/ 301").contains("another host (evil.example)"));
        assert!(why("/x //evil.example/a").contains("another host"));
        assert!(
            Redirects::parse("/x https://docs.example/:splat 301\n", true).is_err(),
            ":splat without *"
        );
        assert!(Redirects::parse("/x/* https://docs.example/:splat 301\n", true).is_ok());
        assert!(why("/x https://evil.example/ 200").contains("proxying is not supported"));
        assert!(Redirects::parse("/x https://evil.example/ 200", true).is_err());
    }

    #[test]
    fn loops_and_long_chains_are_refused() {
        assert!(why("/a /a 301").contains("redirects to itself"));
        assert!(why("/a /b\n/b /a\n").contains("loops: /a -> /b -> /a"));
        assert!(why("/a/* /b/:splat\n/b/* /a/:splat\n").contains("loops"));
        let chain: String = (0..20).map(|i| format!("/p{i} /p{}\n", i + 1)).collect();
        assert!(why(&chain).contains("loops"));
        // A rewrite serves a file; it does not send the client round again (the SPA fallback).
        assert!(parse("/a/* /a/index.html 200\n/* /index.html 200\n").is_ok());
        assert!(why("/a/* /a/:splat 301\n").contains("loops"));
    }

    #[test]
    fn strict_errors_name_the_line() {
        for (t, want) in [
            ("/a\n", "line 1: a rule needs a source and a destination"),
            ("\n\n/a /b 418\n", "line 3: status \"418\""),
            ("/a /b 301 extra\n", "4 fields"),
            ("/store id=:id /blog/:id 301\n", "query matching"),
            ("/ /anz 302 Country=au,nz\n", "conditions"),
            ("/a b\n", "neither a path"),
            ("/a /b\n/a /c\n", "already on line 1"),
            ("/a /b/:id\n", ":id, which the source does not capture"),
            ("https://x.test/* /b\n", "host-level"),
            ("/a\r /b\n", "control character"),
            ("a /b\n", "must start with '/'"),
        ] {
            let e = why(t);
            assert!(e.contains(want), "{t:?}: {e}");
        }
        assert!(why(&format!("/{} /b\n", "a".repeat(1000))).contains("longer than 1000"));
    }

    #[test]
    fn limits_on_rule_counts() {
        let dynamic: String = (0..101)
            .map(|i| format!("/d{i}/* /e{i}/:splat\n"))
            .collect();
        assert_eq!(
            parse(&dynamic),
            Err(RedirectsError::TooMany {
                kind: "dynamic",
                count: 101,
                max: 100
            })
        );
        let statics: String = (0..2001).map(|i| format!("/s{i} /t{i}\n")).collect();
        assert!(matches!(
            parse(&statics),
            Err(RedirectsError::TooMany { kind: "static", .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_names_a_line(t in "(\\PC{0,40}\n){0,8}") {
            match Redirects::parse(&t, true) {
                Ok(r) => {
                    for rule in r.rules() {
                        proptest::prop_assert!(rule.source.as_str().starts_with('/'));
                    }
                }
                Err(e) => proptest::prop_assert!(!e.to_string().is_empty()),
            }
        }
    }
}
