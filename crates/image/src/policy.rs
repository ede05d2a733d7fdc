//! Which variants a client may make the edge compute, without I/O: signed URLs (HMAC-SHA256 over
//! the host, path and query, several keys for rotation) and allowlists of sizes and qualities.
//! The host is signed so that a URL signed for one site or application cannot be replayed on
//! another behind the same edge; signatures over path and query alone (made before the host was
//! covered) verify only while [`Policy::legacy_signatures`] is on, for the time it takes to sign
//! the URLs again. Without
//! one of them anyone could ask for every width from 1 to 8192 and keep the edge busy.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use thiserror::Error;

use crate::params::{Params, Split};

/// The widths (and heights) allowed by default: next/image's device and image sizes, with 320 and 480.
pub const DEFAULT_SIDES: [u32; 18] = [
    16, 32, 48, 64, 96, 128, 256, 320, 384, 480, 640, 750, 828, 1080, 1200, 1920, 2048, 3840,
];
/// The qualities allowed by default (besides none, the format's default).
pub const DEFAULT_QUALITIES: [u8; 6] = [25, 50, 60, 75, 80, 90];
/// The device pixel ratios allowed by default, in tenths.
pub const DEFAULT_DPRS: [u8; 5] = [10, 15, 20, 30, 40];

/// Finite sets of values a request's parameters must come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowlist {
    /// Widths and heights (before `dpr`).
    pub sides: Vec<u32>,
    /// Qualities.
    pub qualities: Vec<u8>,
    /// Device pixel ratios in tenths.
    pub dprs: Vec<u8>,
}

impl Default for Allowlist {
    fn default() -> Self {
        Self {
            sides: DEFAULT_SIDES.to_vec(),
            qualities: DEFAULT_QUALITIES.to_vec(),
            dprs: DEFAULT_DPRS.to_vec(),
        }
    }
}

impl Allowlist {
    /// Why `p` is outside the lists, if it is.
    fn refuse(&self, p: &Params) -> Option<String> {
        for (k, v) in [("w", p.w), ("h", p.h)] {
            if let Some(v) = v.filter(|v| !self.sides.contains(v)) {
                return Some(format!(
                    "{k}={v} is not an allowed size (allowed: {})",
                    list(&self.sides)
                ));
            }
        }
        if let Some(q) = p.q.filter(|q| !self.qualities.contains(q)) {
            return Some(format!(
                "q={q} is not an allowed quality (allowed: {})",
                list(&self.qualities)
            ));
        }
        if !self.dprs.contains(&p.dpr_tenths) {
            return Some(format!(
                "dpr={}.{} is not an allowed ratio",
                p.dpr_tenths / 10,
                p.dpr_tenths % 10
            ));
        }
        None
    }
}

fn list<T: ToString>(v: &[T]) -> String {
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// What guards the transforms: signing keys, an allowlist, both (a request must pass both) or
/// neither (only for trusted networks; the CLI asks for it by name).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Keys a signature may be made with (the first signs; all verify).
    pub keys: Vec<Vec<u8>>,
    /// The allowlist, when one applies.
    pub allow: Option<Allowlist>,
    /// Signatures over path and query without the host (`tinycdn sign-url` before it signed the
    /// host) still verify (`--image-sign-legacy`, while URLs are signed again).
    pub legacy_signatures: bool,
}

/// Why a request may not make a variant (a 403).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Refused {
    /// Signatures are required and there is none.
    #[error("this edge makes image variants only for signed URLs: add sig=")]
    Unsigned,
    /// The signature does not verify under any key.
    #[error("the image URL's signature does not verify")]
    BadSignature,
    /// A value is not on the allowlist.
    #[error("{0}")]
    NotAllowed(String),
}

/// The bytes a signature covers: the host (lowercased, as clients send it, with its port when
/// not the default), the path, then `?` and the query without `sig` when there is one; with no
/// host (a legacy signature), path and query alone.
fn message(host: Option<&str>, path: &str, signed_part: &str) -> String {
    let mut m = String::with_capacity(path.len() + signed_part.len() + 64);
    if let Some(h) = host {
        m.push_str(&h.to_ascii_lowercase());
    }
    m.push_str(path);
    if !signed_part.is_empty() {
        m.push('?');
        m.push_str(signed_part);
    }
    m
}

/// The lowercase hex HMAC-SHA256 of `host` + `path?query` under `key` (`query` without `sig`).
#[must_use]
pub fn signature(key: &[u8], host: &str, path: &str, query: &str) -> String {
    sign(key, &message(Some(host), path, query))
}

/// A legacy signature, over `path?query` alone (what `tinycdn sign-url` made before it signed
/// the host).
#[must_use]
pub fn legacy_signature(key: &[u8], path: &str, query: &str) -> String {
    sign(key, &message(None, path, query))
}

fn sign(key: &[u8], msg: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(msg.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Keys from a key file's text: one per line, blank lines and `#` comments skipped.
#[must_use]
pub fn parse_keys(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.as_bytes().to_vec())
        .collect()
}

impl Policy {
    /// Whether `split` (of a request for `path` on `host`) may make a variant.
    ///
    /// # Errors
    /// [`Refused`].
    pub fn check(&self, host: &str, path: &str, split: &Split) -> Result<(), Refused> {
        if !self.keys.is_empty() {
            let sig = split.signature.as_deref().ok_or(Refused::Unsigned)?;
            let Ok(given) = hex::decode(sig) else {
                return Err(Refused::BadSignature);
            };
            let mut messages = vec![message(Some(host), path, &split.signed_part)];
            if self.legacy_signatures {
                messages.push(message(None, path, &split.signed_part));
            }
            let ok = messages.iter().any(|msg| {
                self.keys.iter().any(|k| {
                    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(k)
                        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
                    mac.update(msg.as_bytes());
                    // Constant-time comparison.
                    mac.verify_slice(&given).is_ok()
                })
            });
            if !ok {
                return Err(Refused::BadSignature);
            }
        }
        if let Some(why) = self.allow.as_ref().and_then(|a| a.refuse(&split.params)) {
            return Err(Refused::NotAllowed(why));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::split;

    fn s(q: &str) -> Split {
        split(q).expect("valid").expect("image keys")
    }

    #[test]
    fn the_default_allowlist_bounds_sizes_and_qualities() {
        let p = Policy {
            keys: vec![],
            allow: Some(Allowlist::default()),
            legacy_signatures: false,
        };
        assert_eq!(p.check("h", "/a.jpg", &s("w=640&q=75&dpr=2")), Ok(()));
        assert!(matches!(
            p.check("h", "/a.jpg", &s("w=641")),
            Err(Refused::NotAllowed(m)) if m.contains("w=641")
        ));
        assert!(p.check("h", "/a.jpg", &s("w=640&q=77")).is_err());
        assert!(p.check("h", "/a.jpg", &s("w=640&dpr=2.5")).is_err());
    }

    #[test]
    fn signed_urls_verify_under_any_key_and_cover_host_path_and_query() {
        let old = b"old-key".to_vec();
        let new = b"new-key".to_vec();
        let mut p = Policy {
            keys: vec![new.clone(), old.clone()],
            allow: None,
            legacy_signatures: false,
        };
        let host = "shop.example";
        let sig = signature(&old, host, "/img/a.jpg", "w=641&v=2");
        assert_eq!(
            p.check(host, "/img/a.jpg", &s(&format!("w=641&v=2&sig={sig}"))),
            Ok(())
        );
        // The host as clients send it, in any case; the signature anywhere in the query.
        assert_eq!(
            p.check(
                "Shop.Example",
                "/img/a.jpg",
                &s(&format!("sig={sig}&w=641&v=2"))
            ),
            Ok(())
        );
        // Another site behind the same edge does not take it.
        assert_eq!(
            p.check(
                "evil.example",
                "/img/a.jpg",
                &s(&format!("w=641&v=2&sig={sig}"))
            ),
            Err(Refused::BadSignature)
        );
        assert_eq!(
            p.check(host, "/img/b.jpg", &s(&format!("w=641&v=2&sig={sig}"))),
            Err(Refused::BadSignature)
        );
        assert_eq!(
            p.check(host, "/img/a.jpg", &s(&format!("w=642&v=2&sig={sig}"))),
            Err(Refused::BadSignature)
        );
        assert_eq!(
            p.check(host, "/img/a.jpg", &s("w=641")),
            Err(Refused::Unsigned)
        );
        assert_eq!(
            p.check(host, "/img/a.jpg", &s("w=641&sig=zz")),
            Err(Refused::BadSignature)
        );
        let other = signature(b"stranger", host, "/img/a.jpg", "w=641");
        assert_eq!(
            p.check(host, "/img/a.jpg", &s(&format!("w=641&sig={other}"))),
            Err(Refused::BadSignature)
        );
        // A signature over path and query alone verifies only while legacy ones are allowed.
        let legacy = legacy_signature(&old, "/img/a.jpg", "w=641");
        let q = s(&format!("w=641&sig={legacy}"));
        assert_eq!(p.check(host, "/img/a.jpg", &q), Err(Refused::BadSignature));
        p.legacy_signatures = true;
        assert_eq!(p.check(host, "/img/a.jpg", &q), Ok(()));
    }

    #[test]
    fn key_files_skip_comments_and_blank_lines() {
        let keys = parse_keys("# rotated 2026-11\nnew-key\n\n  old-key  \n");
        assert_eq!(keys, vec![b"new-key".to_vec(), b"old-key".to_vec()]);
    }
}
