//! The URL scheme, and rejection of hostile paths.
//!
//! ```text
//! /v/VOLUME@REF/PATH   a file of a volume version (REF: a tag or a version-hash prefix)
//! /m/VERSION           a manifest's canonical bytes, by version id (64 hex)
//! /s/VERSION           the manifest's signature set
//! /t/VOLUME/TAG        a signed tag record
//! /o/FILE[.x]          a file object by its BLAKE3 (64 hex; `.x`: the executable copy);
//!                      edges fill chunks from it with Range requests
//! /x/VERSION           the signed index of the binary deltas made for a version
//! /d/BASE/TARGET       the binary delta from file BASE to file TARGET (both 64 hex)
//! /n                   the signed snapshot of every current tag
//! /ts                  the signed timestamp naming the newest snapshot
//! /r/N                 trust root version N (decimal), for nodes walking root rotations
//! /                    a short index of these routes (first contact: the URL a server prints)
//! /metrics             Prometheus metrics
//! /healthz             liveness
//! /readyz              readiness (503 while the process drains)
//! ```
//! Every segment is percent-decoded on its own and must be UTF-8 (so overlong encodings fail);
//! a decoded segment may not contain `/`, and the file path must pass the volume path rules (no
//! `.`/`..`, backslash, NUL, control or invisible characters). Anything else is a 400.

use percent_encoding::percent_decode_str;
use thiserror::Error;
use tinycdn_core::names::{TagName, VolumeName, VolumePath};
use tinycdn_core::{FileId, NameError, VersionId};

/// Longest request target accepted (bytes, before decoding).
pub const MAX_TARGET: usize = 8192;

/// A request target tinycdn serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A file of a volume version.
    File {
        /// The volume.
        volume: VolumeName,
        /// A tag or version-hash prefix.
        reference: String,
        /// The path inside the volume.
        path: VolumePath,
    },
    /// Manifest bytes.
    Manifest(VersionId),
    /// A manifest's signature set.
    Signatures(VersionId),
    /// A signed tag.
    Tag {
        /// The volume.
        volume: VolumeName,
        /// The tag.
        tag: TagName,
    },
    /// A file object.
    Object {
        /// The file's hash.
        id: FileId,
        /// The executable copy.
        exec: bool,
    },
    /// A version's signed delta index.
    DeltaIndex(VersionId),
    /// A binary delta between two files.
    Delta {
        /// The file it applies to.
        base: FileId,
        /// The file it produces.
        target: FileId,
    },
    /// The signed snapshot of every current tag.
    Snapshot,
    /// The signed timestamp naming the newest snapshot.
    Timestamp,
    /// A published trust root version.
    Root(u64),
    /// The transparency log's signed checkpoint.
    LogCheckpoint,
    /// A tile or entry bundle of the transparency log (C2SP tlog-tiles).
    LogTile(tinycdn_tlog::TileId),
    /// Which log entry published a version (a hint; the entry proves it).
    LogLookup(VersionId),
    /// Prometheus metrics.
    Metrics,
    /// The status page (HTML, live).
    Status,
    /// The status page's figures (JSON).
    StatusJson,
    /// Liveness.
    Health,
    /// Readiness: 503 while the process drains.
    Ready,
    /// `/`: a short index of the routes, so the URL a server prints answers something useful.
    Home,
}

impl Route {
    /// The route's class, for metrics labels and logs (never the path itself).
    #[must_use]
    pub fn class(&self) -> &'static str {
        match self {
            Route::File { .. } => "volume_file",
            Route::Object { .. } => "object",
            Route::Manifest(_)
            | Route::Signatures(_)
            | Route::Tag { .. }
            | Route::DeltaIndex(_)
            | Route::Delta { .. }
            | Route::Snapshot
            | Route::Timestamp
            | Route::Root(_) => "metadata",
            Route::LogCheckpoint | Route::LogTile(_) | Route::LogLookup(_) => "log",
            Route::Metrics | Route::Status | Route::StatusJson | Route::Home => "metrics",
            Route::Health | Route::Ready => "health",
        }
    }
}

/// Why a target was refused (always a 400, except `NotFound`: 404).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// Longer than [`MAX_TARGET`].
    #[error("the request target is longer than {MAX_TARGET} bytes")]
    TooLong,
    /// Not UTF-8 after percent-decoding (overlong encodings included).
    #[error("the path is not valid UTF-8 once percent-decoded")]
    NotUtf8,
    /// A decoded segment holds a `/`, or the target has empty segments.
    #[error("the path has an encoded '/' or an empty segment")]
    BadSegment,
    /// A name or path rule was broken.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A hash is not 64 hex digits.
    #[error("{0:?} is not a 64-digit hex hash")]
    BadHash(String),
    /// A root version is not a decimal number from 1 to 2^64-1 without leading zeros.
    #[error("{0:?} is not a root version number")]
    BadVersion(String),
    /// No such route.
    #[error("no such resource")]
    NotFound,
}

impl RouteError {
    /// The HTTP status for this error.
    #[must_use]
    pub fn status(&self) -> u16 {
        if matches!(self, Self::NotFound) {
            404
        } else {
            400
        }
    }
}

/// The text `/` answers on an origin or an edge: where to look next.
#[must_use]
pub fn home(role: &str) -> String {
    format!(
        "tinycdn {role}\n\n\
         /v/VOLUME@REF/PATH   a file of a volume version (REF: a tag or a version-hash prefix)\n\
         /status              status page (/status.json for machines)\n\
         /metrics             Prometheus metrics\n\
         /healthz, /readyz    liveness, readiness\n\
         /m/ /s/ /t/ /o/ /x/ /d/ /n /ts /r/ /log/   signed metadata and chunks for pulls and edges\n"
    )
}

fn decode(segment: &str) -> Result<String, RouteError> {
    let s = percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| RouteError::NotUtf8)?
        .into_owned();
    if s.is_empty() || s.contains('/') {
        return Err(RouteError::BadSegment);
    }
    Ok(s)
}

fn version(s: &str) -> Result<u64, RouteError> {
    let bad = || RouteError::BadVersion(s.to_owned());
    if s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    s.parse().map_err(|_| bad())
}

fn hash<T: std::str::FromStr>(s: &str) -> Result<T, RouteError> {
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        s.parse().map_err(|_| RouteError::BadHash(s.to_owned()))
    } else {
        Err(RouteError::BadHash(s.to_owned()))
    }
}

/// The volume path of the part of a target below a mount (`img/a%20b.jpg?w=1` → `img/a b.jpg`):
/// each segment percent-decoded on its own, and the result held to the volume path rules.
///
/// # Errors
/// [`RouteError`] as for [`parse`]; an empty path is [`RouteError::NotFound`].
pub fn mounted_path(rest: &str) -> Result<VolumePath, RouteError> {
    if rest.len() > MAX_TARGET {
        return Err(RouteError::TooLong);
    }
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    if path.is_empty() {
        return Err(RouteError::NotFound);
    }
    let segments: Vec<String> = path.split('/').map(decode).collect::<Result<_, _>>()?;
    Ok(VolumePath::new(&segments.join("/"))?)
}

/// Parses a request target (path and optional query; the query is ignored here).
///
/// # Errors
/// [`RouteError`] for hostile or unknown targets.
pub fn parse(target: &str) -> Result<Route, RouteError> {
    if target.len() > MAX_TARGET {
        return Err(RouteError::TooLong);
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    let rest = path.strip_prefix('/').ok_or(RouteError::BadSegment)?;
    if rest.is_empty() {
        return Ok(Route::Home);
    }
    let raw: Vec<&str> = rest.split('/').collect();
    let segments: Vec<String> = raw.iter().map(|s| decode(s)).collect::<Result<_, _>>()?;
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    match seg.as_slice() {
        ["metrics"] => Ok(Route::Metrics),
        ["status"] => Ok(Route::Status),
        ["status.json"] => Ok(Route::StatusJson),
        ["healthz"] => Ok(Route::Health),
        ["readyz"] => Ok(Route::Ready),
        ["n"] => Ok(Route::Snapshot),
        ["log", "checkpoint"] => Ok(Route::LogCheckpoint),
        ["log", "lookup", id] => Ok(Route::LogLookup(hash(id)?)),
        ["log", "tile", ..] => tinycdn_tlog::TileId::parse(&seg[1..].join("/"))
            .map(Route::LogTile)
            .map_err(|_| RouteError::NotFound),
        ["ts"] => Ok(Route::Timestamp),
        ["r", n] => Ok(Route::Root(version(n)?)),
        ["m", id] => Ok(Route::Manifest(hash(id)?)),
        ["s", id] => Ok(Route::Signatures(hash(id)?)),
        ["x", id] => Ok(Route::DeltaIndex(hash(id)?)),
        ["d", base, target] => Ok(Route::Delta {
            base: hash(base)?,
            target: hash(target)?,
        }),
        ["t", volume, tag] => Ok(Route::Tag {
            volume: VolumeName::new(volume)?,
            tag: TagName::new(tag)?,
        }),
        ["o", name] => match name.strip_suffix(".x") {
            Some(h) => Ok(Route::Object {
                id: hash(h)?,
                exec: true,
            }),
            None => Ok(Route::Object {
                id: hash(name)?,
                exec: false,
            }),
        },
        ["v", vref, path @ ..] if !path.is_empty() => {
            let (volume, reference) = vref.split_once('@').ok_or(RouteError::NotFound)?;
            if reference.is_empty() {
                return Err(RouteError::NotFound);
            }
            Ok(Route::File {
                volume: VolumeName::new(volume)?,
                reference: reference.to_owned(),
                path: VolumePath::new(&path.join("/"))?,
            })
        }
        _ => Err(RouteError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mounted_paths() {
        assert_eq!(
            mounted_path("img/a%20b.jpg?w=640").map(|p| p.as_str().to_owned()),
            Ok("img/a b.jpg".to_owned())
        );
        for bad in [
            "",
            "?x",
            "a//b",
            "a/%2e%2e/b",
            "../etc/passwd",
            "a%2fb",
            "a/b/",
            "%c0%ae",
        ] {
            assert!(mounted_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn routes() {
        let h = "ab".repeat(32);
        assert_eq!(parse("/metrics"), Ok(Route::Metrics));
        assert_eq!(parse("/"), Ok(Route::Home));
        assert_eq!(parse("/?x=1"), Ok(Route::Home));
        assert_eq!(parse("//"), Err(RouteError::BadSegment));
        assert!(matches!(parse(&format!("/m/{h}")), Ok(Route::Manifest(_))));
        assert!(matches!(
            parse(&format!("/x/{h}")),
            Ok(Route::DeltaIndex(_))
        ));
        assert!(matches!(
            parse(&format!("/d/{h}/{h}")),
            Ok(Route::Delta { .. })
        ));
        assert!(parse(&format!("/d/{h}")).is_err());
        assert_eq!(parse("/n"), Ok(Route::Snapshot));
        assert_eq!(parse("/ts"), Ok(Route::Timestamp));
        assert_eq!(parse("/r/12"), Ok(Route::Root(12)));
        for bad in [
            "/r/0",
            "/r/012",
            "/r/+1",
            "/r/-1",
            "/r/1e3",
            "/r/99999999999999999999",
        ] {
            assert!(
                matches!(parse(bad), Err(RouteError::BadVersion(_))),
                "{bad}"
            );
        }
        assert!(parse(&format!("/d/{h}/..")).is_err());
        assert!(matches!(
            parse(&format!("/o/{h}.x")),
            Ok(Route::Object { exec: true, .. })
        ));
        match parse("/v/site-media@stable/img/hero%20shot.jpg?w=300") {
            Ok(Route::File {
                volume,
                reference,
                path,
            }) => {
                assert_eq!(volume.as_str(), "site-media");
                assert_eq!(reference, "stable");
                assert_eq!(path.as_str(), "img/hero shot.jpg");
            }
            other => panic!("{other:?}"),
        }
        // A Cyrillic volume name, percent-encoded, decodes to a valid single-script name.
        match parse("/v/%D1%84%D0%BE%D1%82%D0%BE@v1/a.jpg") {
            Ok(Route::File { volume, .. }) => assert_eq!(volume.as_str(), "фото"),
            other => panic!("{other:?}"),
        }
        // A mixed-script one is refused.
        assert!(matches!(
            parse("/v/m%D0%B5dia@v1/a.jpg"),
            Err(RouteError::Name(_))
        ));
    }

    #[test]
    fn hostile_paths_are_400() {
        for t in [
            "/v/media@stable/../etc/passwd",
            "/v/media@stable/%2e%2e/etc/passwd",
            "/v/media@stable/img/%2E%2E/%2e%2e/x",
            "/v/media@stable/a%2fb",
            "/v/media@stable/a%5c..%5cb",
            "/v/media@stable/a\\b",
            "/v/media@stable/%c0%ae%c0%ae/x",
            "/v/media@stable/a%00b",
            "/v/media@stable//x",
            "/v/media@stable/./x",
            "/v/media@stable/%e2%80%aex",
            "relative",
        ] {
            let err = parse(t).expect_err(t);
            assert_eq!(err.status(), 400, "{t}: {err}");
        }
        assert_eq!(parse("/nope").map_err(|e| e.status()), Err(404));
        assert_eq!(
            parse(&format!("/v/a@b/{}", "x".repeat(MAX_TARGET))),
            Err(RouteError::TooLong)
        );
        assert!(parse(&format!("/m/{}", "AB".repeat(32))).is_err());
    }

    proptest! {
        #[test]
        fn accepted_file_paths_never_escape(target in "/v/[a-z]{1,5}@[a-z]{1,5}/[a-z%./\\\\0-9A-F]{1,30}") {
            if let Ok(Route::File { path, .. }) = parse(&target) {
                prop_assert!(path.as_str().split('/').all(|c| c != ".." && c != "." && !c.is_empty()));
                prop_assert!(!path.as_str().contains('\\'));
            }
        }
    }
}
