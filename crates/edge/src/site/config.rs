//! `--site HOST=VOLUME@REF` and `--site-api PREFIX=URL`, parsed and checked.

use std::str::FromStr;

use thiserror::Error;
use tinycdn_core::names::VolumeName;

use crate::mount::RESERVED_PREFIX;

/// A site: requests for `host` are answered as a website from `volume@reference`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteConfig {
    /// The host name (lower case, no port).
    pub host: String,
    /// The volume.
    pub volume: VolumeName,
    /// A tag (followed as it moves) or a full version id (pinned).
    pub reference: String,
}

/// A path prefix of every site proxied to the application (`/api`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRoute {
    /// The prefix: requests at it or below it go to the application.
    pub prefix: String,
    /// The application's URL.
    pub origin: String,
}

/// A `--site` or `--site-api` that cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SiteConfigError {
    /// Not `HOST=VOLUME@REF`.
    #[error("--site {0:?} is not HOST=VOLUME@REF (for example www.example.com=site@stable)")]
    Syntax(String),
    /// Not a host name.
    #[error("--site {0:?}: {1:?} is not a host name (letters, digits, '-', '.'; no port)")]
    Host(String, String),
    /// A bad volume or reference name.
    #[error("--site {0:?}: {1}")]
    Name(String, String),
    /// The same host twice.
    #[error("--site names the host {0:?} twice")]
    Duplicate(String),
    /// Not `PREFIX=URL`.
    #[error("--site-api {0:?} is not PREFIX=URL (for example /api=http://127.0.0.1:8080)")]
    ApiSyntax(String),
    /// A bad prefix.
    #[error("--site-api prefix {0:?} must start with '/', have plain segments, not end with '/' and not be inside {RESERVED_PREFIX}")]
    ApiPrefix(String),
}

impl FromStr for SiteConfig {
    type Err = SiteConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (host, vref) = s
            .split_once('=')
            .ok_or_else(|| SiteConfigError::Syntax(s.to_owned()))?;
        let (volume, reference) = vref
            .split_once('@')
            .ok_or_else(|| SiteConfigError::Syntax(s.to_owned()))?;
        let normal = tinycdn_site::host::normalise(host)
            .filter(|h| h == host && !host.contains(':'))
            .ok_or_else(|| SiteConfigError::Host(s.to_owned(), host.to_owned()))?;
        let (volume, reference) = crate::mount::volume_ref(volume, reference)
            .map_err(|e| SiteConfigError::Name(s.to_owned(), e))?;
        Ok(Self {
            host: normal,
            volume,
            reference,
        })
    }
}

impl FromStr for ApiRoute {
    type Err = SiteConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (prefix, origin) = s
            .split_once('=')
            .filter(|(_, o)| !o.is_empty())
            .ok_or_else(|| SiteConfigError::ApiSyntax(s.to_owned()))?;
        let plain = crate::mount::plain_path(prefix);
        let reserved = crate::mount::reserved(prefix);
        if !plain || reserved {
            return Err(SiteConfigError::ApiPrefix(prefix.to_owned()));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            origin: origin.to_owned(),
        })
    }
}

impl ApiRoute {
    /// Whether `path` is at or below this prefix (`/api`, `/api/x`; not `/apix`).
    #[must_use]
    pub fn claims(&self, path: &str) -> bool {
        path.strip_prefix(self.prefix.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_parse() {
        let s: SiteConfig = "www.example.com=site@stable".parse().expect("valid");
        assert_eq!(s.host, "www.example.com");
        assert_eq!(s.reference, "stable");
        assert!(format!("a.test=site@{}", "ab".repeat(32))
            .parse::<SiteConfig>()
            .is_ok());
        for bad in [
            "www.example.com",
            "www.example.com=site",
            "WWW.example.com=site@stable",
            "example.com:8080=site@stable",
            "exa mple.com=site@stable",
            "=site@stable",
            "example.com=s\u{0435}te@stable",
            "example.com=site@",
        ] {
            assert!(bad.parse::<SiteConfig>().is_err(), "{bad}");
        }
    }

    #[test]
    fn api_routes_parse_and_claim() {
        let a: ApiRoute = "/api=http://127.0.0.1:8080".parse().expect("valid");
        assert!(a.claims("/api"));
        assert!(a.claims("/api/hello"));
        assert!(!a.claims("/apix"));
        assert!(!a.claims("/"));
        for bad in [
            "api=http://a",
            "/api",
            "/api=",
            "/api/=http://a",
            "/.tinycdn=http://a",
            "/a/../b=http://a",
        ] {
            assert!(bad.parse::<ApiRoute>().is_err(), "{bad}");
        }
    }
}
