//! One `[[site]]`: a tenant of the edge, matched by host.
//!
//! ```toml
//! [[site]]
//! name = "shop"                                  # metrics and logs (default: the first host)
//! hosts = ["shop.example", "*.shop.example"]
//! origin = "http://shop:8080"                    # its application, through the RFC 9111 cache
//! mounts = { "/static" = "shop-media@stable" }   # volumes at URL prefixes
//! purge_token_file = "/etc/tinycdn/shop.token"
//! credential_headers = ["X-Api-Key"]
//! ignore_cookies = ["_ga", "_ga_*"]
//! headers = { "Strict-Transport-Security" = "max-age=63072000" }
//! [site.images]
//! widths = [320, 640, 1280]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ConfigError, HostPattern};
use crate::mount::Mount;

/// One `[[site]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfigFile {
    /// The site's name in metrics, logs and reports (default: its first host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Host names (`shop.example`), wildcards (`*.shop.example`) or `*` (the default site).
    #[serde(with = "patterns")]
    pub hosts: Vec<HostPattern>,
    /// The application (`http://`, `https://` or `h2c://HOST:PORT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Certificate authorities an `https://` origin may chain to, besides the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_ca: Option<PathBuf>,
    /// Seconds the application has to send a response head.
    #[serde(default = "thirty")]
    pub origin_timeout: u64,
    /// Longest pause, in seconds, inside an application's body.
    #[serde(default = "thirty")]
    pub origin_body_timeout: u64,
    /// Volumes at URL prefixes: `{ "/static" = "VOLUME@REF" }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mounts: BTreeMap<String, String>,
    /// A volume served as this site's website (`VOLUME@REF`; exact hosts only, each version
    /// also at its preview host).
    #[serde(default, rename = "static", skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Path prefixes of the website answered by `origin` instead (`/api`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api: Vec<String>,
    /// Seconds a superseded website version stays served to pages that started on it.
    #[serde(default = "hour")]
    pub grace: u64,
    /// Serve website versions whose `_redirects` send clients to other hosts.
    #[serde(default)]
    pub allow_external_redirects: bool,
    /// Who may ask for which image variants.
    #[serde(default)]
    pub images: ImagePolicyConfig,
    /// The purge API's bearer token for this site's stored responses (a file only its owner
    /// may read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge_token_file: Option<PathBuf>,
    /// Request fields that identify a user, besides `Authorization` and `Cookie`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credential_headers: Vec<String>,
    /// Cookies that identify nobody (`_ga`, `_ga_*`), stripped before keying.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_cookies: Vec<String>,
    /// Response fields set on every response of the site.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The line of the `[[site]]` header.
    #[serde(skip)]
    pub line: Option<usize>,
}

/// `[site.images]`: the flags `--image-*` of one site.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImagePolicyConfig {
    /// Widths and heights a variant may ask for (default: next/image's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub widths: Option<Vec<u32>>,
    /// Qualities a variant may ask for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qualities: Option<Vec<u8>>,
    /// Only URLs signed with a key in this file (one per line); the allowlist then applies
    /// only if named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sign_keys: Option<PathBuf>,
    /// Accept signatures over path and query alone (old `sign-url`).
    pub legacy_signatures: bool,
    /// Any variant anyone asks for: only on a trusted network.
    pub allow_any: bool,
}

fn thirty() -> u64 {
    30
}
fn hour() -> u64 {
    3600
}

mod patterns {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::HostPattern;

    pub fn serialize<S: Serializer>(v: &[HostPattern], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(ToString::to_string))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<HostPattern>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|h| HostPattern::parse(h).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// The most hosts, mounts and headers one site may name.
const MAX_ENTRIES: usize = 1024;

impl SiteConfigFile {
    /// A site for `hosts` with every other key at its default.
    #[must_use]
    pub fn new(hosts: Vec<HostPattern>) -> Self {
        Self {
            name: None,
            hosts,
            origin: None,
            origin_ca: None,
            origin_timeout: thirty(),
            origin_body_timeout: thirty(),
            mounts: BTreeMap::new(),
            website: None,
            api: Vec::new(),
            grace: hour(),
            allow_external_redirects: false,
            images: ImagePolicyConfig::default(),
            purge_token_file: None,
            credential_headers: Vec::new(),
            ignore_cookies: Vec::new(),
            headers: BTreeMap::new(),
            line: None,
        }
    }

    /// Its name: `name`, else its first host.
    #[must_use]
    pub fn name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.hosts.first().map(ToString::to_string))
            .unwrap_or_default()
    }

    /// Its mounts, parsed (checked by [`SiteConfigFile::check`]).
    #[must_use]
    pub fn parsed_mounts(&self) -> Vec<Mount> {
        self.mounts
            .iter()
            .filter_map(|(p, v)| format!("{p}={v}").parse().ok())
            .collect()
    }

    /// The error for `key` of the `index`th site.
    pub(super) fn invalid(&self, index: usize, key: &str, why: String) -> ConfigError {
        ConfigError::Invalid {
            line: self.line,
            key: format!("site[{index}].{key}"),
            why,
        }
    }

    pub(super) fn resolve_paths(&mut self, base: &Path) {
        for p in [
            &mut self.origin_ca,
            &mut self.purge_token_file,
            &mut self.images.sign_keys,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }

    pub(super) fn redact(&mut self) {
        self.origin = self.origin.as_deref().map(super::redact_url);
        for (name, value) in &mut self.headers {
            let n = name.to_ascii_lowercase();
            if [
                "authorization",
                "cookie",
                "token",
                "secret",
                "key",
                "password",
            ]
            .iter()
            .any(|s| n.contains(s))
            {
                *value = "<redacted>".into();
            }
        }
    }

    /// Every rule of one site that needs no I/O; `fabric`: the edge has upstream mirrors.
    pub(super) fn check(&self, index: usize, fabric: bool) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| self.invalid(index, key, why);
        if self.hosts.is_empty() {
            return Err(bad(
                "hosts",
                "name at least one host (`*` for the default site)".into(),
            ));
        }
        if self.hosts.len() > MAX_ENTRIES
            || self.mounts.len() > MAX_ENTRIES
            || self.headers.len() > MAX_ENTRIES
        {
            return Err(bad(
                "hosts",
                format!("at most {MAX_ENTRIES} hosts, mounts and headers per site"),
            ));
        }
        if let Some(n) = &self.name {
            if n.is_empty()
                || n.len() > 64
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.*".contains(&b))
            {
                return Err(bad(
                    "name",
                    format!("{n:?}: 1 to 64 letters, digits, '-', '_', '.'"),
                ));
            }
        }
        if let Some(o) = &self.origin {
            let ok = ["http://", "https://", "h2c://"]
                .iter()
                .any(|s| o.strip_prefix(s).is_some_and(|r| !r.is_empty()));
            if !ok {
                return Err(bad(
                    "origin",
                    format!("{o:?} is not an http://, https:// or h2c:// URL"),
                ));
            }
        } else if self.origin_ca.is_some() || self.purge_token_file.is_some() {
            return Err(bad(
                if self.origin_ca.is_some() {
                    "origin_ca"
                } else {
                    "purge_token_file"
                },
                "applies to an origin: the site has none".into(),
            ));
        }
        if self.origin_timeout == 0 || self.origin_body_timeout == 0 {
            return Err(bad("origin_timeout", "must be at least 1 second".into()));
        }
        for (prefix, vref) in &self.mounts {
            if let Err(e) = format!("{prefix}={vref}").parse::<Mount>() {
                return Err(bad(&format!("mounts.{prefix:?}"), e.to_string()));
            }
        }
        if let Some(w) = &self.website {
            let Some((v, r)) = w.split_once('@') else {
                return Err(bad("static", format!("{w:?} is not VOLUME@REF")));
            };
            crate::mount::volume_ref(v, r).map_err(|e| bad("static", e))?;
            if let Some(p) = self
                .hosts
                .iter()
                .find(|h| !matches!(h, HostPattern::Exact(_)))
            {
                return Err(bad(
                    "static",
                    format!("a website is served at exact hosts (its previews at <label>.HOST); {p} is not one"),
                ));
            }
        }
        for a in &self.api {
            if self.website.is_none() || self.origin.is_none() {
                return Err(bad(
                    "api",
                    "prefixes of a website answered by its origin: give both `static` and `origin`"
                        .into(),
                ));
            }
            if format!("{a}=x").parse::<crate::ApiRoute>().is_err() {
                return Err(bad(
                    "api",
                    format!("{a:?} must start with '/', have plain segments and not end with '/'"),
                ));
            }
        }
        if !fabric && (!self.mounts.is_empty() || self.website.is_some()) {
            return Err(bad(
                if self.mounts.is_empty() {
                    "static"
                } else {
                    "mounts"
                },
                "volumes come from upstream.mirrors, verified with upstream.trust: the edge has none".into(),
            ));
        }
        if self.origin.is_none() && self.mounts.is_empty() && self.website.is_none() && !fabric {
            return Err(bad(
                "origin",
                "the site serves nothing: give an origin, mounts or a static website".into(),
            ));
        }
        tinycdn_cache_policy::credentials::CredentialRules::new(
            &self.credential_headers,
            &self.ignore_cookies,
        )
        .map_err(|e| bad("credential_headers", e.to_string()))?;
        for (name, value) in &self.headers {
            let n = http::HeaderName::from_bytes(name.as_bytes());
            let v = http::HeaderValue::from_str(value);
            if n.is_err() || v.is_err() {
                return Err(bad(
                    &format!("headers.{name:?}"),
                    "not a valid response field".into(),
                ));
            }
            let lower = name.to_ascii_lowercase();
            if [
                "content-length",
                "transfer-encoding",
                "connection",
                "content-encoding",
                "content-range",
            ]
            .contains(&lower.as_str())
            {
                return Err(bad(
                    &format!("headers.{name:?}"),
                    "framing fields are the edge's own".into(),
                ));
            }
        }
        let i = &self.images;
        if i.allow_any && (i.sign_keys.is_some() || i.widths.is_some() || i.qualities.is_some()) {
            return Err(bad(
                "images.allow_any",
                "cannot go with sign_keys, widths or qualities".into(),
            ));
        }
        if i.legacy_signatures && i.sign_keys.is_none() {
            return Err(bad("images.legacy_signatures", "needs sign_keys".into()));
        }
        if i.widths
            .as_ref()
            .is_some_and(|w| w.is_empty() || w.contains(&0))
            || i.qualities
                .as_ref()
                .is_some_and(|q| q.is_empty() || q.iter().any(|&q| q == 0 || q > 100))
        {
            return Err(bad(
                "images",
                "widths are 1 or more, qualities 1 to 100, and each list names at least one".into(),
            ));
        }
        Ok(())
    }
}
