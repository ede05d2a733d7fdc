//! URL path patterns: literal text, placeholders (`:name`, one path segment, never empty) and at
//! most one splat (`*`, any rest, possibly empty), as Cloudflare Pages and Netlify read them.
//! Matching memoises failed (part, position) pairs, so its work is bounded by parts × path
//! length whatever the pattern.

use std::collections::HashSet;

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// It does not start with `/`.
    #[error("a path pattern must start with '/' (got {0:?})")]
    NotAPath(String),
    /// More than one `*`.
    #[error("a pattern may hold one splat '*' at most")]
    TwoSplats,
    /// `:a:b` or `:a*`: where one capture ends and the next begins is ambiguous.
    #[error("captures must be separated by text (':{0}' is followed directly by another)")]
    AdjacentCaptures(String),
    /// A placeholder name used twice.
    #[error("placeholder ':{0}' appears twice")]
    DuplicatePlaceholder(String),
    /// `splat` is the splat's own name.
    #[error("':splat' is the name of what '*' captures; use '*'")]
    ReservedName,
    /// A byte no request path can hold.
    #[error("a path pattern holds only visible ASCII (byte {0:#04x})")]
    BadByte(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Placeholder(String),
    Splat,
}

/// A parsed path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<Part>,
    text: String,
}

/// What a match captured: placeholder names (and `splat`) with their text.
pub type Captures = Vec<(String, String)>;

fn name_len(s: &str) -> usize {
    let b = s.as_bytes();
    if b.first().is_none_or(|c| !c.is_ascii_alphabetic()) {
        return 0;
    }
    b.iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count()
}

impl Pattern {
    /// Parses a pattern.
    ///
    /// # Errors
    /// See [`PatternError`].
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if !text.starts_with('/') {
            return Err(PatternError::NotAPath(text.to_owned()));
        }
        if let Some(b) = text.bytes().find(|b| !b.is_ascii_graphic()) {
            return Err(PatternError::BadByte(b));
        }
        let mut parts: Vec<Part> = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        let mut names = HashSet::new();
        while let Some(c) = rest.chars().next() {
            let capture = match c {
                '*' => Some(Part::Splat),
                ':' if name_len(&rest[1..]) > 0 => {
                    let n = &rest[1..=name_len(&rest[1..])];
                    if n == "splat" {
                        return Err(PatternError::ReservedName);
                    }
                    if !names.insert(n.to_owned()) {
                        return Err(PatternError::DuplicatePlaceholder(n.to_owned()));
                    }
                    Some(Part::Placeholder(n.to_owned()))
                }
                _ => None,
            };
            match capture {
                Some(p) => {
                    let len = match &p {
                        Part::Placeholder(n) => n.len() + 1,
                        _ => 1,
                    };
                    if lit.is_empty() {
                        match parts.last() {
                            Some(Part::Placeholder(n)) => {
                                return Err(PatternError::AdjacentCaptures(n.clone()))
                            }
                            Some(Part::Splat) => {
                                return Err(PatternError::AdjacentCaptures("splat".into()))
                            }
                            _ => {}
                        }
                    } else {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    if p == Part::Splat && parts.contains(&Part::Splat) {
                        return Err(PatternError::TwoSplats);
                    }
                    parts.push(p);
                    rest = &rest[len..];
                }
                None => {
                    lit.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Self {
            parts,
            text: text.to_owned(),
        })
    }

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether it captures anything (a "dynamic" rule in Cloudflare's limits).
    #[must_use]
    pub fn is_dynamic(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Lit(_)))
    }

    /// The names it captures (`splat` for `*`).
    #[must_use]
    pub fn names(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Placeholder(n) => Some(n.as_str()),
                Part::Splat => Some("splat"),
                Part::Lit(_) => None,
            })
            .collect()
    }

    /// A path this pattern matches (each capture filled with `x`), for checking chains.
    #[must_use]
    pub fn example(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Lit(l) => l.as_str(),
                _ => "x",
            })
            .collect()
    }

    /// The captures if `path` matches the whole pattern.
    #[must_use]
    pub fn matches(&self, path: &str) -> Option<Captures> {
        let mut failed = HashSet::new();
        let mut caps = Vec::new();
        self.at(0, path, 0, &mut caps, &mut failed).then_some(caps)
    }

    fn at(
        &self,
        i: usize,
        path: &str,
        pos: usize,
        caps: &mut Captures,
        failed: &mut HashSet<(usize, usize)>,
    ) -> bool {
        let Some(part) = self.parts.get(i) else {
            return pos == path.len();
        };
        if failed.contains(&(i, pos)) {
            return false;
        }
        let rest = &path[pos..];
        // A capture ends where the next part, always a literal, can start (or at the end).
        let ends = |limit: usize| -> Vec<usize> {
            match self.parts.get(i + 1) {
                Some(Part::Lit(l)) => rest
                    .match_indices(l.as_str())
                    .map(|(at, _)| at)
                    .filter(|&at| at <= limit)
                    .collect(),
                _ => vec![rest.len()]
                    .into_iter()
                    .filter(|&e| e <= limit)
                    .collect(),
            }
        };
        let mut take = |name: &str, len: usize, caps: &mut Captures| {
            caps.push((name.to_owned(), rest[..len].to_owned()));
            let ok = self.at(i + 1, path, pos + len, caps, failed);
            if !ok {
                caps.pop();
            }
            ok
        };
        let ok = match part {
            Part::Lit(l) => {
                rest.starts_with(l.as_str()) && self.at(i + 1, path, pos + l.len(), caps, failed)
            }
            Part::Placeholder(n) => {
                let seg = rest.find('/').unwrap_or(rest.len());
                ends(seg)
                    .into_iter()
                    .rev()
                    .filter(|&len| len > 0)
                    .any(|len| take(n, len, caps))
            }
            Part::Splat => ends(rest.len())
                .into_iter()
                .rev()
                .any(|len| take("splat", len, caps)),
        };
        if !ok {
            failed.insert((i, pos));
        }
        ok
    }
}

/// `text` with every `:name` that `caps` holds replaced by its value (longest names first, so
/// `:id` does not eat the start of `:idx`).
#[must_use]
pub fn expand(text: &str, caps: &Captures) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(':') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let n = name_len(after);
        match caps.iter().find(|(k, _)| k.as_str() == &after[..n]) {
            Some((_, v)) if n > 0 => {
                out.push_str(v);
                rest = &after[n..];
            }
            _ => {
                out.push(':');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `:name` tokens `text` uses (for checking a destination against its source).
#[must_use]
pub fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(':') {
        let after = &rest[at + 1..];
        let n = name_len(after);
        if n > 0 {
            out.push(&after[..n]);
        }
        rest = &after[n..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(p: &str, path: &str) -> Option<Captures> {
        Pattern::parse(p).expect("pattern").matches(path)
    }

    #[test]
    fn literals_placeholders_and_splats() {
        assert_eq!(caps("/about", "/about"), Some(vec![]));
        assert_eq!(caps("/about", "/about/"), None);
        assert_eq!(
            caps("/news/:year/:slug", "/news/2026/hello"),
            Some(vec![
                ("year".into(), "2026".into()),
                ("slug".into(), "hello".into())
            ])
        );
        assert_eq!(
            caps("/news/:year", "/news/"),
            None,
            "a placeholder is never empty"
        );
        assert_eq!(caps("/news/:year", "/news/a/b"), None, "nor spans segments");
        assert_eq!(
            caps("/blog/*", "/blog/a/b.html"),
            Some(vec![("splat".into(), "a/b.html".into())])
        );
        assert_eq!(
            caps("/blog/*", "/blog/"),
            Some(vec![("splat".into(), String::new())])
        );
        assert_eq!(
            caps("/img-:w.jpg", "/img-640.jpg"),
            Some(vec![("w".into(), "640".into())])
        );
        assert_eq!(
            caps("/:a-:b", "/x-y-z"),
            Some(vec![("a".into(), "x-y".into()), ("b".into(), "z".into())])
        );
    }

    #[test]
    fn refused_patterns() {
        for (p, e) in [
            ("about", PatternError::NotAPath("about".into())),
            ("/*/*", PatternError::TwoSplats),
            ("/:a:b", PatternError::AdjacentCaptures("a".into())),
            ("/:a*", PatternError::AdjacentCaptures("a".into())),
            ("/:a/:a", PatternError::DuplicatePlaceholder("a".into())),
            ("/:splat", PatternError::ReservedName),
            ("/a b", PatternError::BadByte(b' ')),
        ] {
            assert_eq!(Pattern::parse(p), Err(e), "{p}");
        }
    }

    #[test]
    fn expansion_leaves_other_colons_alone() {
        let c = vec![
            ("id".to_owned(), "7".to_owned()),
            ("splat".to_owned(), "a/b".to_owned()),
        ];
        assert_eq!(
            expand("https://x.test:8443/p/:id/:splat?q=:none", &c),
            "https://x.test:8443/p/7/a/b?q=:none"
        );
        assert_eq!(tokens("https://x:1/:id/:splat"), vec!["id", "splat"]);
    }

    #[test]
    fn hostile_patterns_match_in_bounded_work() {
        let p = Pattern::parse(&format!(
            "/{}",
            ":a-".to_owned() + &"x-".repeat(200) + "*-end"
        ))
        .expect("pattern");
        let path = format!("/{}", "x-".repeat(4000));
        assert_eq!(p.matches(&path), None);
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_and_a_match_rebuilds_the_path(p in "/[a-z:*/.-]{0,20}", path in "/[a-z/.-]{0,30}") {
            if let Ok(pat) = Pattern::parse(&p) {
                if let Some(c) = pat.matches(&path) {
                    // Putting the captures back where they came from gives the path again
                    // (where `:splat` in place of `*` would not read as a longer name).
                    let s = pat.as_str();
                    let glued = s.match_indices('*').any(|(i, _)| {
                        s[i + 1..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                    });
                    if !glued {
                        let rebuilt = expand(&s.replace('*', ":splat"), &c);
                        proptest::prop_assert_eq!(rebuilt, path.clone());
                    }
                }
                proptest::prop_assert!(pat.matches(&pat.example()).is_some());
            }
        }
    }
}
