//! Entity tags (RFC 9110 §8.8.3) and their comparison.

use std::fmt;

/// An entity tag: an opaque quoted string, strong or weak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    /// Whether the tag is weak (`W/"…"`).
    pub weak: bool,
    /// The opaque value without quotes.
    pub tag: String,
}

impl EntityTag {
    /// A strong tag (tinycdn's tags are content hashes, so they are always strong).
    #[must_use]
    pub fn strong(tag: impl Into<String>) -> Self {
        Self {
            weak: false,
            tag: tag.into(),
        }
    }

    /// Strong comparison: both strong and equal.
    #[must_use]
    pub fn strong_eq(&self, other: &Self) -> bool {
        !self.weak && !other.weak && self.tag == other.tag
    }

    /// Weak comparison: equal values, weakness ignored.
    #[must_use]
    pub fn weak_eq(&self, other: &Self) -> bool {
        self.tag == other.tag
    }

    /// Parses one entity tag.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (weak, rest) = match s.strip_prefix("W/") {
            Some(r) => (true, r),
            None => (false, s),
        };
        let inner = rest.strip_prefix('"')?.strip_suffix('"')?;
        // etagc = %x21 / %x23-7E / obs-text
        if inner
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7E).contains(&b) || b >= 0x80)
        {
            Some(Self {
                weak,
                tag: inner.to_owned(),
            })
        } else {
            None
        }
    }
}

impl fmt::Display for EntityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.weak {
            write!(f, "W/\"{}\"", self.tag)
        } else {
            write!(f, "\"{}\"", self.tag)
        }
    }
}

/// The value of `If-Match` or `If-None-Match`: `*` or a list of tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagList {
    /// `*`: any current representation.
    Any,
    /// The listed tags (unparseable members are dropped).
    Tags(Vec<EntityTag>),
}

impl TagList {
    /// Parses a header value; `None` when nothing in it is a valid list member.
    #[must_use]
    pub fn parse(value: &str) -> Option<Self> {
        if value.trim() == "*" {
            return Some(Self::Any);
        }
        let tags: Vec<EntityTag> = split_list(value).filter_map(EntityTag::parse).collect();
        (!tags.is_empty()).then_some(Self::Tags(tags))
    }

    /// Whether `current` matches under strong (`If-Match`) or weak (`If-None-Match`) comparison.
    #[must_use]
    pub fn matches(&self, current: &EntityTag, strong: bool) -> bool {
        match self {
            Self::Any => true,
            Self::Tags(tags) => tags.iter().any(|t| {
                if strong {
                    t.strong_eq(current)
                } else {
                    t.weak_eq(current)
                }
            }),
        }
    }
}

/// Splits a comma-separated header list, respecting quoted strings.
fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_compares() {
        let a = EntityTag::parse("\"abc\"").expect("strong");
        let w = EntityTag::parse("W/\"abc\"").expect("weak");
        assert!(a.strong_eq(&a) && !a.strong_eq(&w) && a.weak_eq(&w));
        assert_eq!(a.to_string(), "\"abc\"");
        assert_eq!(w.to_string(), "W/\"abc\"");
        for bad in ["abc", "\"a\"b\"", "\"unterminated", "W/abc", "\"a b\""] {
            assert!(EntityTag::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn lists() {
        let l = TagList::parse(" \"x\", W/\"y\" ,\"z,z\"").expect("list");
        assert!(l.matches(&EntityTag::strong("y"), false));
        assert!(!l.matches(&EntityTag::strong("y"), true));
        assert!(l.matches(&EntityTag::strong("z,z"), true));
        assert_eq!(TagList::parse("*"), Some(TagList::Any));
        assert_eq!(TagList::parse("garbage"), None);
    }
}
