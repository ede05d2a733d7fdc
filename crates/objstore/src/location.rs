//! Where a store is, from the `--store` argument: a directory, or an object store named by URL.
//! Pure parsing, no I/O.

use std::fmt;
use std::path::PathBuf;

use crate::ObjStoreError;

/// The object-store services a URL can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Amazon S3 or an S3-compatible server (`s3://`, `s3a://`).
    S3,
    /// Google Cloud Storage (`gs://`).
    Gcs,
    /// Azure Blob Storage (`az://`, `azure://`, `abfs://`, `abfss://`).
    Azure,
    /// `object_store`'s in-memory store (`memory://`): gone when the process exits.
    Memory,
}

/// A parsed `--store` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory on this machine (a path, or a `file://` URL).
    Local(PathBuf),
    /// An object store: the service, the bucket (container), and the key prefix the store lives
    /// under (no leading or trailing `/`; empty for the bucket's root).
    Object {
        /// Which service.
        service: Service,
        /// The bucket or container (`memory://` has none: empty).
        bucket: String,
        /// Key prefix.
        prefix: String,
        /// The URL as given, for messages.
        url: String,
    },
}

/// Schemes accepted, with the service each names.
pub const SCHEMES: &[(&str, Service)] = &[
    ("s3", Service::S3),
    ("s3a", Service::S3),
    ("gs", Service::Gcs),
    ("az", Service::Azure),
    ("azure", Service::Azure),
    ("abfs", Service::Azure),
    ("abfss", Service::Azure),
    ("memory", Service::Memory),
];

/// The URL scheme of `s` if it starts like a URL (`scheme://`), per RFC 3986's scheme syntax.
fn scheme_of(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// A `--store` value without `scheme://`: a directory, unless it looks like a URL typed wrong
/// (`s3:bucket`, `./store?region=x`), which would otherwise quietly become a local folder.
fn local(s: &str) -> Result<Location, ObjStoreError> {
    if let Some((head, _)) = s.split_once(':') {
        let lower = head.to_ascii_lowercase();
        if lower == "file" || SCHEMES.iter().any(|(name, _)| *name == lower) {
            return Err(ObjStoreError::BadUrl {
                url: s.to_owned(),
                why: format!(
                    "looks like a {lower} URL without `//`; hint: write {lower}://BUCKET/PREFIX \
                     (or ./{s} for a directory of that name)"
                ),
            });
        }
    }
    if s.contains(['?', '#']) {
        return Err(ObjStoreError::BadUrl {
            url: s.to_owned(),
            why: "a store path with `?` or `#` looks like a URL with a query; hint: set options \
                  in the environment (AWS_ENDPOINT_URL, AWS_REGION, ...) and name a directory \
                  without them"
                .into(),
        });
    }
    Ok(Location::Local(PathBuf::from(s)))
}

impl Location {
    /// Parses a `--store` value: a path, `file:///abs/path`, or `s3://bucket/prefix` and the other
    /// [`SCHEMES`]. Any other `scheme://` is refused rather than taken for a directory name.
    ///
    /// # Errors
    /// [`ObjStoreError::UnsupportedScheme`], [`ObjStoreError::BadUrl`].
    pub fn parse(s: &str) -> Result<Self, ObjStoreError> {
        let Some(scheme) = scheme_of(s) else {
            if s.is_empty() {
                return Err(ObjStoreError::BadUrl {
                    url: s.to_owned(),
                    why: "is empty".into(),
                });
            }
            return local(s);
        };
        let lower = scheme.to_ascii_lowercase();
        let rest = &s[scheme.len() + 3..];
        if lower == "file" {
            if !rest.starts_with('/') {
                return Err(ObjStoreError::BadUrl {
                    url: s.to_owned(),
                    why: "a file URL needs an absolute path (file:///srv/store)".into(),
                });
            }
            let path = percent_encoding::percent_decode_str(rest)
                .decode_utf8()
                .map_err(|_| ObjStoreError::BadUrl {
                    url: s.to_owned(),
                    why: "the path is not UTF-8 once decoded".into(),
                })?;
            return Ok(Self::Local(PathBuf::from(path.as_ref())));
        }
        let Some(&(_, service)) = SCHEMES.iter().find(|(name, _)| *name == lower) else {
            return Err(ObjStoreError::UnsupportedScheme {
                url: s.to_owned(),
                scheme: scheme.to_owned(),
            });
        };
        if rest.contains(['?', '#']) {
            return Err(ObjStoreError::BadUrl {
                url: s.to_owned(),
                why: "queries and fragments are not part of a store's name; set options in the environment (AWS_ENDPOINT_URL, AWS_REGION, ...)".into(),
            });
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if service != Service::Memory && bucket.is_empty() {
            return Err(ObjStoreError::BadUrl {
                url: s.to_owned(),
                why: "names no bucket (s3://BUCKET/PREFIX)".into(),
            });
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .split('/')
            .any(|c| (c.is_empty() && !prefix.is_empty()) || c == "." || c == "..")
            || prefix.contains(['\0', '\\'])
        {
            return Err(ObjStoreError::BadUrl {
                url: s.to_owned(),
                why: "the prefix has an empty, `.` or `..` component, a NUL or a backslash".into(),
            });
        }
        Ok(Self::Object {
            service,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            url: s.to_owned(),
        })
    }

    /// Whether this is a directory on this machine.
    #[must_use]
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local(_))
    }
}

impl std::str::FromStr for Location {
    type Err = ObjStoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(p) => write!(f, "{}", p.display()),
            Self::Object { url, .. } => f.write_str(url),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paths_and_urls() {
        assert_eq!(
            Location::parse("store").expect("path"),
            Location::Local("store".into())
        );
        assert_eq!(
            Location::parse("./a://b").expect("path"),
            Location::Local("./a://b".into())
        );
        assert_eq!(
            Location::parse("file:///srv/my%20store").expect("file"),
            Location::Local("/srv/my store".into())
        );
        match Location::parse("s3://media/edge/eu/").expect("s3") {
            Location::Object {
                service,
                bucket,
                prefix,
                ..
            } => {
                assert_eq!(service, Service::S3);
                assert_eq!(bucket, "media");
                assert_eq!(prefix, "edge/eu");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Location::parse("S3://b").expect("case"),
            Location::Object {
                service: Service::S3,
                ..
            }
        ));
        assert!(matches!(
            Location::parse("memory://").expect("memory"),
            Location::Object {
                service: Service::Memory,
                ..
            }
        ));
    }

    #[test]
    fn refusals() {
        for bad in ["http://x/y", "ftp://b/p", "s4://b", "hdfs://n/p"] {
            assert!(
                matches!(
                    Location::parse(bad),
                    Err(ObjStoreError::UnsupportedScheme { .. })
                ),
                "{bad}"
            );
        }
        for bad in [
            "s3://",
            "s3:///prefix",
            "s3://b/a//c",
            "s3://b/../x",
            "s3://b/p?region=x",
            "file://relative",
            "",
            "s3:bucket",
            "S3:bucket/prefix",
            "gs:b",
            "file:store",
            "./st?x=1",
            "store#frag",
        ] {
            assert!(
                matches!(Location::parse(bad), Err(ObjStoreError::BadUrl { .. })),
                "{bad}"
            );
        }
        let msg = Location::parse("http://x/y")
            .expect_err("refused")
            .to_string();
        assert!(msg.contains("s3://"), "{msg}");
    }

    proptest! {
        #[test]
        fn never_panics_and_urls_never_become_paths(s in "\\PC{0,40}") {
            if let Ok(Location::Local(p)) = Location::parse(&s) {
                // Whatever was taken for a path does not start like a URL.
                prop_assert!(scheme_of(&s).is_none_or(|sc| sc.eq_ignore_ascii_case("file")), "{p:?}");
            }
        }

        #[test]
        fn object_prefixes_are_clean(bucket in "[a-z0-9]{1,10}", parts in proptest::collection::vec("[a-z0-9._-]{1,6}", 0..4)) {
            let url = format!("s3://{bucket}/{}", parts.join("/"));
            match Location::parse(&url) {
                Ok(Location::Object { prefix, .. }) => {
                    prop_assert!(!prefix.starts_with('/') && !prefix.ends_with('/'));
                    prop_assert!(prefix.split('/').all(|c| c != "." && c != ".."));
                }
                Ok(other) => prop_assert!(false, "{other:?}"),
                Err(e) => prop_assert!(parts.iter().any(|p| p == "." || p == ".."), "{e}"),
            }
        }
    }
}
