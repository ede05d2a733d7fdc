//! Mounts: the files of a signed volume served at a URL prefix of a fronted application
//! (`--mount /static=site-media@stable`), so media moves into volumes without its URLs changing.

use std::str::FromStr;

use thiserror::Error;
use tinycdn_core::names::{TagName, VolumeName};

/// The prefix under which the edge's own routes live when it fronts an application, so they
/// never collide with the application's paths (`/.tinycdn/metrics`, `/.tinycdn/v/…`, …).
pub const RESERVED_PREFIX: &str = "/.tinycdn";

/// A volume served at a URL prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The URL prefix (`/static`): no trailing `/`; requests below `/static/` are the volume's.
    pub prefix: String,
    /// The volume.
    pub volume: VolumeName,
    /// A tag (followed as it moves) or a full version id (pinned).
    pub reference: String,
}

/// A `--mount` that cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MountError {
    /// Not `PATH=VOLUME@REF`.
    #[error("--mount {0:?} is not PATH=VOLUME@REF (for example /static=site-media@stable)")]
    Syntax(String),
    /// The path is not an absolute URL path of plain segments.
    #[error("the mount path {0:?} must start with '/', have no empty, '.' or '..' segment, no '%', '?' or '#', and not end with '/'")]
    Path(String),
    /// The path is inside the edge's reserved prefix.
    #[error("the mount path {0:?} is inside {RESERVED_PREFIX}, which the edge keeps for itself")]
    Reserved(String),
    /// A bad volume or reference name.
    #[error("--mount {0:?}: {1}")]
    Name(String, String),
}

impl FromStr for Mount {
    type Err = MountError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (prefix, vref) = s
            .split_once('=')
            .ok_or_else(|| MountError::Syntax(s.to_owned()))?;
        let (volume, reference) = vref
            .split_once('@')
            .ok_or_else(|| MountError::Syntax(s.to_owned()))?;
        if !plain_path(prefix) {
            return Err(MountError::Path(prefix.to_owned()));
        }
        if reserved(prefix) {
            return Err(MountError::Reserved(prefix.to_owned()));
        }
        let (volume, reference) =
            volume_ref(volume, reference).map_err(|e| MountError::Name(s.to_owned(), e))?;
        Ok(Self {
            prefix: prefix.to_owned(),
            volume,
            reference,
        })
    }
}

/// Whether `prefix` is an absolute URL path of plain segments: no empty, `.` or `..` one, no
/// `%`, `?`, `#`, `\`, spaces or control bytes, no trailing `/`.
pub(crate) fn plain_path(prefix: &str) -> bool {
    let segments_ok = prefix.strip_prefix('/').is_some_and(|p| {
        !p.is_empty()
            && p.split('/')
                .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
    });
    segments_ok
        && !prefix
            .bytes()
            .any(|c| c <= b' ' || c >= 0x7f || b"%?#\\".contains(&c))
}

/// Whether `prefix` is the edge's reserved prefix or inside it.
pub(crate) fn reserved(prefix: &str) -> bool {
    prefix == RESERVED_PREFIX || prefix.starts_with(&format!("{RESERVED_PREFIX}/"))
}

/// A volume name and a reference to it (a tag, or a full version id in lower-case hex),
/// checked; the error is the name rule broken.
pub(crate) fn volume_ref(volume: &str, reference: &str) -> Result<(VolumeName, String), String> {
    let volume = VolumeName::new(volume).map_err(|e| e.to_string())?;
    let pinned = reference.len() == 64
        && reference
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase());
    if !pinned {
        TagName::new(reference).map_err(|e| e.to_string())?;
    }
    Ok((volume, reference.to_owned()))
}

impl Mount {
    /// The part of `path` below this mount (`/static/img/a.jpg` → `img/a.jpg`).
    #[must_use]
    pub fn below<'a>(&self, path: &'a str) -> Option<&'a str> {
        path.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_parse_and_match() {
        let m: Mount = "/static/media=site-media@stable".parse().expect("valid");
        assert_eq!(m.below("/static/media/img/a.jpg"), Some("img/a.jpg"));
        assert_eq!(m.below("/static/media"), None);
        assert_eq!(m.below("/static/mediax/a"), None);
        let pinned = format!("/v1=site@{}", "ab".repeat(32));
        assert!(pinned.parse::<Mount>().is_ok());
        for bad in [
            "static=site@stable",
            "/static/=site@stable",
            "/=site@stable",
            "/a//b=site@stable",
            "/a/../b=site@stable",
            "/a%2f=site@stable",
            "/static=site",
            "/static=site@",
            "/static=s\u{0435}te@stable",
            "/.tinycdn=site@stable",
            "/.tinycdn/v=site@stable",
        ] {
            assert!(bad.parse::<Mount>().is_err(), "{bad}");
        }
    }
}
