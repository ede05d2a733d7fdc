//! Image variants at the edge, shared by the fabric (volume files, mounts) and the proxy (an
//! application's images): the guard (signed URLs or allowlists), the transform workers, and the
//! variants made, kept in the shared chunk cache.
//!
//! A variant is named by its source's content hash and its normalised parameters (output format
//! included, see [`tinycdn_image::variant_name`]). Its bytes are a chunk under their own BLAKE3,
//! verified like every chunk when read back from disk; a small record (`meta/img/NAME`) maps the
//! name to them, so variants survive restarts. Concurrent requests for one variant make it once.
//!
//! - [`pool`]: the workers, their bounded queue and deadlines.

pub mod pool;
mod records;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::StatusCode;
use tinycdn_core::ChunkId;
use tinycdn_http::EntityTag;
use tinycdn_image::params::{Format, Split};
use tinycdn_image::policy::Policy;
use tinycdn_image::probe::SourceFormat;
use tinycdn_image::{inspect, transform, Limits, Normalised, Output};
use tinycdn_server::respond::{represent, InMemory, Reply, Representation};
use tokio::sync::OnceCell;

use crate::cache::ChunkCache;
use pool::{Pool, PoolError};
use tinycdn_telemetry::{Exposition, Kind};

/// How the edge makes variants.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    /// Who may ask for which variants.
    pub policy: Policy,
    /// Caps on one transform.
    pub limits: Limits,
    /// Transforms at once.
    pub workers: usize,
    /// Transforms waiting for a worker at most; more get 503.
    pub queue: usize,
    /// Time one transform may take, waiting included.
    pub timeout: Duration,
    /// Keep no variant: every request transforms (for measuring transforms).
    pub no_store: bool,
}

impl Default for ImageConfig {
    fn default() -> Self {
        Self {
            policy: Policy {
                keys: Vec::new(),
                allow: Some(tinycdn_image::policy::Allowlist::default()),
                legacy_signatures: false,
            },
            limits: Limits::default(),
            workers: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            queue: 64,
            timeout: Duration::from_secs(10),
            no_store: false,
        }
    }
}

/// A made variant's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// BLAKE3 of its bytes (its chunk id, and its strong entity tag).
    pub hash: ChunkId,
    /// Its length.
    pub len: u64,
    /// Its format.
    pub format: Format,
    /// Its width.
    pub width: u32,
    /// Its height.
    pub height: u32,
}

impl Meta {
    fn to_text(self) -> String {
        format!(
            "tinycdn-variant-v1 {} {} {} {} {}",
            self.hash.to_hex(),
            self.len,
            self.format.name(),
            self.width,
            self.height
        )
    }

    fn from_text(t: &str) -> Option<Self> {
        let mut f = t.split(' ');
        if f.next()? != "tinycdn-variant-v1" {
            return None;
        }
        let hash = f.next()?.parse().ok()?;
        let len = f.next()?.parse().ok()?;
        let format = Format::parse(f.next()?)?;
        let width = f.next()?.parse().ok()?;
        let height = f.next()?.parse().ok()?;
        f.next().is_none().then_some(Self {
            hash,
            len,
            format,
            width,
            height,
        })
    }
}

/// A variant with its bytes.
#[derive(Debug, Clone)]
pub struct Variant {
    /// The bytes.
    pub bytes: Bytes,
    /// The record.
    pub meta: Meta,
}

/// How a variant is sent, taken from its source: its caching, fields such as `Age`, and whether
/// the format was negotiated (then `Vary: Accept`).
#[derive(Debug, Clone)]
pub struct Sending {
    /// The source's `Cache-Control`.
    pub cache_control: String,
    /// Fields the source's answer carries over (`Age`, `X-Tinycdn-Version`, …).
    pub extra: Vec<(&'static str, String)>,
    /// Whether `fmt=auto` chose the format from `Accept`.
    pub vary: bool,
}

impl Variant {
    /// The variant a transform made.
    #[must_use]
    pub fn made(out: Output) -> Self {
        Self::of(out)
    }

    /// The answer to a request with `headers` (preconditions and ranges apply) and the
    /// representation sent: a strong entity tag of the variant's own bytes, its format's media
    /// type, and the source's caching. Volume files and application images are both answered
    /// here.
    #[must_use]
    pub fn answer(self, headers: &HeaderMap, sending: Sending) -> (Reply, Representation) {
        let mut extra = sending.extra;
        if sending.vary {
            extra.push(("vary", "Accept".into()));
        }
        let rep = Representation {
            etag: EntityTag::strong(self.meta.hash.to_hex()),
            media_type: self.meta.format.media_type().to_owned(),
            cache_control: sending.cache_control,
            len: self.meta.len,
            extra,
        };
        (represent(headers, &rep, InMemory(self.bytes)), rep)
    }

    fn of(out: Output) -> Self {
        let bytes = Bytes::from(out.bytes);
        let meta = Meta {
            hash: ChunkId::of(&bytes),
            len: bytes.len() as u64,
            format: out.format,
            width: out.width,
            height: out.height,
        };
        Self { bytes, meta }
    }
}

/// Why no variant was served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A status and why (403 refused, 415/422 the source, 502 it could not be had).
    Status(u16, String),
    /// Too many transforms waiting, or one took too long: come back later.
    Busy(&'static str),
}

impl Failure {
    /// The reply that says it.
    #[must_use]
    pub fn reply(&self) -> Reply {
        match self {
            Self::Status(s, why) => Reply::text(
                StatusCode::from_u16(*s).unwrap_or(StatusCode::BAD_GATEWAY),
                format!("{why}\n"),
            ),
            Self::Busy(why) => {
                let mut r = Reply::text(StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n"));
                r.headers
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                r
            }
        }
    }
}

/// Counters.
#[derive(Debug, Default)]
pub struct ImageCounters {
    /// Variants served from the cache.
    pub hits: AtomicU64,
    /// Variants served from a publish-time variant in the volume.
    pub published: AtomicU64,
    /// Requests that joined a transform in flight.
    pub collapsed: AtomicU64,
    /// Transforms that gave a variant.
    pub made: AtomicU64,
    /// Transforms refused or failed, by status class (4xx, 5xx).
    pub failed_4xx: AtomicU64,
    /// See `failed_4xx`.
    pub failed_5xx: AtomicU64,
    /// Requests refused by the guard.
    pub refused: AtomicU64,
    /// Microseconds spent transforming.
    pub transform_us: AtomicU64,
    /// Variant records removed from disk because their variant was gone.
    pub records_trimmed: AtomicU64,
}

type InFlight = Arc<OnceCell<Result<Variant, Failure>>>;

/// Variant records kept in memory at most (about 100 bytes each).
const INDEX_ENTRIES: usize = 262_144;

/// The image engine of an edge.
#[derive(Debug)]
pub struct Images {
    config: ImageConfig,
    pool: Pool,
    cache: Arc<ChunkCache>,
    /// Records of variants made, by name: an LRU of [`INDEX_ENTRIES`] (the rest are read
    /// back from the cache disk when asked for).
    index: quick_cache::sync::Cache<[u8; 32], Meta>,
    inflight: Mutex<HashMap<[u8; 32], InFlight>>,
    /// When dead variant records were last trimmed ([`records`]).
    last_trim: Mutex<Option<Instant>>,
    /// Each site's policy, by host (`config.policy` for hosts no site names).
    policies: std::sync::RwLock<Arc<SitePolicies>>,
    /// Counters.
    pub counters: ImageCounters,
}

/// Image policies by host: each site's own (`[site.images]`).
pub type SitePolicies = tinycdn_http::hosts::HostTable<Arc<Policy>>;

/// The source format a media type names, when the edge makes variants of it.
#[must_use]
pub fn source_format(media_type: &str) -> Option<SourceFormat> {
    SourceFormat::from_media_type(media_type)
}

/// The normalised parameters of a request for a variant of a `source` image.
#[must_use]
pub fn normalise(split: &Split, source: SourceFormat, accept: Option<&str>) -> Normalised {
    let out = tinycdn_image::negotiate::choose(
        split.params.format,
        accept,
        source.own_format(),
        source.may_have_alpha(),
    );
    split.params.normalised(out)
}

impl Images {
    /// The engine, keeping variants in `cache`.
    #[must_use]
    pub fn new(config: ImageConfig, cache: Arc<ChunkCache>) -> Self {
        Self {
            pool: Pool::new(config.workers, config.queue),
            config,
            cache,
            index: quick_cache::sync::Cache::new(INDEX_ENTRIES),
            inflight: Mutex::new(HashMap::new()),
            last_trim: Mutex::new(None),
            policies: std::sync::RwLock::new(Arc::new(SitePolicies::default())),
            counters: ImageCounters::default(),
        }
    }

    /// Puts each site's policy in place (at start and on reload).
    pub fn set_policies(&self, table: SitePolicies) {
        *self
            .policies
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
    }

    /// Whether variants are made anew for every request (`no_store`).
    #[must_use]
    pub fn keeps_nothing(&self) -> bool {
        self.config.no_store
    }

    /// Caps on one transform.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.config.limits
    }

    /// Whether the guard lets a request for `path` on `host` with `split` make a variant.
    ///
    /// # Errors
    /// A 403 [`Failure`] saying why not.
    pub fn check(&self, host: &str, path: &str, split: &Split) -> Result<(), Failure> {
        let table = self
            .policies
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let site = table.get(tinycdn_http::hosts::host_of(host).as_deref());
        let policy = site.map_or(&self.config.policy, |p| p.as_ref());
        policy.check(host, path, split).map_err(|e| {
            self.counters.refused.fetch_add(1, Ordering::Relaxed);
            Failure::Status(403, e.to_string())
        })
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A variant already made: its record from memory or the cache disk, its bytes from the
    /// chunk cache (verified when read from disk).
    async fn cached(&self, name: &[u8; 32]) -> Option<Variant> {
        let key = format!("img/{}", hex::encode(name));
        let known = self.index.get(name);
        let meta = match known {
            Some(m) => m,
            None => {
                let m = self
                    .cache
                    .get_meta(&key)
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|t| Meta::from_text(&t))?;
                self.index.insert(*name, m);
                m
            }
        };
        match self.cache.get(&meta.hash).await {
            Some(bytes) if bytes.len() as u64 == meta.len => Some(Variant { bytes, meta }),
            _ => {
                // Evicted (or not what the record says): forget the record.
                self.index.remove(name);
                self.cache.delete_meta(&key);
                None
            }
        }
    }

    /// The variant `name` (parameters `n`) of the source that `load` gives: from the cache, or
    /// made once by a worker however many requests ask at once.
    ///
    /// # Errors
    /// [`Failure`]: the source could not be had or transformed, or the workers are busy.
    pub async fn variant(
        &self,
        name: [u8; 32],
        n: Normalised,
        load: impl std::future::Future<Output = Result<Bytes, Failure>>,
    ) -> Result<Variant, Failure> {
        if self.config.no_store {
            let out = self.run(n, load.await?).await?;
            self.counters.made.fetch_add(1, Ordering::Relaxed);
            return Ok(Variant::of(out));
        }
        if let Some(v) = self.cached(&name).await {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(v);
        }
        let cell = {
            let mut m = Self::lock(&self.inflight);
            match m.get(&name) {
                Some(c) => {
                    self.counters.collapsed.fetch_add(1, Ordering::Relaxed);
                    c.clone()
                }
                None => {
                    let c: InFlight = Arc::new(OnceCell::new());
                    m.insert(name, c.clone());
                    c
                }
            }
        };
        let result = cell.get_or_init(|| self.make(name, n, load)).await.clone();
        {
            let mut m = Self::lock(&self.inflight);
            if m.get(&name).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
                m.remove(&name);
            }
        }
        result
    }

    async fn make(
        &self,
        name: [u8; 32],
        n: Normalised,
        load: impl std::future::Future<Output = Result<Bytes, Failure>>,
    ) -> Result<Variant, Failure> {
        // Another request may have finished it while this one waited.
        if let Some(v) = self.cached(&name).await {
            return Ok(v);
        }
        let source = load.await?;
        let out = self.run(n, source).await?;
        self.counters.made.fetch_add(1, Ordering::Relaxed);
        let Variant { bytes, meta } = Variant::of(out);
        self.cache.put(meta.hash, bytes.clone()).await;
        self.keep_record(&name, &meta);
        self.index.insert(name, meta);
        Ok(Variant { bytes, meta })
    }

    /// Transforms `source` into `n` on a worker, without keeping the result (for sources that
    /// may not be stored).
    ///
    /// # Errors
    /// [`Failure`].
    pub async fn run(&self, n: Normalised, source: Bytes) -> Result<Output, Failure> {
        let limits = self.config.limits;
        let started = Instant::now();
        let out = self
            .pool
            .run(self.config.timeout, move |deadline| {
                let info = inspect(&source, &limits)?;
                transform(&source, &info, &n, &limits, Some(deadline))
            })
            .await;
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.counters.transform_us.fetch_add(us, Ordering::Relaxed);
        match out {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => {
                let status = e.status();
                self.count_failure(status);
                Err(if status == 503 {
                    Failure::Busy("the image transform took longer than this edge allows")
                } else {
                    Failure::Status(status, e.to_string())
                })
            }
            Err(PoolError::Busy) => {
                self.count_failure(503);
                Err(Failure::Busy(
                    "every image worker is busy and the queue is full: try again",
                ))
            }
            Err(PoolError::Timeout) => {
                self.count_failure(503);
                Err(Failure::Busy(
                    "the image transform took longer than this edge allows",
                ))
            }
        }
    }

    fn count_failure(&self, status: u16) {
        if status >= 500 {
            self.counters.failed_5xx.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.failed_4xx.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The engine's Prometheus lines.
    pub fn metrics(&self, e: &mut Exposition) {
        let c = &self.counters;
        let l = |v: &AtomicU64| v.load(Ordering::Relaxed);
        e.metric(
            "tinycdn_image_variants_total",
            "Image variant requests by outcome.",
            Kind::Counter,
            vec![
                (vec![("result", "hit".into())], l(&c.hits)),
                (vec![("result", "published".into())], l(&c.published)),
                (vec![("result", "collapsed".into())], l(&c.collapsed)),
                (vec![("result", "made".into())], l(&c.made)),
                (vec![("result", "refused".into())], l(&c.refused)),
                (vec![("result", "failed_4xx".into())], l(&c.failed_4xx)),
                (vec![("result", "failed_5xx".into())], l(&c.failed_5xx)),
                (
                    vec![("result", "busy".into())],
                    l(&self.pool.counters.busy) + l(&self.pool.counters.timeouts),
                ),
            ],
        );
        e.metric_f64(
            "tinycdn_image_transform_seconds_total",
            "Wall time spent in image transforms (queueing included).",
            Kind::Counter,
            vec![(vec![], l(&c.transform_us) as f64 / 1e6)],
        );
        e.metric(
            "tinycdn_image_records_trimmed_total",
            "Variant records removed from the cache disk because their variant was evicted.",
            Kind::Counter,
            vec![(vec![], l(&c.records_trimmed))],
        );
        let p = &self.pool.counters;
        e.metric(
            "tinycdn_image_transforms",
            "Image transforms running and waiting now.",
            Kind::Gauge,
            vec![
                (
                    vec![("state", "running".into())],
                    p.running.load(Ordering::Relaxed) as u64,
                ),
                (
                    vec![("state", "queued".into())],
                    p.queued.load(Ordering::Relaxed) as u64,
                ),
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_records_round_trip_and_refuse_anything_else() {
        let m = Meta {
            hash: ChunkId::of(b"x"),
            len: 1,
            format: Format::Avif,
            width: 640,
            height: 480,
        };
        assert_eq!(Meta::from_text(&m.to_text()), Some(m));
        assert_eq!(Meta::from_text(&(m.to_text() + " extra")), None);
        assert_eq!(Meta::from_text("tinycdn-variant-v2 x"), None);
        assert_eq!(Meta::from_text(""), None);
    }

    #[test]
    fn media_types_that_are_images() {
        assert_eq!(source_format("image/jpeg"), Some(SourceFormat::Jpeg));
        assert_eq!(
            source_format("IMAGE/PNG; charset=x"),
            Some(SourceFormat::Png)
        );
        assert_eq!(source_format("text/html"), None);
        assert_eq!(source_format("image/svg+xml"), None);
    }
}
