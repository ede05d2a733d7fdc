//! Rules for volume names, tag names and paths inside a volume.
//!
//! Every name is checked before anything is written, and again whenever one is decoded from bytes
//! that came from elsewhere. The checks use the Unicode Security Mechanisms (UTS #39) as implemented
//! by `unicode-security`, and NFC from `unicode-normalization`; there are no hand-written tables.

use std::fmt;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
use unicode_security::general_security_profile::IdentifierType;
use unicode_security::mixed_script::AugmentedScriptSet;
use unicode_security::{skeleton, GeneralSecurityProfile};

use crate::NameError;

/// Longest volume or tag name, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// Longest path inside a volume, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest path component, in bytes.
pub const MAX_COMPONENT_BYTES: usize = 255;

fn describe(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("U+{:04X} '{c}'", c as u32)
    }
}

/// Printable ASCII: no control, invisible, unassigned or non-NFC character, and (letters Latin,
/// the rest Common) never more than one script. Names in URLs are nearly always this, so every
/// check below answers it without walking Unicode tables.
fn printable_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn check_nfc(kind: &'static str, s: &str) -> Result<(), NameError> {
    if printable_ascii(s) {
        return Ok(());
    }
    let nfc = match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => return Ok(()),
        _ => s.nfc().collect::<String>(),
    };
    if nfc == s {
        Ok(())
    } else {
        Err(NameError::NotNfc {
            kind,
            name: s.to_owned(),
            nfc,
        })
    }
}

/// Refuses control, invisible, unassigned and odd whitespace characters (shared by every kind of name).
fn check_visible_chars(kind: &'static str, s: &str) -> Result<(), NameError> {
    if printable_ascii(s) {
        return Ok(());
    }
    for c in s.chars() {
        let what = if c.is_control() {
            Some("a control character")
        } else if c.is_whitespace() && c != ' ' {
            Some("a whitespace character other than space")
        } else {
            match c.identifier_type() {
                Some(IdentifierType::Default_Ignorable) => {
                    Some("an invisible or bidirectional-formatting character")
                }
                Some(IdentifierType::Not_Character) => {
                    Some("an unassigned or private-use character")
                }
                _ => None,
            }
        };
        if let Some(what) = what {
            return Err(NameError::BadChar {
                kind,
                name: s.to_owned(),
                ch: describe(c),
                what,
            });
        }
    }
    Ok(())
}

/// Refuses names whose characters do not share one script (UTS #39 single-script), naming the
/// characters that break it.
fn check_single_script(kind: &'static str, s: &str) -> Result<(), NameError> {
    if printable_ascii(s) {
        return Ok(());
    }
    let mut set = AugmentedScriptSet::default();
    let mut offending = Vec::new();
    for c in s.chars() {
        let mut next = set;
        next.intersect_with(AugmentedScriptSet::for_char(c));
        if next.is_empty() {
            offending.push(describe(c));
        } else {
            set = next;
        }
    }
    if offending.is_empty() {
        Ok(())
    } else {
        Err(NameError::MixedScript {
            kind,
            name: s.to_owned(),
            scripts: offending.join(", "),
        })
    }
}

fn check_identifier(kind: &'static str, s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty { kind });
    }
    if s.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong {
            kind,
            name: s.to_owned(),
            len: s.len(),
            max: MAX_NAME_BYTES,
        });
    }
    check_visible_chars(kind, s)?;
    check_nfc(kind, s)?;
    for (i, c) in s.chars().enumerate() {
        let punct = matches!(c, '-' | '_' | '.');
        if punct && i == 0 {
            return Err(NameError::BadChar {
                kind,
                name: s.to_owned(),
                ch: describe(c),
                what: "a leading punctuation character",
            });
        }
        if !(punct || c.is_alphanumeric() && c.identifier_allowed()) {
            return Err(NameError::BadChar {
                kind,
                name: s.to_owned(),
                ch: describe(c),
                what: "a character outside letters, digits, '-', '_' and '.':",
            });
        }
    }
    check_single_script(kind, s)
}

/// The UTS #39 skeleton of a name, case-folded: two names with the same key look alike.
#[must_use]
pub fn confusable_key(s: &str) -> String {
    skeleton(&s.to_lowercase()).collect()
}

/// Refuses `name` when it can be confused with one of `existing` (equal names are not confusable).
///
/// # Errors
/// [`NameError::Confusable`] naming the existing name and the characters that differ.
pub fn check_not_confusable<'a>(
    kind: &'static str,
    name: &str,
    existing: impl IntoIterator<Item = &'a str>,
) -> Result<(), NameError> {
    let key = confusable_key(name);
    for other in existing {
        if other != name && confusable_key(other) == key {
            let chars: Vec<String> = name
                .chars()
                .filter(|c| !other.contains(*c))
                .map(describe)
                .collect();
            return Err(NameError::Confusable {
                kind,
                name: name.to_owned(),
                existing: other.to_owned(),
                chars: if chars.is_empty() {
                    "differing only in case".to_owned()
                } else {
                    chars.join(", ")
                },
            });
        }
    }
    Ok(())
}

macro_rules! identifier_name {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates a name.
            ///
            /// # Errors
            /// The first rule the name breaks.
            pub fn new(s: &str) -> Result<Self, NameError> {
                check_identifier($kind, s)?;
                Ok(Self(s.to_owned()))
            }

            /// The name as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }
    };
}

identifier_name!(
    /// A volume's name: letters and digits of one script, with `-`, `_` and `.` inside.
    VolumeName,
    "volume name"
);
identifier_name!(
    /// A tag's name (`stable`, `v2`, ...): the same rules as a volume name.
    TagName,
    "tag name"
);

/// A relative path inside a volume: `/`-separated, no empty, `.` or `..` component.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VolumePath(String);

impl VolumePath {
    /// Validates a path.
    ///
    /// # Errors
    /// The first rule the path breaks.
    pub fn new(s: &str) -> Result<Self, NameError> {
        const KIND: &str = "path";
        if s.is_empty() {
            return Err(NameError::Empty { kind: KIND });
        }
        if s.len() > MAX_PATH_BYTES {
            return Err(NameError::TooLong {
                kind: KIND,
                name: s.to_owned(),
                len: s.len(),
                max: MAX_PATH_BYTES,
            });
        }
        let bad = |why| {
            Err(NameError::BadPath {
                path: s.to_owned(),
                why,
            })
        };
        if s.starts_with('/') {
            return bad("is absolute");
        }
        if s.contains('\\') {
            return bad("contains a backslash");
        }
        for component in s.split('/') {
            match component {
                "" => return bad("has an empty component"),
                "." => return bad("has a '.' component"),
                ".." => return bad("has a '..' component"),
                c if c.len() > MAX_COMPONENT_BYTES => {
                    return Err(NameError::TooLong {
                        kind: "path component",
                        name: c.to_owned(),
                        len: c.len(),
                        max: MAX_COMPONENT_BYTES,
                    })
                }
                _ => {}
            }
        }
        check_visible_chars(KIND, s)?;
        check_nfc(KIND, s)?;
        Ok(Self(s.to_owned()))
    }

    /// The path as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The directory holding this entry, or `None` at the volume root.
    #[must_use]
    pub fn parent(&self) -> Option<&str> {
        self.0.rsplit_once('/').map(|(p, _)| p)
    }

    /// The number of components.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.0.split('/').count()
    }
}

impl fmt::Display for VolumePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for VolumePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Resolves a symlink target written at `link` lexically and checks it stays inside the volume.
///
/// Returns the volume-relative path the link points at (empty for the volume root).
///
/// # Errors
/// [`NameError::BadPath`] when the target is absolute or climbs above the volume root.
pub fn resolve_link_target(link: &VolumePath, target: &str) -> Result<String, NameError> {
    let bad = |why| NameError::BadPath {
        path: format!("{link} -> {target}"),
        why,
    };
    if target.is_empty() {
        return Err(bad("is a symlink with an empty target"));
    }
    if target.starts_with('/') {
        return Err(bad("is a symlink to an absolute path, outside the volume"));
    }
    if target.contains('\0') || target.contains('\\') {
        return Err(bad("is a symlink whose target has a NUL or backslash"));
    }
    check_visible_chars("symlink target", target)?;
    let mut parts: Vec<&str> = link.as_str().split('/').collect();
    parts.pop();
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(bad("is a symlink that points outside the volume"));
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for n in ["site-media", "media.v2", "ТВ", "写真", "a_b"] {
            VolumeName::new(n).unwrap_or_else(|e| panic!("{n}: {e}"));
        }
        for p in [
            "img/hero.jpg",
            "clips/Intro Clip (1).mp4",
            "фото/кот.jpg",
            "a/b/c",
        ] {
            VolumePath::new(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
    }

    #[test]
    fn refuses_mixed_script_naming_the_character() {
        // "mеdia" with a Cyrillic 'е' (U+0435).
        let err = VolumeName::new("m\u{0435}dia").expect_err("mixed");
        let msg = err.to_string();
        assert!(msg.contains("U+0435"), "{msg}");
        assert!(matches!(err, NameError::MixedScript { .. }));
    }

    #[test]
    fn refuses_confusable_with_existing() {
        // All-Cyrillic "асе" looks like Latin "ace".
        let err = check_not_confusable("volume name", "\u{0430}\u{0441}\u{0435}", ["ace"])
            .expect_err("confusable");
        assert!(err.to_string().contains("\"ace\""), "{err}");
        assert!(check_not_confusable("volume name", "ace", ["ace"]).is_ok());
        assert!(check_not_confusable("volume name", "Media", ["media"]).is_err());
        assert!(check_not_confusable("volume name", "rn-x", ["m-x"]).is_err());
    }

    #[test]
    fn refuses_invisible_bidi_and_control() {
        for s in [
            "a\u{200B}b",
            "a\u{202E}b",
            "a\u{0007}",
            "a\u{00A0}b",
            "a\u{2028}b",
        ] {
            assert!(VolumePath::new(s).is_err(), "{s:?}");
            assert!(VolumeName::new(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn refuses_traversal_and_odd_paths() {
        for p in [
            "../x",
            "a/../b",
            "/etc/passwd",
            "a//b",
            "a/./b",
            "a\\b",
            "a/",
            "",
            "a\0b",
        ] {
            assert!(VolumePath::new(p).is_err(), "{p:?}");
        }
        assert!(VolumePath::new(&"x".repeat(256)).is_err());
    }

    #[test]
    fn refuses_non_nfc() {
        // "e" + combining acute is "é" decomposed.
        let err = VolumePath::new("cafe\u{0301}.jpg").expect_err("not nfc");
        assert!(matches!(err, NameError::NotNfc { .. }));
    }

    #[test]
    fn names_refuse_leading_punctuation_and_separators() {
        for n in [".hidden", "-x", "a/b", "a@b", "a b", "vol:1"] {
            assert!(VolumeName::new(n).is_err(), "{n:?}");
        }
    }

    #[test]
    fn link_targets_stay_inside() {
        let link = VolumePath::new("a/b/link").expect("valid");
        assert_eq!(resolve_link_target(&link, "../c").expect("inside"), "a/c");
        assert_eq!(resolve_link_target(&link, "../../c").expect("inside"), "c");
        assert!(resolve_link_target(&link, "../../../etc").is_err());
        assert!(resolve_link_target(&link, "/etc/passwd").is_err());
    }

    /// The Unicode-table walks the ASCII fast path skips, as they were.
    fn slow_checks(s: &str) -> bool {
        let visible = s.chars().all(|c| {
            let hidden = matches!(
                c.identifier_type(),
                Some(IdentifierType::Default_Ignorable | IdentifierType::Not_Character)
            );
            !(c.is_control() || (c.is_whitespace() && c != ' ') || hidden)
        });
        let nfc = s.nfc().collect::<String>() == s;
        let mut set = AugmentedScriptSet::default();
        for c in s.chars() {
            set.intersect_with(AugmentedScriptSet::for_char(c));
        }
        visible && nfc && !set.is_empty()
    }

    proptest::proptest! {
        #[test]
        fn the_ascii_fast_path_agrees_with_the_unicode_checks(s in "[ -~]{0,40}") {
            proptest::prop_assert!(printable_ascii(&s));
            proptest::prop_assert!(slow_checks(&s), "{:?}", s);
            proptest::prop_assert!(check_visible_chars("name", &s).is_ok());
            proptest::prop_assert!(check_nfc("name", &s).is_ok());
            proptest::prop_assert!(check_single_script("name", &s).is_ok());
        }
    }
}
