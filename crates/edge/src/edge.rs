//! The edge node: one listener in front of the roles it plays, sharing one chunk cache.
//!
//! Routing, in order:
//! 1. `/.tinycdn/…`: the edge's own routes (`metrics`, `healthz`, `purge`, and the fabric's
//!    `v/…`, `m/…`, `t/…`, …), on every host;
//! 2. the site (`[[site]]`) the request's host belongs to ([`crate::vhost`]): exact name, a
//!    website's preview host, the longest `*.` wildcard, the default site `*`; a host no site
//!    takes gets the fabric's routes or a 421. Then, within the site:
//! 3. its website (`static`), when the host is one of the website's;
//! 4. a mount prefix: a file of the mounted volume;
//! 5. its `origin`: everything else goes to the application through the proxy; without one,
//!    the fabric's routes are served at the root (`/v/…`, `/metrics`, …), as an edge in front
//!    of tinycdn origins always has.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tinycdn_core::root::RootError;
use tinycdn_http::route::{self, Route};
use tinycdn_server::body::Body;
use tinycdn_server::respond::{refuse_method, Reply};
use tinycdn_server::ConnInfo;
use tinycdn_volume::trust::Trust;

use crate::cache::ChunkCache;
use crate::fabric::Fabric;
use crate::mount::{Mount, RESERVED_PREFIX};
use crate::proxy::Proxy;
use tinycdn_fetch::Upstreams;
use tinycdn_telemetry::{Exposition, Kind};

use crate::admin::{AdminPolicy, Side, PEER_ROUTE};
use crate::config::{EdgeConfig, HostPattern, SiteConfigFile};
use crate::vhost::{CounterBook, VirtualHost, VirtualHosts};

/// An edge node.
#[derive(Debug)]
pub struct Edge {
    pub(crate) cache: Arc<ChunkCache>,
    pub(crate) fabric: Option<Arc<Fabric>>,
    /// The sites, by host: replaced whole on reload.
    hosts: RwLock<Arc<VirtualHosts>>,
    /// The stored responses every site's proxy shares (opened with the first site that has an
    /// application, kept across reloads).
    pub(crate) proxy_store: std::sync::OnceLock<crate::proxy::ProxyShared>,
    /// Each site's counters, by name, across reloads.
    pub(crate) book: CounterBook,
    /// The configuration in force (from [`Edge::start`] or the last reload).
    pub(crate) config: std::sync::Mutex<Option<EdgeConfig>>,
    /// Reloads applied and refused.
    pub(crate) reloads: [AtomicU64; 2],
    /// Requests for a host no site takes.
    misdirected: AtomicU64,
    pub(crate) images: Option<Arc<crate::images::Images>>,
    responses: [AtomicU64; 6],
    bytes_served: AtomicU64,
    /// Body bytes of responses carrying this cache's `Cache-Status`: answered from the cache
    /// (hit or stale), and the rest (misses, collapsed, passes, revalidations).
    cache_body_bytes: [AtomicU64; 2],
    http: tinycdn_telemetry::HttpMetrics,
    pub(crate) pop: std::sync::OnceLock<String>,
    pub(crate) admin: std::sync::OnceLock<AdminPolicy>,
    /// The process drains: `/readyz` answers 503.
    draining: std::sync::atomic::AtomicBool,
}

impl Edge {
    /// An edge filling from `upstreams`, accepting what `trust` signed, caching in `cache`.
    #[must_use]
    pub fn new(upstreams: Upstreams, trust: Trust, cache: ChunkCache) -> Arc<Self> {
        let cache = Arc::new(cache);
        let fabric = Fabric::new(upstreams, trust, cache.clone());
        Self::with_roles(cache, Some(fabric), None, Vec::new())
    }

    /// An edge with the roles given: a fabric (volumes from tinycdn mirrors), a proxy (an
    /// application) and mounts of the fabric's volumes at URL prefixes. The caller has checked
    /// that mounts come with a fabric.
    #[must_use]
    pub fn with_roles(
        cache: Arc<ChunkCache>,
        fabric: Option<Fabric>,
        proxy: Option<Proxy>,
        mounts: Vec<Mount>,
    ) -> Arc<Self> {
        Self::with_images(cache, fabric, proxy, mounts, None)
    }

    /// [`Edge::with_roles`], with the image engine the fabric and the proxy were given (see
    /// [`Fabric::set_images`], [`Proxy::set_images`]) for its metrics: one default site (`*`)
    /// with the proxy and the mounts. [`Edge::start`] builds an edge from a whole
    /// configuration instead.
    #[must_use]
    pub fn with_images(
        cache: Arc<ChunkCache>,
        fabric: Option<Fabric>,
        proxy: Option<Proxy>,
        mounts: Vec<Mount>,
        images: Option<Arc<crate::images::Images>>,
    ) -> Arc<Self> {
        let edge = Self::bare(cache, fabric.map(Arc::new), images);
        let mut mounts = mounts;
        // The longest prefix wins.
        mounts.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        let name: Arc<str> = Arc::from("*");
        let site = VirtualHost {
            counters: edge.book.of(&name),
            name,
            config: SiteConfigFile::new(vec![HostPattern::Any]),
            proxy: proxy.map(Arc::new),
            mounts,
            website: None,
            headers: Vec::new(),
        };
        edge.set_hosts(VirtualHosts::new(vec![Arc::new(site)]));
        Arc::new(edge)
    }

    /// An edge with no site yet.
    pub(crate) fn bare(
        cache: Arc<ChunkCache>,
        fabric: Option<Arc<Fabric>>,
        images: Option<Arc<crate::images::Images>>,
    ) -> Self {
        Self {
            cache,
            fabric,
            hosts: RwLock::new(Arc::new(VirtualHosts::default())),
            proxy_store: std::sync::OnceLock::new(),
            book: CounterBook::default(),
            config: std::sync::Mutex::new(None),
            reloads: Default::default(),
            misdirected: AtomicU64::new(0),
            images,
            responses: Default::default(),
            bytes_served: AtomicU64::new(0),
            cache_body_bytes: Default::default(),
            http: tinycdn_telemetry::HttpMetrics::default(),
            pop: std::sync::OnceLock::new(),
            admin: std::sync::OnceLock::new(),
            draining: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The sites now.
    pub(crate) fn hosts(&self) -> Arc<VirtualHosts> {
        self.hosts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `hosts` in place of the sites: requests that started keep the old ones.
    pub(crate) fn set_hosts(&self, hosts: VirtualHosts) {
        *self.hosts.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(hosts);
    }

    /// Whether the process drains (`/readyz` answers 503).
    #[must_use]
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The cache, for its counters.
    #[must_use]
    pub fn cache(&self) -> &ChunkCache {
        &self.cache
    }

    /// The fabric's mirrors, when this edge serves volumes from upstream tinycdn mirrors.
    #[must_use]
    pub fn upstreams(&self) -> Option<&Upstreams> {
        self.fabric.as_deref().map(Fabric::upstreams)
    }

    /// The proxy of the first site that fronts an application.
    #[must_use]
    pub fn proxy(&self) -> Option<Arc<Proxy>> {
        self.hosts().all.iter().find_map(|s| s.proxy.clone())
    }

    /// The names of the sites served now, in file order.
    #[must_use]
    pub fn site_names(&self) -> Vec<String> {
        self.hosts()
            .all
            .iter()
            .map(|s| s.name.to_string())
            .collect()
    }

    /// Before serving: the fabric's trust root followed through the rotations the cache disk
    /// holds, never older than the one it pinned (see [`Fabric::start_root`]).
    ///
    /// # Errors
    /// [`RootError::Rollback`]; a stored rotation that does not verify.
    pub fn start_root(&self) -> Result<(), RootError> {
        self.fabric.as_ref().map_or(Ok(()), |f| f.start_root())
    }

    /// Where operators' routes are served and who may read metrics and status (once; by
    /// default [`AdminPolicy::default`]: on the public listener, metrics and status for loopback
    /// and private addresses).
    pub fn set_admin(&self, policy: AdminPolicy) {
        let _ = self.admin.set(policy);
    }

    /// Names the point of presence this edge serves (the `pop` label of its metrics); once.
    pub fn set_pop(&self, pop: &str) {
        let _ = self.pop.set(pop.to_owned());
    }

    /// The point of presence (`default` unless set).
    #[must_use]
    pub fn pop(&self) -> &str {
        self.pop.get().map_or("default", String::as_str)
    }

    /// What kind of request this is, for metrics and logs: decided as [`Edge::route`] will
    /// dispatch it, never by the raw path.
    fn class_of<B>(&self, req: &Request<B>, site: Option<&VirtualHost>) -> &'static str {
        let path = req.uri().path();
        let image = req
            .uri()
            .query()
            .is_some_and(|q| matches!(tinycdn_image::params::split(q), Ok(Some(_))));
        if let Some(rest) = path
            .strip_prefix(RESERVED_PREFIX)
            .filter(|r| r.starts_with('/'))
        {
            if rest == "/purge" {
                return "purge";
            }
            if rest.starts_with(PEER_ROUTE) {
                return "peer";
            }
            return route::parse(rest).map_or("error", |r| r.class());
        }
        if let Some(site) = site {
            if let Some(w) = site.website.as_ref().filter(|w| w.target(req).is_some()) {
                return if w.claims_api(path) {
                    "proxy"
                } else if image {
                    "image"
                } else {
                    "site"
                };
            }
            if site.mounts.iter().any(|m| m.below(path).is_some()) {
                return if image { "image" } else { "mount" };
            }
            if site.proxy.is_some() {
                return if image { "image" } else { "proxy" };
            }
        }
        match route::parse(path) {
            Ok(Route::File { .. }) if image => "image",
            Ok(r) => r.class(),
            Err(_) => "error",
        }
    }

    /// Answers one request that came on a connection described by `info` to the public
    /// listener.
    pub async fn answer(
        self: &Arc<Self>,
        req: Request<Incoming>,
        info: ConnInfo,
    ) -> Response<Body> {
        self.answer_on(req, info, Side::Public).await
    }

    /// Answers one request that came on a connection described by `info` to the listener
    /// `side`: operators' routes are served where [`crate::admin::decide`] says.
    pub async fn answer_on(
        self: &Arc<Self>,
        req: Request<Incoming>,
        info: ConnInfo,
        side: Side,
    ) -> Response<Body> {
        let hosts = self.hosts();
        let site = hosts.find(&req).cloned();
        let fronts_app = site.as_ref().is_some_and(|s| s.proxy.is_some());
        let route = crate::admin::classify(req.uri().path(), fronts_app);
        let policy = self.admin.get_or_init(AdminPolicy::default);
        let verdict = crate::admin::decide(policy, side, route, info.peer.ip());
        if verdict != crate::admin::Verdict::Serve {
            return crate::admin::refusal(verdict).into_response(req.method() == Method::HEAD);
        }
        let started = std::time::Instant::now();
        let head = req.method() == Method::HEAD;
        let method = tinycdn_telemetry::http::method_label(req.method().as_str());
        let route_class = self.class_of(&req, site.as_deref());
        let span = tinycdn_telemetry::trace::server_span(
            method,
            route_class,
            req.headers(),
            req.uri().path(),
            self.pop(),
        );
        let mut resp = tracing::Instrument::instrument(
            self.route(req, info, &hosts, site.as_ref()),
            span.clone(),
        )
        .await;
        if let Some(s) = &site {
            for (name, value) in &s.headers {
                resp.headers_mut().insert(name.clone(), value.clone());
            }
        }
        span.record("http.response.status_code", resp.status().as_u16());
        self.http.observe(
            method,
            resp.status().as_u16(),
            route_class,
            started.elapsed(),
        );
        // This cache's verdict on the response, from its own `Cache-Status` (RFC 9211): answered
        // from the cache (hit, stale) or not; none for the edge's own routes.
        let from_cache = resp
            .headers()
            .get("cache-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| tinycdn_telemetry::access::cache_result(v, "tinycdn"))
            .map(|r| matches!(r, "hit" | "stale"));
        if tinycdn_telemetry::access::AccessLog::global().is_some() {
            // Where a miss came from; a hit (most requests) has none to name.
            let hit = from_cache == Some(true);
            let proxy = site.as_ref().and_then(|s| s.proxy.as_ref());
            let upstream = match (proxy, &self.fabric) {
                _ if hit => None,
                (Some(p), _) if matches!(route_class, "proxy" | "image") => Some(p.origin().url()),
                (_, Some(f)) => f
                    .upstreams()
                    .mirrors()
                    .iter()
                    .find(|m| m.is_healthy())
                    .map(|m| m.base().to_owned()),
                _ => None,
            };
            resp.extensions_mut()
                .insert(tinycdn_telemetry::access::Annotation {
                    route: route_class,
                    upstream,
                    site: site.as_ref().map(|s| s.name.to_string()),
                });
        }
        let class = usize::from(resp.status().as_u16() / 100).min(5);
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        let counters = site.as_ref().map(|s| &s.counters);
        if let Some(c) = counters {
            c.responses.fetch_add(1, Ordering::Relaxed);
        }
        if !head {
            let len = resp
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let len = len.unwrap_or(0);
            self.bytes_served.fetch_add(len, Ordering::Relaxed);
            if let Some(c) = counters {
                c.sent.fetch_add(len, Ordering::Relaxed);
            }
            // The byte hit ratio as users know it: bytes served from the cache over bytes
            // served (an image variant made from a filled source is not a hit of the source).
            if let Some(hit) = from_cache {
                self.cache_body_bytes[usize::from(!hit)].fetch_add(len, Ordering::Relaxed);
                if let Some(c) = counters {
                    c.cache_bytes[usize::from(!hit)].fetch_add(len, Ordering::Relaxed);
                }
            }
        }
        resp
    }

    async fn route(
        self: &Arc<Self>,
        req: Request<Incoming>,
        info: ConnInfo,
        hosts: &VirtualHosts,
        site: Option<&Arc<VirtualHost>>,
    ) -> Response<Body> {
        let head = req.method() == Method::HEAD;
        let path = req.uri().path();
        if let Some(rest) = path
            .strip_prefix(RESERVED_PREFIX)
            .filter(|r| r.starts_with('/'))
        {
            if let Some(chunk) = rest.strip_prefix(PEER_ROUTE) {
                let reply = match (&self.fabric, refuse_method(req.method())) {
                    (_, Some(refused)) => refused,
                    (Some(f), None) => {
                        f.serve_peer_chunk(chunk, req.uri().query(), info.peer.ip())
                            .await
                    }
                    (None, None) => {
                        Reply::text(StatusCode::NOT_FOUND, "this edge has no --upstream\n")
                    }
                };
                return reply.into_response(head);
            }
            if rest == "/purge" {
                return match purger(hosts, site, &req) {
                    Some(p) => Box::pin(p.purge(req, info.peer.ip())).await,
                    None => Reply::text(StatusCode::NOT_FOUND, "purging needs an origin\n")
                        .into_response(head),
                };
            }
            let query = req
                .uri()
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            let target = format!("{rest}{query}");
            return self.own_route(&req, &target).await.into_response(head);
        }
        let Some(site) = site else {
            if matches!(route::parse(path), Err(_) | Ok(Route::Home)) {
                self.misdirected.fetch_add(1, Ordering::Relaxed);
                let text = misdirected(info.peer.ip(), || hosts.names());
                return Reply::text(StatusCode::MISDIRECTED_REQUEST, text).into_response(head);
            }
            let target = req
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            return self.own_route(&req, &target).await.into_response(head);
        };
        if let Some(w) = &site.website {
            if let Some(t) = w.target(&req) {
                return match &self.fabric {
                    Some(f) => w.serve(f, t, req, info).await,
                    None => Reply::text(StatusCode::NOT_FOUND, "sites need --upstream\n")
                        .into_response(head),
                };
            }
        }
        if let Some(m) = site.mounts.iter().find(|m| m.below(path).is_some()) {
            return self.mounted(&req, m).await.into_response(head);
        }
        if let Some(p) = &site.proxy {
            return p.handle(req, info).await;
        }
        let target = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        self.own_route(&req, &target).await.into_response(head)
    }

    /// A file of a mounted volume.
    async fn mounted<B>(&self, req: &Request<B>, m: &Mount) -> Reply {
        if let Some(refused) = refuse_method(req.method()) {
            return refused;
        }
        let rest = m.below(req.uri().path()).unwrap_or("");
        let query = req
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let path = match route::mounted_path(&format!("{rest}{query}")) {
            Ok(p) => p,
            Err(e) => {
                let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
                return Reply::text(status, format!("{e}\n"));
            }
        };
        match &self.fabric {
            Some(f) => f.serve_file(req, &m.volume, &m.reference, &path).await,
            None => Reply::text(StatusCode::NOT_FOUND, "mounts need --upstream\n"),
        }
    }

    /// The edge's own routes and the fabric's.
    async fn own_route<B>(&self, req: &Request<B>, target: &str) -> Reply {
        if let Some(refused) = refuse_method(req.method()) {
            return refused;
        }
        let route = match route::parse(target) {
            Ok(r) => r,
            Err(e) => {
                let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
                return Reply::text(status, format!("{e}\n"));
            }
        };
        match (route, &self.fabric) {
            (Route::Health, _) => Reply::text(StatusCode::OK, "ok\n"),
            (Route::Home, _) => Reply::text(StatusCode::OK, route::home("edge")),
            (Route::Ready, _) => tinycdn_server::respond::readiness(self.draining()),
            (Route::Metrics, _) => {
                let mut r = Reply::text(StatusCode::OK, self.render_metrics());
                r.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(tinycdn_telemetry::CONTENT_TYPE),
                );
                r
            }
            (Route::Status, _) => {
                let html = tinycdn_report::html::page("tinycdn edge", &self.status_report(), true);
                let mut r = Reply::text(StatusCode::OK, html);
                r.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                r
            }
            (Route::StatusJson, _) => {
                let json = serde_json::to_string(&self.status_report()).unwrap_or_default();
                let mut r = Reply::text(StatusCode::OK, json);
                r.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r
            }
            (route, Some(fabric)) => fabric.serve_route(req, route).await,
            (_, None) => Reply::text(
                StatusCode::NOT_FOUND,
                "this edge has no --upstream to serve volumes from\n",
            ),
        }
    }

    /// This edge's figures, read back from its own exposition (as `tinycdn report` reads any
    /// edge's).
    fn status_report(&self) -> tinycdn_report::Report {
        tinycdn_report::Report {
            generated: tinycdn_report::now(),
            store: None,
            edges: vec![tinycdn_report::EdgeSection::from_metrics(
                "this edge",
                &self.render_metrics(),
            )],
        }
    }

    fn render_metrics(&self) -> String {
        let mut e = Exposition::default();
        e.metric(
            "tinycdn_responses_total",
            "Responses sent, by status class.",
            Kind::Counter,
            (1..6)
                .map(|i| {
                    (
                        vec![("status", format!("{i}xx"))],
                        self.responses[i].load(Ordering::Relaxed),
                    )
                })
                .collect(),
        );
        e.metric(
            "tinycdn_body_bytes_sent_total",
            "Body bytes announced in responses.",
            Kind::Counter,
            vec![(vec![], self.bytes_served.load(Ordering::Relaxed))],
        );
        e.metric(
            "tinycdn_cache_body_bytes_total",
            "Body bytes of responses carrying this cache's Cache-Status: served from the cache (hit, stale) or not (the byte hit ratio as users know it).",
            Kind::Counter,
            ["hit", "other"]
                .iter()
                .zip(&self.cache_body_bytes)
                .map(|(r, n)| (vec![("result", (*r).to_owned())], n.load(Ordering::Relaxed)))
                .collect(),
        );
        crate::cache::metrics::render(&mut e, &self.cache);
        if let Some(f) = &self.fabric {
            f.metrics(&mut e);
        }
        let hosts = self.hosts();
        let proxies: Vec<(&str, &Proxy)> = hosts
            .all
            .iter()
            .filter_map(|s| Some((s.name.as_ref(), s.proxy.as_deref()?)))
            .collect();
        crate::proxy::metrics::render(&mut e, &proxies);
        if let Some(i) = &self.images {
            i.metrics(&mut e);
        }
        let websites: Vec<_> = hosts
            .all
            .iter()
            .filter_map(|s| s.website.as_ref())
            .collect();
        if !websites.is_empty() || self.misdirected.load(Ordering::Relaxed) > 0 {
            crate::site::metrics(
                &mut e,
                websites.into_iter(),
                self.misdirected.load(Ordering::Relaxed),
            );
        }
        self.book.metrics(&mut e);
        e.metric(
            "tinycdn_config_reloads_total",
            "Configuration reloads (SIGHUP): applied, or refused with the previous configuration kept.",
            Kind::Counter,
            ["ok", "error"]
                .iter()
                .zip(&self.reloads)
                .map(|(r, n)| (vec![("result", (*r).to_owned())], n.load(Ordering::Relaxed)))
                .collect(),
        );
        e.render("edge", self.pop(), Some(&self.http))
    }
}

/// The proxy a purge request goes to: the site whose token it carries (so that one edge purges
/// for many tenants, each only its own responses), else its host's site, else any site that
/// purges (which refuses it and counts the failure).
fn purger<B>(
    hosts: &VirtualHosts,
    site: Option<&Arc<VirtualHost>>,
    req: &Request<B>,
) -> Option<Arc<Proxy>> {
    let proxies = || hosts.all.iter().filter_map(|s| s.proxy.as_ref());
    proxies()
        .find(|p| p.purge_token_matches(req))
        .or_else(|| site.and_then(|s| s.proxy.as_ref()).filter(|p| p.purges()))
        .or_else(|| proxies().find(|p| p.purges()))
        .or_else(|| proxies().next())
        .cloned()
}

impl tinycdn_server::Handler for Edge {
    async fn handle(self: Arc<Self>, req: Request<Incoming>, info: ConnInfo) -> Response<Body> {
        self.answer(req, info).await
    }

    fn begin_drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// The disk tier's order and use counts are written, so that a restart keeps them.
    fn drained(&self) {
        // Background work stops first: the state written is the last one.
        self.cache.shut_down();
        if !self.cache.save_disk_state() {
            tracing::debug!("no disk tier state written at exit");
        }
    }
}

/// The body of the 421 for a host no site takes. A client on this machine is its operator and
/// learns the hosts served; anyone else learns nothing about the other sites.
fn misdirected(peer: std::net::IpAddr, names: impl FnOnce() -> Vec<String>) -> String {
    if peer.to_canonical().is_loopback() {
        format!(
            "this edge serves no site at that host; it serves: {}\n",
            names().join(", ")
        )
    } else {
        "this edge serves no site at that host\n".to_owned()
    }
}

#[cfg(test)]
mod misdirected_tests {
    use super::misdirected;

    #[test]
    fn only_a_local_client_learns_the_hosts_served() {
        let names = || vec!["a.test".to_owned(), "*.b.test".to_owned()];
        for local in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            let text = misdirected(local.parse().expect("ip"), names);
            assert!(text.contains("a.test, *.b.test"), "{local}: {text}");
        }
        for remote in ["10.0.0.7", "203.0.113.9", "::ffff:192.0.2.1", "2001:db8::1"] {
            let text = misdirected(remote.parse().expect("ip"), names);
            assert!(!text.contains("a.test"), "{remote}: {text}");
        }
    }
}
