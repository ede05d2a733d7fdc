//! The sites an edge serves now (one `[[site]]` each), found by a request's host, and what each
//! has served. A reload replaces the whole table at once ([`crate::Edge::reload`]); a request
//! keeps the table it started with.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hyper::header::{HeaderName, HeaderValue};
use hyper::Request;
use tinycdn_site::host::{classify, normalise, HostMatch};

use crate::config::hosts::host_of;
use crate::config::{HostPattern, HostTable, SiteConfigFile};
use crate::mount::Mount;
use crate::proxy::Proxy;
use crate::site::Sites;
use tinycdn_telemetry::{Exposition, Kind};

/// One site as it serves: its application, its mounts, its website, its fields.
#[derive(Debug)]
pub(crate) struct VirtualHost {
    /// Its name (the `site` label).
    pub name: Arc<str>,
    /// What it was built from (a reload keeps a site whose file section did not change).
    pub config: SiteConfigFile,
    /// The proxy in front of its application.
    pub proxy: Option<Arc<Proxy>>,
    /// Volumes at URL prefixes, the longest prefix first.
    pub mounts: Vec<Mount>,
    /// A volume served as its website.
    pub website: Option<Sites>,
    /// Response fields set on each of its responses.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// What it has served (kept across reloads by name).
    pub counters: Arc<SiteCounters>,
}

/// What one site has served.
#[derive(Debug, Default)]
pub(crate) struct SiteCounters {
    /// Responses.
    pub responses: AtomicU64,
    /// Body bytes announced.
    pub sent: AtomicU64,
    /// Body bytes of responses with this cache's `Cache-Status`: from the cache, and not.
    pub cache_bytes: [AtomicU64; 2],
}

/// The sites, by host.
#[derive(Debug, Default)]
pub(crate) struct VirtualHosts {
    table: HostTable<usize>,
    /// Website hosts (exact), for their preview hosts (`<label>.HOST`).
    websites: Vec<(String, usize)>,
    /// The sites, in file order.
    pub all: Vec<Arc<VirtualHost>>,
}

impl VirtualHosts {
    /// The table of `sites` (their hosts were checked to be distinct).
    pub fn new(sites: Vec<Arc<VirtualHost>>) -> Self {
        let mut table = HostTable::default();
        let mut websites = Vec::new();
        for (i, s) in sites.iter().enumerate() {
            for h in &s.config.hosts {
                let _ = table.insert(h, i);
                if let (HostPattern::Exact(name), Some(_)) = (h, &s.website) {
                    websites.push((name.clone(), i));
                }
            }
        }
        Self {
            table,
            websites,
            all: sites,
        }
    }

    /// Every host pattern the sites answer, in file order (for the 421 a local client gets).
    pub fn names(&self) -> Vec<String> {
        self.all
            .iter()
            .flat_map(|s| s.config.hosts.iter().map(ToString::to_string))
            .collect()
    }

    /// The site of a request: its `Host` (or, in HTTP/2, its authority) by exact name, a
    /// website's preview host, the longest wildcard, then the default site.
    pub fn find<B>(&self, req: &Request<B>) -> Option<&Arc<VirtualHost>> {
        self.find_host(crate::site::request_host(req))
    }

    /// The site of a `Host` field value (`None`: the request named no host).
    pub fn find_host(&self, raw: Option<&str>) -> Option<&Arc<VirtualHost>> {
        let host = raw.and_then(host_of);
        if let Some(h) = &host {
            if let Some(&i) = self.table.get_exact(h) {
                return self.all.get(i);
            }
            if !self.websites.is_empty() {
                if let Some(normal) = normalise(h) {
                    if let HostMatch::Preview(site, _) =
                        classify(&normal, self.websites.iter().map(|(n, _)| n.as_str()))
                    {
                        let i = self.websites.iter().find(|(n, _)| n == site)?.1;
                        return self.all.get(i);
                    }
                }
            }
        }
        self.table
            .get(host.as_deref())
            .and_then(|&i| self.all.get(i))
    }

    /// Whether the key of a stored response (`scheme://host/path`) belongs to a site whose
    /// purge token is `token`: what a purge with that token may remove.
    pub fn purgeable_with(&self, token: &str, key: &str) -> bool {
        let origin = tinycdn_cache_policy::key::origin_of(key);
        let host = origin.split_once("://").map_or(origin, |(_, h)| h);
        self.find_host(Some(host))
            .and_then(|s| s.proxy.as_ref())
            .is_some_and(|p| p.config().purge_token.as_deref() == Some(token))
    }
}

/// Counters of every site ever served, by name, so that a reload does not reset them.
#[derive(Debug, Default)]
pub(crate) struct CounterBook {
    by_name: Mutex<HashMap<Arc<str>, Arc<SiteCounters>>>,
}

impl CounterBook {
    /// The counters of the site `name`.
    pub fn of(&self, name: &Arc<str>) -> Arc<SiteCounters> {
        self.by_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.clone())
            .or_default()
            .clone()
    }

    /// `tinycdn_site_*` by site.
    pub fn metrics(&self, e: &mut Exposition) {
        let book = self.by_name.lock().unwrap_or_else(PoisonError::into_inner);
        let mut sites: Vec<_> = book.iter().collect();
        sites.sort_by(|a, b| a.0.cmp(b.0));
        let label = |n: &Arc<str>| vec![("site", n.to_string())];
        e.metric(
            "tinycdn_site_requests_total",
            "Responses sent, by site (the [[site]] a request's host belongs to).",
            Kind::Counter,
            sites
                .iter()
                .map(|(n, c)| (label(n), c.responses.load(Ordering::Relaxed)))
                .collect(),
        );
        e.metric(
            "tinycdn_site_body_bytes_total",
            "Body bytes of responses carrying this cache's Cache-Status, by site: served from the cache (hit, stale) or not.",
            Kind::Counter,
            sites
                .iter()
                .flat_map(|(n, c)| {
                    ["hit", "other"].iter().zip(&c.cache_bytes).map(move |(r, v)| {
                        (
                            vec![("site", n.to_string()), ("result", (*r).to_owned())],
                            v.load(Ordering::Relaxed),
                        )
                    })
                })
                .collect(),
        );
    }
}
