//! The site role of an edge: volumes served as websites by `Host` (`--site HOST=VOLUME@REF`).
//!
//! Which file answers a path, the caching rules, `_headers` and `_redirects`, preview hosts and
//! the version a page is pinned to are `tinycdn-site`'s rules; here they meet the fabric (the
//! verified version, manifest and chunks) and the proxy (`--site-api` prefixes, answered by the
//! application through the RFC 9111 cache).
//!
//! - `config`: `--site` and `--site-api`;
//! - `serve`: one request: version, file, headers, status.

mod config;
mod serve;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tinycdn_core::VersionId;
use tinycdn_site::host::{self, HostMatch};
use tinycdn_site::pinning::History;
use tinycdn_site::Site;

pub use config::{ApiRoute, SiteConfig, SiteConfigError};

use crate::proxy::Proxy;

/// Versions whose rules are kept per site at most.
const MAX_RULES: usize = 16;

/// A site's rules for one version: parsed, or why they could not be.
type VersionRules = Result<Arc<Site>, String>;

/// One configured site.
#[derive(Debug)]
struct SiteState {
    config: SiteConfig,
    history: Mutex<History<VersionId>>,
    rules: Mutex<HashMap<VersionId, VersionRules>>,
}

/// The sites an edge serves, and the application behind their API prefixes.
#[derive(Debug)]
pub struct Sites {
    sites: Vec<SiteState>,
    api: Vec<ApiRoute>,
    proxy: Option<Arc<Proxy>>,
    /// Previous hops trusted to say the client used TLS.
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Seconds a superseded version's files stay served to pages that started on it.
    grace: u64,
    allow_external_redirects: bool,
    counters: Counters,
}

/// What the site role has done.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Answered with a file of the version the request was pinned to or the current one.
    pub served: std::sync::atomic::AtomicU64,
    /// Answered with a file of a superseded version, within the grace period.
    pub from_grace: std::sync::atomic::AtomicU64,
    /// Answered on a preview host.
    pub previews: std::sync::atomic::AtomicU64,
}

/// Which site a request is for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    index: usize,
    preview: Option<VersionId>,
}

impl Sites {
    /// Sites, with the API prefixes `api` answered by `proxy` (required when `api` is not empty).
    ///
    /// # Errors
    /// [`SiteConfigError::Duplicate`] when a host is named twice.
    pub fn new(
        sites: Vec<SiteConfig>,
        api: Vec<ApiRoute>,
        proxy: Option<Arc<Proxy>>,
        grace: std::time::Duration,
        allow_external_redirects: bool,
    ) -> Result<Self, SiteConfigError> {
        let mut seen = std::collections::HashSet::new();
        for s in &sites {
            if !seen.insert(s.host.clone()) {
                return Err(SiteConfigError::Duplicate(s.host.clone()));
            }
        }
        Ok(Self {
            sites: sites
                .into_iter()
                .map(|config| SiteState {
                    config,
                    history: Mutex::new(History::default()),
                    rules: Mutex::new(HashMap::new()),
                })
                .collect(),
            api,
            proxy,
            grace: grace.as_secs(),
            allow_external_redirects,
            counters: Counters::default(),
            trusted_proxies: Vec::new(),
        })
    }

    /// Previous hops whose `X-Forwarded-Proto`/`Forwarded: proto=` say the client used TLS
    /// (`--trusted-proxies`); nobody else's do.
    #[must_use]
    pub fn with_trusted_proxies(mut self, nets: Vec<ipnet::IpNet>) -> Self {
        self.trusted_proxies = nets;
        self
    }

    /// The configured sites.
    pub fn configs(&self) -> impl Iterator<Item = &SiteConfig> {
        self.sites.iter().map(|s| &s.config)
    }

    /// Whether `path` is one of the API prefixes the application answers.
    pub(crate) fn claims_api(&self, path: &str) -> bool {
        self.proxy.is_some() && self.api.iter().any(|a| a.claims(path))
    }

    /// The site a request's host (`Host`, or the URI's authority for HTTP/2) names, if any.
    pub(crate) fn target<B>(&self, req: &hyper::Request<B>) -> Option<Target> {
        let raw = request_host(req)?;
        let normal = host::normalise(raw)?;
        match host::classify(&normal, self.sites.iter().map(|s| s.config.host.as_str())) {
            HostMatch::Live(h) => Some(Target {
                index: self.index_of(h)?,
                preview: None,
            }),
            HostMatch::Preview(h, id) => Some(Target {
                index: self.index_of(h)?,
                preview: Some(VersionId::from_bytes(id)),
            }),
            HostMatch::None => None,
        }
    }

    fn index_of(&self, host: &str) -> Option<usize> {
        self.sites.iter().position(|s| s.config.host == host)
    }
}

/// The site role's Prometheus lines, every site's websites together; `misdirected`: requests
/// for a host no site is at.
pub(crate) fn metrics<'a>(
    e: &mut tinycdn_telemetry::Exposition,
    websites: impl Iterator<Item = &'a Sites>,
    misdirected: u64,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let mut sum = [0u64; 3];
    for w in websites {
        let c = &w.counters;
        for (s, v) in sum.iter_mut().zip([&c.served, &c.from_grace, &c.previews]) {
            *s += v.load(Relaxed);
        }
    }
    e.metric(
        "tinycdn_site_responses_total",
        "Website requests by how they were answered: served (the pinned or current version), grace (a file of a superseded version, for a page that started on it), preview (a preview host), misdirected (a host no site is at).",
        tinycdn_telemetry::Kind::Counter,
        [
            ("served", sum[0]),
            ("grace", sum[1]),
            ("preview", sum[2]),
            ("misdirected", misdirected),
        ]
        .into_iter()
        .map(|(k, v)| (vec![("result", k.to_owned())], v))
        .collect(),
    );
}

impl SiteState {
    fn rules_of(&self, id: VersionId) -> Option<VersionRules> {
        self.rules
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    fn keep_rules(&self, id: VersionId, rules: VersionRules) {
        let mut t = self.rules.lock().unwrap_or_else(PoisonError::into_inner);
        if t.len() >= MAX_RULES {
            t.clear();
        }
        t.insert(id, rules);
    }
}

/// The preview host of `version` of the site at `host`.
#[must_use]
pub fn preview_host(host: &str, version: &VersionId) -> String {
    format!("{}.{host}", host::preview_label(version.as_bytes()))
}

/// The host a request names: its `Host` field, or (HTTP/2) its URI's authority.
pub(crate) fn request_host<B>(req: &hyper::Request<B>) -> Option<&str> {
    req.headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| {
            req.uri()
                .authority()
                .map(hyper::http::uri::Authority::as_str)
        })
}
