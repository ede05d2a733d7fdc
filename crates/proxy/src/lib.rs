//! The proxy role of an edge: an RFC 9111 shared cache in front of any HTTP application.
//!
//! A `GET` or `HEAD` is looked up by its effective URI and `Vary` ([`store`]); the rules of
//! `tinycdn-cache-policy` decide whether the stored response answers it, is served stale while it
//! is revalidated in the background, or is validated first. Misses and validations of one key are
//! collapsed into one origin exchange ([`fill`]), whose body streams to every waiting request as
//! it arrives and is stored in the shared chunk cache ([`forward`]). Everything else — unsafe
//! methods, request bodies, upgrades — passes through untouched, and a success invalidates what
//! §4.4 names. Responses are built in [`respond`]; purges come through [`purge`].
//!
//! - [`origin`]: the connection to the application (HTTP/1.1 or h2c), deadlines and back-off.

pub mod fill;
pub mod forward;
pub mod images;
pub mod metrics;
pub mod origin;
pub mod purge;
pub mod respond;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::header;
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use hyper::body::{Body as _, Incoming};
use tinycdn_cache_policy::credentials::CredentialRules;
use tinycdn_cache_policy::forwarding::{forwarded_proto, via_lists};
use tinycdn_cache_policy::key::{origin_of, primary_key};
use tinycdn_cache_policy::{
    decide, CacheStatus, Decision, Forward, Heuristic, RequestDirectives, Reuse,
};
use tinycdn_server::body::Body;
use tinycdn_server::ConnInfo;

use fill::{Fill, Outcome, Reader};
use forward::{is_upgrade, Target};
use origin::{Origin, OriginError};
use respond::{from_entry, from_fill, text, Ctx};
use store::{Entry, Lookup, Responses};
use tinycdn_edge_cache::cache::ChunkCache;

/// The longest primary key (scheme, host, path and query) the cache keeps; a longer URL is
/// answered 414. Keys are held in memory three times per stored response, so their length is
/// what bounds the index's bytes.
pub const MAX_KEY: usize = 8 << 10;

/// Keys remembered as hit-for-miss at most (the least recently used are forgotten).
const UNCACHEABLE_KEYS: usize = 100_000;

/// How long a key whose response may not be shared skips collapsing (Varnish's hit-for-miss).
const UNCACHEABLE_FOR: Duration = Duration::from_secs(60);

pub use tinycdn_core::time::unix_now_u64 as unix_now;

/// Whether `ip` (an IPv4-mapped IPv6 address taken as the IPv4 one) is in one of `nets`.
pub fn trusted(nets: &[ipnet::IpNet], ip: std::net::IpAddr) -> bool {
    let ip = ip.to_canonical();
    nets.iter().any(|n| n.contains(&ip))
}

/// The answer from a stored response a validation just freshened (a 304).
fn refreshed(ctx: &Ctx<'_>, e: &Entry, fwd: Forward, collapsed: bool) -> Response<Body> {
    let cs = CacheStatus {
        fwd: Some(fwd),
        fwd_status: Some(304),
        collapsed,
        ..CacheStatus::default()
    };
    from_entry(ctx, e, e.stored().age(unix_now()), &cs)
}

/// The `Cache-Status` of a response streamed from a fill.
fn filled(h: &fill::Head, fwd: Forward, collapsed: bool) -> CacheStatus {
    CacheStatus {
        fwd: Some(fwd),
        fwd_status: Some(h.status.as_u16()),
        stored: h.not_stored.is_none(),
        collapsed,
        detail: h.not_stored,
        ..CacheStatus::default()
    }
}

/// How the proxy is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The application: `http://HOST:PORT`, `https://HOST:PORT` or `h2c://HOST:PORT`.
    pub origin: String,
    /// A PEM file of certificate authorities an `https://` origin's certificate may chain to,
    /// besides the system's (`--origin-ca`).
    pub origin_ca: Option<std::path::PathBuf>,
    /// Time to connect to it.
    pub connect_timeout: Duration,
    /// Time it has to send a response head.
    pub origin_timeout: Duration,
    /// Longest pause inside a response body.
    pub body_timeout: Duration,
    /// Largest body stored; larger ones are streamed through.
    pub max_object_size: u64,
    /// Bytes all fills being stored may hold in memory at once; past it, fills stream uncached.
    pub fill_memory: u64,
    /// Most responses stored at once.
    pub max_entries: usize,
    /// Memory the index of stored responses may hold (keys, fields); the oldest keys go past
    /// it, whatever `max_entries` allows.
    pub max_index_bytes: u64,
    /// Heuristic freshness for responses that state none (§4.2.2).
    pub heuristic: Heuristic,
    /// The bearer token of the purge API (none: purging is off).
    pub purge_token: Option<String>,
    /// Which request fields are credentials (`--credential-header`) and which cookies identify
    /// nobody and are stripped (`--ignore-cookie`).
    pub credentials: CredentialRules,
    /// Previous hops (load balancers, TLS terminators) whose `Forwarded`/`X-Forwarded-For`
    /// chains are extended and whose `X-Forwarded-Proto` names the scheme (`--trusted-proxies`).
    /// Every other client's forwarding fields are removed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            origin: String::new(),
            origin_ca: None,
            connect_timeout: Duration::from_secs(5),
            origin_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            max_object_size: 256 << 20,
            fill_memory: 512 << 20,
            max_entries: 200_000,
            max_index_bytes: store::MAX_INDEX_BYTES,
            heuristic: Heuristic::default(),
            purge_token: None,
            credentials: CredentialRules::default(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// What the proxy has done.
#[derive(Debug, Default)]
pub struct ProxyCounters {
    /// Answered from the cache, fresh.
    pub hits: AtomicU64,
    /// Answered from the cache stale (stale-while-revalidate, max-stale).
    pub stale_hits: AtomicU64,
    /// Answered stale because the origin failed (stale-if-error, or backed off).
    pub stale_on_error: AtomicU64,
    /// Went to the origin for lack of a usable stored response.
    pub misses: AtomicU64,
    /// Validations answered 304.
    pub revalidated: AtomicU64,
    /// Requests that waited on another request's fill.
    pub collapsed: AtomicU64,
    /// Passed through (unsafe methods, bodies, upgrades).
    pub passed: AtomicU64,
    /// Responses stored.
    pub stored: AtomicU64,
    /// Responses not stored because they were larger than `--max-object-size`.
    pub not_stored_too_big: AtomicU64,
    /// Responses not stored because other fills held all the memory fills may.
    pub not_stored_busy: AtomicU64,
    /// Fills whose body broke off, stalled or was cut short.
    pub fill_errors: AtomicU64,
    /// Stored responses invalidated by unsafe methods (§4.4).
    pub invalidated: AtomicU64,
    /// Stored responses purged.
    pub purged: AtomicU64,
    /// Purge requests refused: a wrong token, or too many wrong ones from the address.
    pub purge_refused: AtomicU64,
}

/// What the proxies of one edge share, whatever their sites and however often they are
/// reloaded: the stored responses (keyed by scheme, host and path, so sites never meet) and the
/// memory fills may hold (one `--memory`).
#[derive(Debug, Clone)]
pub struct ProxyShared {
    responses: Arc<Responses>,
    budget: Arc<fill::Budget>,
}

impl ProxyShared {
    /// The stored responses reloaded from `cache`'s disk, bounded as `config` says
    /// (`max_entries`, `max_index_bytes`, `heuristic`, `fill_memory`).
    #[must_use]
    pub fn open(config: &ProxyConfig, cache: Arc<ChunkCache>) -> Self {
        Self {
            responses: Arc::new(Responses::open(
                cache,
                config.max_entries,
                config.max_index_bytes,
                config.heuristic,
            )),
            budget: fill::Budget::new(config.fill_memory),
        }
    }

    /// Stored responses, all sites together.
    #[must_use]
    pub fn stored_responses(&self) -> usize {
        self.responses.len()
    }

    /// Stored responses dropped at start (undecodable, or their chunks gone).
    #[must_use]
    pub fn dropped_at_start(&self) -> u64 {
        self.responses.dropped_at_start.load(Ordering::Relaxed)
    }
}

/// Which stored responses one proxy may purge: those whose key's host is its site's.
pub type Scope = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// The caching reverse proxy.
pub struct Proxy {
    origin: Origin,
    responses: Arc<Responses>,
    scope: Option<Scope>,
    cache: Arc<ChunkCache>,
    inflight: Mutex<HashMap<String, Arc<Fill>>>,
    budget: Arc<fill::Budget>,
    /// Keys whose last response could not be shared (hit-for-miss), an LRU of
    /// [`UNCACHEABLE_KEYS`].
    uncacheable: quick_cache::sync::Cache<String, Instant>,
    revalidating: Mutex<HashSet<String>>,
    config: ProxyConfig,
    /// This edge's `Via` pseudonym (`tinycdn-` and 8 random hex digits), also used to detect
    /// forwarding loops.
    via: String,
    /// What it has done.
    pub counters: ProxyCounters,
    images: Option<Arc<tinycdn_edge_cache::images::Images>>,
    purge_failures: purge::Failures,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("origin", &self.origin)
            .field("scoped", &self.scope.is_some())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Proxy {
    /// A proxy in front of `config.origin`, storing in `cache` (stored responses are reloaded
    /// from its disk).
    ///
    /// # Errors
    /// [`OriginError::BadUrl`].
    pub fn new(config: ProxyConfig, cache: Arc<ChunkCache>) -> Result<Self, OriginError> {
        let shared = ProxyShared::open(&config, cache.clone());
        Self::with_shared(config, cache, &shared)
    }

    /// A proxy in front of `config.origin` that stores in `shared` (with the other sites'
    /// proxies; `config`'s bounds on the store and on fills are `shared`'s).
    ///
    /// # Errors
    /// [`OriginError::BadUrl`].
    pub fn with_shared(
        config: ProxyConfig,
        cache: Arc<ChunkCache>,
        shared: &ProxyShared,
    ) -> Result<Self, OriginError> {
        let origin = Origin::with_ca(
            &config.origin,
            config.connect_timeout,
            config.origin_timeout,
            config.origin_ca.as_deref(),
        )?;
        let mut id = [0u8; 4];
        let _ = getrandom::fill(&mut id);
        Ok(Self {
            origin,
            responses: shared.responses.clone(),
            scope: None,
            cache,
            inflight: Mutex::new(HashMap::new()),
            budget: shared.budget.clone(),
            uncacheable: quick_cache::sync::Cache::new(UNCACHEABLE_KEYS),
            revalidating: Mutex::new(HashSet::new()),
            config,
            via: format!("tinycdn-{}", hex::encode(id)),
            counters: ProxyCounters::default(),
            images: None,
            purge_failures: purge::Failures::default(),
        })
    }

    /// Purges only the stored responses `scope` says are this proxy's site's (by the key's
    /// host), when several sites share one store.
    pub fn set_scope(&mut self, scope: Scope) {
        self.scope = Some(scope);
    }

    /// Whether a purge request carries this proxy's token (`blake3::Hash` compares in
    /// constant time).
    #[must_use]
    pub fn purge_token_matches<B>(&self, req: &Request<B>) -> bool {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        self.config
            .purge_token
            .as_ref()
            .is_some_and(|t| blake3::hash(given.trim().as_bytes()) == blake3::hash(t.as_bytes()))
    }

    /// Whether purging is on (a token is configured).
    #[must_use]
    pub fn purges(&self) -> bool {
        self.config.purge_token.is_some()
    }

    /// How it is set up.
    #[must_use]
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// Serves image variants of the application's images (`/a.jpg?w=…`) with `images`.
    pub fn set_images(&mut self, images: Arc<tinycdn_edge_cache::images::Images>) {
        self.images = Some(images);
    }

    /// The origin.
    #[must_use]
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Stored responses.
    #[must_use]
    pub fn stored_responses(&self) -> usize {
        self.responses.len()
    }

    /// What the index of stored responses holds in memory (bounded at 256 MiB).
    #[must_use]
    pub fn index_bytes(&self) -> u64 {
        self.responses.bytes()
    }

    /// Stored responses dropped at start (undecodable, or their chunks gone).
    #[must_use]
    pub fn dropped_at_start(&self) -> u64 {
        self.responses.dropped_at_start.load(Ordering::Relaxed)
    }

    /// Bytes that fills being stored hold in memory now.
    #[must_use]
    pub fn fill_bytes(&self) -> u64 {
        self.budget.used()
    }

    /// Stored responses evicted by `--max-entries`.
    #[must_use]
    pub fn evicted(&self) -> u64 {
        self.responses.evicted.load(Ordering::Relaxed)
    }

    /// Whether `ip` is a previous hop the operator trusts (`--trusted-proxies`).
    fn trusts(&self, ip: std::net::IpAddr) -> bool {
        trusted(&self.config.trusted_proxies, ip)
    }

    fn mark_uncacheable(&self, key: &str) {
        self.uncacheable.insert(key.to_owned(), Instant::now());
    }

    fn is_uncacheable(&self, key: &str) -> bool {
        self.uncacheable
            .get(key)
            .is_some_and(|t| t.elapsed() < UNCACHEABLE_FOR)
    }

    /// Removes a finished fill from the collapsing table (if it is still the one there).
    fn forget_fill(&self, key: &str, fill: &Arc<Fill>) {
        let mut m = lock(&self.inflight);
        if m.get(key).is_some_and(|f| Arc::ptr_eq(f, fill)) {
            m.remove(key);
        }
    }

    /// The fill in flight under `key` (the primary key, or a variant's key), joined, or a new
    /// one started (a validation of `validating` when given). Returns it and, when this request
    /// started it, its reader.
    fn join_or_start(
        self: &Arc<Self>,
        key: &str,
        t: &Target,
        parts: &Parts,
        validating: Option<Arc<Entry>>,
    ) -> (Arc<Fill>, Option<Reader>) {
        let mut m = lock(&self.inflight);
        if let Some(f) = m.get(key).filter(|f| !f.failed()) {
            self.counters.collapsed.fetch_add(1, Ordering::Relaxed);
            return (f.clone(), None);
        }
        let (f, reader) = self.start_fill(t, parts, validating, Some(key.to_owned()));
        m.insert(key.to_owned(), f.clone());
        (f, Some(reader))
    }

    /// What the request is for, or why it cannot be keyed (a 400).
    fn target(
        &self,
        req: &Request<Incoming>,
        info: ConnInfo,
    ) -> Result<Target, (StatusCode, String)> {
        let bad = |why: String| (StatusCode::BAD_REQUEST, why);
        let trusted = self.trusts(info.peer.ip());
        // A trusted TLS terminator says which scheme the client used; nobody else may.
        let scheme = match (info.tls, trusted) {
            (true, _) => "https",
            (false, true) => forwarded_proto(req.headers()).unwrap_or("http"),
            (false, false) => "http",
        };
        // RFC 9112 §3.2: one Host, required in HTTP/1.1.
        if req.headers().get_all(header::HOST).iter().count() > 1 {
            return Err(bad("the request has more than one Host\n".into()));
        }
        let host = match req.headers().get(header::HOST) {
            Some(h) => h
                .to_str()
                .map_err(|_| bad("the Host is not visible ASCII\n".to_owned()))?
                .to_owned(),
            None if req.version() == http::Version::HTTP_11 => {
                return Err(bad("an HTTP/1.1 request needs a Host\n".into()));
            }
            None => req
                .uri()
                .authority()
                .map_or_else(|| self.origin.addr().to_owned(), |a| a.as_str().to_owned()),
        };
        let raw = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let key = primary_key(scheme, &host, raw).map_err(|e| bad(format!("{e}\n")))?;
        if key.len() > MAX_KEY {
            return Err((
                StatusCode::URI_TOO_LONG,
                format!("the request's URL is longer than the {MAX_KEY} bytes this cache keys\n"),
            ));
        }
        // The application is asked for exactly what the cache keyed: a percent-encoding trick
        // (`/%61pp.js`) cannot store one resource's answer under another's key.
        let path_and_query = key[origin_of(&key).len()..].to_owned();
        Ok(Target {
            key,
            scheme,
            host,
            path_and_query,
            client: Some(info.peer.ip()),
            trusted,
        })
    }

    /// Answers a request no mount or reserved route claimed, from a connection described by
    /// `info`.
    pub async fn handle(
        self: &Arc<Self>,
        mut req: Request<Incoming>,
        info: ConnInfo,
    ) -> Response<Body> {
        // Cookies that identify nobody go before the request is keyed, compared or forwarded.
        self.config
            .credentials
            .strip_ignored_cookies(req.headers_mut());
        let cs = |fwd| CacheStatus {
            fwd: Some(fwd),
            ..CacheStatus::default()
        };
        if via_lists(req.headers(), &self.via) {
            let (parts, _) = req.into_parts();
            return text(
                StatusCode::LOOP_DETECTED,
                "this request has already passed through this edge: the origin points back at it\n",
                &parts,
                &self.via,
                &cs(Forward::Bypass),
            );
        }
        let t = match self.target(&req, info) {
            Ok(t) => t,
            Err((status, why)) => {
                let (parts, _) = req.into_parts();
                return text(status, &why, &parts, &self.via, &cs(Forward::Bypass));
            }
        };
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return Box::pin(self.pass(&t, req, cs(Forward::Method))).await;
        }
        if !req.body().is_end_stream() || is_upgrade(req.headers(), req.version()) {
            return Box::pin(self.pass(&t, req, cs(Forward::Bypass))).await;
        }
        let (parts, _) = req.into_parts();
        if let Some(images) = &self.images {
            let path = parts.uri.path();
            if let (true, Some(q)) = (images::is_image_path(path), parts.uri.query()) {
                match tinycdn_image::params::split(q) {
                    Ok(None) => {}
                    Ok(Some(split)) => {
                        let images = images.clone();
                        return Box::pin(self.image(&t, parts, split, images)).await;
                    }
                    Err(e) => {
                        return text(
                            StatusCode::BAD_REQUEST,
                            &format!("{e}\n"),
                            &parts,
                            &self.via,
                            &cs(Forward::Bypass),
                        )
                    }
                }
            }
        }
        self.cached(&t, parts).await
    }

    /// A `GET` or `HEAD`: from the cache, after a validation, or from a fill.
    async fn cached(self: &Arc<Self>, t: &Target, parts: Parts) -> Response<Body> {
        let rd = RequestDirectives::from_request(&parts.headers);
        let ctx = Ctx {
            req: &parts,
            via: &self.via,
            cache: &self.cache,
        };
        let mut stale = None;
        let mut variant_key = None;
        let fwd = match self.responses.lookup(&t.key, &parts.headers) {
            Lookup::Found(e)
                if !e
                    .record
                    .chunks
                    .iter()
                    .all(|(id, _)| self.cache.contains(id)) =>
            {
                // Its body was evicted: the record goes too.
                self.responses.remove_entry(&e);
                Forward::UriMiss
            }
            Lookup::Found(e) => {
                let d = decide(&e.stored(), &parts.headers, &rd, unix_now());
                let hit = |detail| CacheStatus {
                    hit: true,
                    ttl: Some(d.ttl),
                    detail,
                    ..CacheStatus::default()
                };
                match d.reuse {
                    Reuse::Fresh => {
                        self.counters.hits.fetch_add(1, Ordering::Relaxed);
                        return from_entry(&ctx, &e, d.age, &hit(None));
                    }
                    Reuse::Stale => {
                        self.counters.stale_hits.fetch_add(1, Ordering::Relaxed);
                        return from_entry(&ctx, &e, d.age, &hit(Some("max-stale")));
                    }
                    Reuse::StaleWhileRevalidate => {
                        self.counters.stale_hits.fetch_add(1, Ordering::Relaxed);
                        self.revalidate_in_background(t, &parts, e.clone());
                        return from_entry(&ctx, &e, d.age, &hit(Some("stale-while-revalidate")));
                    }
                    Reuse::Unusable if rd.only_if_cached => Forward::Request,
                    Reuse::Unusable => {
                        return Box::pin(self.miss(t, &parts, Forward::Request, None)).await;
                    }
                    Reuse::Validate => {
                        let asked = rd.no_cache || rd.max_age.is_some() || rd.min_fresh.is_some();
                        stale = Some((e, d));
                        if asked && d.ttl > 0 {
                            Forward::Request
                        } else {
                            Forward::Stale
                        }
                    }
                }
            }
            Lookup::VaryMiss(variant) => {
                variant_key = Some(variant);
                Forward::VaryMiss
            }
            Lookup::UriMiss => Forward::UriMiss,
        };
        if rd.only_if_cached {
            let cs = CacheStatus {
                fwd: Some(fwd),
                detail: Some("only-if-cached"),
                ..CacheStatus::default()
            };
            return text(
                StatusCode::GATEWAY_TIMEOUT,
                "not in the cache (only-if-cached)\n",
                &parts,
                &self.via,
                &cs,
            );
        }
        match stale {
            Some((e, d)) if d.on_error && self.origin.backed_off() => {
                self.serve_stale(&ctx, &e, &d, fwd, None, "origin-backed-off")
            }
            // The slow paths are boxed so that the future of a hit stays small (hyper moves it).
            Some((e, d)) => Box::pin(self.validate(t, &parts, e, d, fwd)).await,
            None => {
                let key = variant_key.unwrap_or_else(|| t.key.clone());
                Box::pin(self.miss(t, &parts, fwd, Some(key))).await
            }
        }
    }

    /// A stale (or client-refused) stored response standing in for a failed origin.
    fn serve_stale(
        &self,
        ctx: &Ctx<'_>,
        e: &Entry,
        d: &Decision,
        fwd: Forward,
        fwd_status: Option<u16>,
        why: &'static str,
    ) -> Response<Body> {
        self.counters.stale_on_error.fetch_add(1, Ordering::Relaxed);
        let cs = CacheStatus {
            fwd: Some(fwd),
            fwd_status,
            ttl: Some(d.ttl),
            detail: Some(why),
            ..CacheStatus::default()
        };
        from_entry(ctx, e, d.age, &cs)
    }

    /// Validates a stored response (collapsed with other requests for the key) and answers with
    /// it freshened, with the new response, or — the origin failing — with it stale where
    /// `stale-if-error` allows.
    async fn validate(
        self: &Arc<Self>,
        t: &Target,
        parts: &Parts,
        e: Arc<Entry>,
        d: Decision,
        fwd: Forward,
    ) -> Response<Body> {
        let ctx = Ctx {
            req: parts,
            via: &self.via,
            cache: &self.cache,
        };
        let (fill, own) = self.join_or_start(&t.key, t, parts, Some(e.clone()));
        let leader = own.is_some();
        match fill.outcome().await {
            Outcome::Refreshed(fresh) if fresh.selected_by(&parts.headers) => {
                refreshed(&ctx, &fresh, fwd, !leader)
            }
            Outcome::Refreshed(_) => Box::pin(self.miss(t, parts, fwd, None)).await,
            Outcome::Head(h) if h.status.as_u16() >= 500 && d.on_error => {
                self.serve_stale(&ctx, &e, &d, fwd, Some(h.status.as_u16()), "stale-if-error")
            }
            Outcome::Head(h) => match (
                leader || h.selected_by(&parts.headers),
                own.or_else(|| fill.reader()),
            ) {
                (true, Some(reader)) => {
                    from_fill(&ctx, &h, reader, leader, &filled(&h, fwd, !leader))
                }
                _ => Box::pin(self.miss(t, parts, fwd, None)).await,
            },
            Outcome::Failed(..) if d.on_error => {
                self.serve_stale(&ctx, &e, &d, fwd, None, "stale-if-error")
            }
            Outcome::Failed(status, why) => {
                let cs = CacheStatus {
                    fwd: Some(fwd),
                    detail: Some("origin-error"),
                    ..CacheStatus::default()
                };
                text(status, &why, parts, &self.via, &cs)
            }
        }
    }

    /// Goes to the origin for a request the cache cannot answer: joining the fill in flight under
    /// `collapse` when given (and the key's last response was shareable), else starting one of
    /// its own.
    async fn miss(
        self: &Arc<Self>,
        t: &Target,
        parts: &Parts,
        fwd: Forward,
        collapse: Option<String>,
    ) -> Response<Body> {
        self.counters.misses.fetch_add(1, Ordering::Relaxed);
        let ctx = Ctx {
            req: parts,
            via: &self.via,
            cache: &self.cache,
        };
        // Collapse under the key given (the primary key, or the variant's when others are
        // stored); a request the response's Vary does not select then collapses with the others
        // of its variant, under a key of its own.
        let mut collapse_key = collapse.filter(|_| {
            !self.is_uncacheable(&t.key) && !parts.headers.contains_key(header::AUTHORIZATION)
        });
        let mut attempts = 0;
        loop {
            // Never more than one try under the primary key and one under the variant's.
            attempts += 1;
            if attempts > 2 {
                collapse_key = None;
            }
            let (fill, own) = match collapse_key.take() {
                Some(key) => self.join_or_start(&key, t, parts, None),
                None => {
                    let (f, r) = self.start_fill(t, parts, None, None);
                    (f, Some(r))
                }
            };
            let leader = own.is_some();
            match fill.outcome().await {
                Outcome::Refreshed(e) if e.selected_by(&parts.headers) => {
                    return refreshed(&ctx, &e, fwd, true);
                }
                Outcome::Refreshed(_) => continue,
                Outcome::Head(h) => {
                    if !(leader || h.selected_by(&parts.headers)) {
                        if h.shareable {
                            collapse_key =
                                Some(store::variant_key(&t.key, &h.vary, &parts.headers));
                        }
                        continue;
                    }
                    // A range of a body too large to store goes to the origin as a range.
                    if h.not_stored == Some("too-big") && parts.headers.contains_key(header::RANGE)
                    {
                        drop((own, fill));
                        let cs = CacheStatus {
                            fwd: Some(Forward::Bypass),
                            detail: Some("too-big"),
                            ..CacheStatus::default()
                        };
                        return self.pass_head(t, parts, cs).await;
                    }
                    let Some(reader) = own.or_else(|| fill.reader()) else {
                        continue;
                    };
                    return from_fill(&ctx, &h, reader, leader, &filled(&h, fwd, !leader));
                }
                Outcome::Failed(status, why) => {
                    let cs = CacheStatus {
                        fwd: Some(fwd),
                        detail: Some("origin-error"),
                        collapsed: !leader,
                        ..CacheStatus::default()
                    };
                    return text(status, &why, parts, &self.via, &cs);
                }
            }
        }
    }

    /// Revalidates a stale response in the background (RFC 5861 §3), once per key at a time.
    fn revalidate_in_background(self: &Arc<Self>, t: &Target, parts: &Parts, e: Arc<Entry>) {
        if !lock(&self.revalidating).insert(t.key.clone()) {
            return;
        }
        let (this, t, parts) = (self.clone(), t.clone(), forward::clone_parts(parts));
        tokio::spawn(async move {
            let (fill, _) = this.join_or_start(&t.key, &t, &parts, Some(e));
            let _ = fill.done().await;
            lock(&this.revalidating).remove(&t.key);
        });
    }

    /// Sends a `GET`/`HEAD` on as it is (with its `Range`), without a body.
    async fn pass_head(
        self: &Arc<Self>,
        t: &Target,
        parts: &Parts,
        cs: CacheStatus,
    ) -> Response<Body> {
        self.pass_with(
            t,
            forward::clone_parts(parts),
            forward::empty_body(),
            None,
            cs,
        )
        .await
    }
}
