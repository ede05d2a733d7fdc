//! The origin role: answers requests from a store.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tinycdn_core::manifest::Manifest;
use tinycdn_core::{FileId, VersionId};
use tinycdn_http::cache_control::{TagPolicy, IMMUTABLE};
use tinycdn_http::multipart::Segment;
use tinycdn_http::route::{self, Route};
use tinycdn_http::EntityTag;
use tinycdn_store::{Key, Store, StoreError};
use tinycdn_volume::read::find_file;
use tinycdn_volume::reference::Reference;
use tinycdn_volume::VolumeError;

use crate::body::{self, Body};
use crate::compress;
use crate::metrics::Metrics;
use crate::respond::{refuse_method, represent, Content, Reply, Representation};
use tinycdn_volume::stats::StoreStats;

/// The header naming the version a file URL resolved to, so clients can pin it.
pub const VERSION_HEADER: &str = "x-tinycdn-version";
/// Media type of manifest bytes.
const MANIFEST_TYPE: &str = "application/vnd.tinycdn.manifest";
/// Media type of a signed delta index.
const DELTA_INDEX_TYPE: &str = "application/vnd.tinycdn.delta-index";
/// Media type of a binary delta.
const DELTA_TYPE: &str = "application/vnd.tinycdn.delta";

/// A store served over HTTP.
#[derive(Debug)]
pub struct Origin {
    store: Arc<Store>,
    manifests: Mutex<HashMap<VersionId, Arc<Manifest>>>,
    verified: Mutex<HashSet<(FileId, bool)>>,
    metrics: Metrics,
    tag_policy: TagPolicy,
    variants: compress::Variants,
    cost: tokio::sync::Mutex<Option<(std::time::Instant, Arc<StoreStats>)>>,
    status: tokio::sync::Mutex<Option<(std::time::Instant, Arc<tinycdn_report::StoreSection>)>>,
    /// The process drains: `/readyz` answers 503.
    draining: std::sync::atomic::AtomicBool,
}

/// How long the store's cost figures (which walk every manifest) are reused between scrapes.
const COST_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// Where an origin's bytes come from.
enum Source {
    Memory(Bytes),
    Object { id: FileId, exec: bool },
}

/// The origin's [`Content`]: bytes in memory, an object file streamed from disk, or an object read
/// through a non-local backend.
enum OriginContent {
    Memory(Bytes),
    File(std::path::PathBuf),
    Store { store: Arc<Store>, key: Key },
}

impl Content for OriginContent {
    fn body(self, segments: Vec<Segment>) -> Body {
        match self {
            Self::Memory(bytes) => crate::respond::InMemory(bytes).body(segments),
            Self::File(path) => body::file_segments(path, segments),
            Self::Store { store, key } => body::blocking_segments(
                move |r| {
                    store
                        .read_key_range(
                            &key,
                            r.start,
                            usize::try_from(r.len()).unwrap_or(usize::MAX),
                        )
                        .map_err(|e| std::io::Error::other(e.to_string()))
                },
                segments,
            ),
        }
    }
}

impl Origin {
    /// Serves `store`.
    #[must_use]
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(Self {
            store: Arc::new(store),
            manifests: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashSet::new()),
            metrics: Metrics::default(),
            tag_policy: TagPolicy::default(),
            variants: compress::Variants::new(64 << 20),
            cost: tokio::sync::Mutex::new(None),
            status: tokio::sync::Mutex::new(None),
            draining: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The status report: the store's figures (recomputed at most every [`COST_TTL`]) and this
    /// origin's own request counts.
    async fn status_report(&self) -> tinycdn_report::Report {
        let store = {
            let mut held = self.status.lock().await;
            match held.as_ref() {
                Some((at, s)) if at.elapsed() < COST_TTL => Some(s.clone()),
                _ => {
                    let fresh = self
                        .blocking(tinycdn_report::StoreSection::from_store)
                        .await
                        .ok()
                        .map(Arc::new);
                    if let Some(f) = &fresh {
                        *held = Some((std::time::Instant::now(), f.clone()));
                    }
                    fresh
                }
            }
        };
        let own = self.metrics.render(|_| {});
        tinycdn_report::Report {
            generated: tinycdn_report::now(),
            store: store.map(|s| (*s).clone()),
            edges: vec![tinycdn_report::EdgeSection::from_metrics(
                "this origin",
                &own,
            )],
        }
    }

    /// The store's space and delta figures, recomputed at most every [`COST_TTL`].
    async fn cost(&self) -> Option<Arc<StoreStats>> {
        let mut held = self.cost.lock().await;
        if let Some((at, s)) = held.as_ref() {
            if at.elapsed() < COST_TTL {
                return Some(s.clone());
            }
        }
        let fresh = self
            .blocking(tinycdn_volume::stats::stats)
            .await
            .ok()
            .map(Arc::new)?;
        *held = Some((std::time::Instant::now(), fresh.clone()));
        Some(fresh)
    }

    /// The server's counters.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Answers one request.
    pub async fn answer<B>(self: &Arc<Self>, req: Request<B>) -> Response<Body> {
        let started = std::time::Instant::now();
        let head = req.method() == Method::HEAD;
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let class = route::parse(target).map_or("error", |r| r.class());
        let method = tinycdn_telemetry::http::method_label(req.method().as_str());
        let span = tinycdn_telemetry::trace::server_span(
            method,
            class,
            req.headers(),
            req.uri().path(),
            self.metrics.pop(),
        );
        let reply = match refuse_method(req.method()) {
            Some(refused) => refused,
            None => tracing::Instrument::instrument(self.respond(&req), span.clone()).await,
        };
        span.record("http.response.status_code", reply.status.as_u16());
        self.metrics.response(
            req.method().as_str(),
            class,
            reply.status.as_u16(),
            if head { 0 } else { reply.len },
            started.elapsed(),
        );
        let mut resp = reply.into_response(head);
        if tinycdn_telemetry::access::AccessLog::global().is_some() {
            resp.extensions_mut()
                .insert(tinycdn_telemetry::access::Annotation {
                    route: class,
                    upstream: None,
                    site: None,
                });
        }
        resp
    }

    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(&Store) -> T + Send + 'static) -> T {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    async fn respond<B>(self: &Arc<Self>, req: &Request<B>) -> Reply {
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let route = match route::parse(target) {
            Ok(r) => r,
            Err(e) => {
                let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
                return Reply::text(status, format!("{e}\n"));
            }
        };
        let rep = match route {
            Route::Health => return Reply::text(StatusCode::OK, "ok\n"),
            Route::Ready => {
                return crate::respond::readiness(
                    self.draining.load(std::sync::atomic::Ordering::Relaxed),
                )
            }
            Route::Metrics => {
                let cost = self.cost().await;
                let text = self
                    .metrics
                    .render(|e| crate::metrics::cost(e, cost.as_deref()));
                let mut r = Reply::text(StatusCode::OK, text);
                r.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(tinycdn_telemetry::CONTENT_TYPE),
                );
                return r;
            }
            Route::Home => return Reply::text(StatusCode::OK, tinycdn_http::route::home("origin")),
            Route::Status => {
                let html =
                    tinycdn_report::html::page("tinycdn origin", &self.status_report().await, true);
                let mut r = Reply::text(StatusCode::OK, html);
                r.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                );
                return r;
            }
            Route::StatusJson => {
                let json = serde_json::to_string(&self.status_report().await).unwrap_or_default();
                let mut r = Reply::text(StatusCode::OK, json);
                r.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                return r;
            }
            Route::Manifest(id) => self.manifest_rep(id).await,
            Route::Signatures(id) => {
                let key = Key::Signatures(id);
                self.raw_rep(
                    key,
                    "application/vnd.tinycdn.signatures",
                    self.tag_policy.header(),
                )
                .await
            }
            Route::Tag { volume, tag } => {
                let key = Key::Tag { volume, tag };
                self.raw_rep(key, "application/vnd.tinycdn.tag", self.tag_policy.header())
                    .await
            }
            Route::Object { id, exec } => self.object_rep(id, exec).await,
            Route::Snapshot => {
                self.raw_rep(
                    Key::Snapshot,
                    "application/vnd.tinycdn.snapshot",
                    self.tag_policy.header(),
                )
                .await
            }
            Route::Root(version) => {
                self.raw_rep(
                    Key::Root(version),
                    "application/vnd.tinycdn.root",
                    IMMUTABLE.into(),
                )
                .await
            }
            Route::Timestamp => {
                self.raw_rep(
                    Key::Timestamp,
                    "application/vnd.tinycdn.timestamp",
                    self.tag_policy.header(),
                )
                .await
            }
            Route::LogCheckpoint => {
                self.log_rep(
                    |s| tinycdn_volume::log::checkpoint(s).map(|c| c.map(|(_, note)| note)),
                    "text/plain; charset=utf-8",
                    "no-cache".into(),
                )
                .await
            }
            Route::LogTile(id) => {
                self.log_rep(
                    move |s| tinycdn_volume::log::read_tile(s, id),
                    "application/octet-stream",
                    IMMUTABLE.into(),
                )
                .await
            }
            Route::LogLookup(id) => {
                self.log_rep(
                    move |s| {
                        tinycdn_volume::log::lookup(s, &id)
                            .map(|i| i.map(|i| format!("{i}\n").into_bytes()))
                    },
                    "text/plain; charset=utf-8",
                    "no-cache".into(),
                )
                .await
            }
            Route::DeltaIndex(id) => {
                let key = Key::DeltaIndex(id);
                self.raw_rep(key, DELTA_INDEX_TYPE, IMMUTABLE.into()).await
            }
            Route::Delta { base, target } => {
                let key = Key::Delta { base, target };
                self.raw_rep(key, DELTA_TYPE, IMMUTABLE.into()).await
            }
            Route::File {
                volume,
                reference,
                path,
            } => {
                let r = Reference {
                    volume,
                    spec: reference,
                };
                self.file_rep(r, path.as_str().to_owned()).await
            }
        };
        let (mut rep, source) = match rep {
            Ok(r) => r,
            Err(reply) => return reply,
        };
        if let Source::Object { id, exec } = source {
            if let Some(coding) = compress::negotiate(req.headers(), &rep.media_type, rep.len) {
                let key = Key::Object { id, exec };
                let load = self.blocking(move |s| {
                    s.read_key(&key)
                        .map(Bytes::from)
                        .map_err(|e| std::io::Error::other(e.to_string()))
                });
                return match self.variants.get(id, coding, load).await {
                    Ok(bytes) => {
                        let v = compress::variant(&rep, coding, bytes.len() as u64);
                        represent(req.headers(), &v, OriginContent::Memory(bytes))
                    }
                    Err(e) => Reply::text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
                };
            }
            compress::add_vary(&mut rep);
        }
        represent(req.headers(), &rep, self.content(source))
    }

    async fn manifest_rep(&self, id: VersionId) -> Result<(Representation, Source), Reply> {
        let m = self.manifest(id).await?;
        let bytes = Bytes::from(m.to_bytes());
        Ok((
            Representation {
                etag: EntityTag::strong(id.to_hex()),
                media_type: MANIFEST_TYPE.into(),
                cache_control: IMMUTABLE.into(),
                len: bytes.len() as u64,
                extra: Vec::new(),
            },
            Source::Memory(bytes),
        ))
    }

    async fn raw_rep(
        &self,
        key: Key,
        media_type: &str,
        cache_control: String,
    ) -> Result<(Representation, Source), Reply> {
        let bytes = self
            .blocking(move |s| s.read_key(&key))
            .await
            .map_err(store_reply)?;
        Ok((
            Representation {
                etag: EntityTag::strong(blake3::hash(&bytes).to_hex().to_string()),
                media_type: media_type.into(),
                cache_control,
                len: bytes.len() as u64,
                extra: Vec::new(),
            },
            Source::Memory(Bytes::from(bytes)),
        ))
    }

    /// A transparency log resource; `None` from `read` is a 404, a damaged log a 500 (and a
    /// verification failure counted): the origin never serves a tile beyond its checkpoint or a
    /// checkpoint it cannot verify.
    async fn log_rep(
        &self,
        read: impl FnOnce(&Store) -> Result<Option<Vec<u8>>, tinycdn_volume::VolumeError>
            + Send
            + 'static,
        media_type: &str,
        cache_control: String,
    ) -> Result<(Representation, Source), Reply> {
        let bytes = match self.blocking(read).await {
            Ok(Some(b)) => b,
            Ok(None) => return Err(Reply::text(StatusCode::NOT_FOUND, "not in the log\n")),
            Err(e) => {
                self.metrics.verification_failure();
                return Err(Reply::text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the log cannot be served: {e}\n"),
                ));
            }
        };
        Ok((
            Representation {
                etag: EntityTag::strong(blake3::hash(&bytes).to_hex().to_string()),
                media_type: media_type.into(),
                cache_control,
                len: bytes.len() as u64,
                extra: Vec::new(),
            },
            Source::Memory(Bytes::from(bytes)),
        ))
    }

    async fn object_rep(&self, id: FileId, exec: bool) -> Result<(Representation, Source), Reply> {
        let key = Key::Object { id, exec };
        let size = self
            .blocking(move |s| s.key_size(&key))
            .await
            .map_err(store_reply)?
            .ok_or_else(|| Reply::text(StatusCode::NOT_FOUND, "no such object\n"))?;
        self.ensure_verified(id, exec).await?;
        Ok((
            Representation {
                etag: EntityTag::strong(id.to_hex()),
                media_type: "application/octet-stream".into(),
                cache_control: IMMUTABLE.into(),
                len: size,
                extra: Vec::new(),
            },
            Source::Object { id, exec },
        ))
    }

    async fn file_rep(
        &self,
        r: Reference,
        path: String,
    ) -> Result<(Representation, Source), Reply> {
        let spec = r.spec.clone();
        let resolve = r.clone();
        let resolved = self
            .blocking(move |s| resolve.resolve(s))
            .await
            .map_err(volume_reply)?;
        let manifest = self.manifest(resolved.id).await?;
        let reference = r.to_string();
        let file = find_file(&manifest, &path, &reference).map_err(volume_reply)?;
        let (id, exec, size) = (file.content.hash, file.exec, file.content.size);
        let media_type = file.content.media_type.clone();
        self.ensure_verified(id, exec).await?;
        let pinned = spec.len() == 64 && resolved.id.to_hex() == spec;
        Ok((
            Representation {
                etag: EntityTag::strong(id.to_hex()),
                media_type,
                cache_control: if pinned {
                    IMMUTABLE.into()
                } else {
                    self.tag_policy.header()
                },
                len: size,
                extra: vec![
                    (VERSION_HEADER, resolved.id.to_hex()),
                    (
                        "content-location",
                        format!("/v/{}@{}/{}", r.volume, resolved.id, path_for_url(&path)),
                    ),
                ],
            },
            Source::Object { id, exec },
        ))
    }

    async fn manifest(&self, id: VersionId) -> Result<Arc<Manifest>, Reply> {
        if let Some(m) = self
            .manifests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
        {
            return Ok(m.clone());
        }
        let (m, _) = self
            .blocking(move |s| s.read_manifest(&id))
            .await
            .map_err(store_reply)?;
        let m = Arc::new(m);
        self.manifests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, m.clone());
        Ok(m)
    }

    /// Hashes an object the first time it is served after start; refuses it if it is corrupt.
    async fn ensure_verified(&self, id: FileId, exec: bool) -> Result<(), Reply> {
        let known = self
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&(id, exec));
        if known {
            return Ok(());
        }
        let ok = self
            .blocking(move |s| s.verify_object(&id, exec))
            .await
            .map_err(store_reply)?;
        if !ok {
            self.metrics.verification_failure();
            return Err(Reply::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the stored object is corrupt; run `tinycdn fsck`\n",
            ));
        }
        self.metrics.object_verified();
        self.verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((id, exec));
        Ok(())
    }

    fn content(&self, source: Source) -> OriginContent {
        match source {
            Source::Memory(b) => OriginContent::Memory(b),
            Source::Object { id, exec } => {
                let key = Key::Object { id, exec };
                match self.store.local_path(&key) {
                    Some(path) => OriginContent::File(path),
                    None => OriginContent::Store {
                        store: self.store.clone(),
                        key,
                    },
                }
            }
        }
    }
}

impl crate::listen::Handler for Origin {
    async fn handle(
        self: Arc<Self>,
        req: Request<hyper::body::Incoming>,
        _: crate::ConnInfo,
    ) -> Response<Body> {
        self.answer(req).await
    }

    fn begin_drain(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Percent-encodes what a path needs to sit in a URL.
fn path_for_url(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn store_reply(e: StoreError) -> Reply {
    match e {
        StoreError::NotFound { .. } => Reply::text(StatusCode::NOT_FOUND, "not found\n"),
        StoreError::Corrupt { .. } | StoreError::Decode { .. } => Reply::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "stored data is corrupt; run `tinycdn fsck`\n",
        ),
        other => Reply::text(StatusCode::INTERNAL_SERVER_ERROR, format!("{other}\n")),
    }
}

fn volume_reply(e: VolumeError) -> Reply {
    match e {
        VolumeError::Store(s) => store_reply(s),
        VolumeError::UnknownReference { .. } | VolumeError::NoSuchFile { .. } => {
            Reply::text(StatusCode::NOT_FOUND, format!("{e}\n"))
        }
        VolumeError::Ambiguous { .. } => Reply::text(StatusCode::CONFLICT, format!("{e}\n")),
        VolumeError::Name(_) | VolumeError::BadReference { .. } => {
            Reply::text(StatusCode::BAD_REQUEST, format!("{e}\n"))
        }
        other => Reply::text(StatusCode::INTERNAL_SERVER_ERROR, format!("{other}\n")),
    }
}
