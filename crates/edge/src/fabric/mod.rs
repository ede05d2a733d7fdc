//! The fabric role of an edge: serves volumes like the origin does, filling chunks from upstream
//! tinycdn mirrors into the shared chunk cache, and accepting nothing it has not verified:
//! manifests by their id and a trusted signature, tags and delta indexes by a trusted signature,
//! chunks by their hash, deltas by the hash a verified delta index lists.
//!
//! - [`trust`]: the trust root in force, root rotations, the timestamp and snapshot;
//! - [`metadata`]: manifests, tags and delta indexes;
//! - [`chunks`]: file bodies, chunk by chunk with read-ahead;
//! - [`images`]: image variants of volume files (published with the volume, or made here);
//! - [`metrics`]: the fabric's Prometheus lines;
//! - [`peer`]: chunks asked by the other members of the region;
//! - `site`: what the site role asks of it (a site's version, manifest, small files).

mod chunks;
pub(crate) mod images;
mod log;
mod metadata;
mod metrics;
mod peer;
mod site;
mod tables;
mod trust;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use hyper::header::HeaderMap;
use hyper::{Request, StatusCode};
use tinycdn_core::manifest::{FileContent, Manifest};
use tinycdn_core::names::{TagName, VolumeName, VolumePath};
use tinycdn_core::timestamp::SignedTimestamp;
use tinycdn_core::{FileId, VersionId};
use tinycdn_http::cache_control::{TagPolicy, IMMUTABLE};
use tinycdn_http::route::Route;
use tinycdn_http::EntityTag;
use tinycdn_server::compress;
use tinycdn_server::respond::{represent, InMemory, Reply, Representation};
use tinycdn_volume::read::find_file;
use tinycdn_volume::trust::Trust;

use crate::cache::ChunkCache;
use tinycdn_fetch::{FetchError, Upstreams};

/// Largest manifest, signature set or tag accepted from upstream.
const MAX_METADATA: u64 = 64 << 20;
/// Largest trust root accepted from upstream.
const MAX_ROOT: u64 = 1 << 20;
/// Largest timestamp accepted from upstream.
const MAX_TIMESTAMP: u64 = 64 << 10;

/// A verified manifest with its canonical bytes and signature set, as served downstream.
type ManifestEntry = (Arc<Manifest>, Bytes, Bytes);
/// A verified tag's bytes, the version it names, and when it was fetched.
type TagEntry = (Bytes, VersionId, Instant);

/// One file of one version as every response for it presents it, prepared once from the
/// verified manifest: volume URLs are answered without parsing the manifest or formatting hashes
/// again.
#[derive(Debug)]
pub(crate) struct Prepared {
    volume: VolumeName,
    content: Arc<FileContent>,
    exec: bool,
    /// Without `Vary` (compressed variants add their own).
    rep: Representation,
    /// As sent uncompressed (with `Vary: Accept-Encoding` when the type is compressible).
    plain: Representation,
    /// Image variants of it already answered, by (parameters, whether `Vary: Accept`).
    variants: Mutex<HashMap<(tinycdn_image::Normalised, bool), images::Memo>>,
}

/// Prepared files by (version, pinned URL or tag URL) and path.
type PreparedFiles = HashMap<(VersionId, bool), HashMap<String, Arc<Prepared>>>;

/// Prepared files kept at most (the table is emptied when it grows past this).
const MAX_PREPARED: usize = 65_536;

/// The newest verified timestamp (bytes, decoded, and when it was fetched) and the snapshot it
/// names.
#[derive(Debug, Default)]
struct HeldMetadata {
    timestamp: Option<(Bytes, SignedTimestamp, Instant)>,
    snapshot: Option<Bytes>,
}

/// Volumes served from upstream tinycdn mirrors, verified.
#[derive(Debug)]
pub struct Fabric {
    upstreams: Upstreams,
    trust: std::sync::RwLock<Arc<Trust>>,
    cache: Arc<ChunkCache>,
    /// Manifests, objects, deltas and "not found" answers, bounded.
    tables: tables::Tables,
    /// Manifest loads in flight: requests for a manifest not in memory share one load.
    manifest_loads: Mutex<HashMap<VersionId, metadata::ManifestLoad>>,
    tags: Mutex<HashMap<(String, String), TagEntry>>,
    /// The newest verified timestamp and snapshot.
    held: Mutex<HeldMetadata>,
    tag_policy: TagPolicy,
    variants: compress::Variants,
    prepared: Mutex<(PreparedFiles, usize)>,
    images: Option<Arc<crate::images::Images>>,
    log: Option<log::EdgeLog>,
    /// The edges chunks are shared with.
    region: Option<Arc<crate::region::Region>>,
    /// Stored root rotations found not to be valid successors at start (removed).
    pub(crate) bad_stored_roots: std::sync::atomic::AtomicU64,
}

use tinycdn_core::time::unix_now;

/// The status and text a client gets for a failed fetch: what failed, never which upstream (the
/// whole error is logged).
fn fetch_failure(e: &FetchError) -> (StatusCode, String) {
    let status = match e {
        FetchError::NotFound { .. } => StatusCode::NOT_FOUND,
        _ => {
            tracing::warn!(error = %e, "upstream fetch failed");
            StatusCode::BAD_GATEWAY
        }
    };
    (status, format!("{}\n", e.public()))
}

/// [`fetch_failure`] as a reply.
fn fetch_reply(e: &FetchError) -> Reply {
    let (status, text) = fetch_failure(e);
    Reply::text(status, text)
}

impl Fabric {
    /// [`Upstreams::fetch`] of metadata named by id or name: a "not found" is remembered for
    /// [`tables::NOT_FOUND_TTL`] and answered from memory meanwhile (negative caching).
    pub(crate) async fn fetch_meta(
        &self,
        path: &str,
        max: u64,
        verify: impl Fn(&[u8]) -> bool,
    ) -> Result<Bytes, FetchError> {
        if self.tables.known_missing(path) {
            return Err(FetchError::NotFound {
                path: path.to_owned(),
            });
        }
        let r = self.upstreams.fetch(path, None, max, verify).await;
        if matches!(r, Err(FetchError::NotFound { .. })) {
            self.tables.remember_missing(path);
        }
        r
    }
}

/// A reply holding `bytes` (metadata, a delta) under a strong entity tag.
fn in_memory(req: &HeaderMap, bytes: Bytes, etag: String, media: &str, cc: String) -> Reply {
    let rep = Representation {
        etag: EntityTag::strong(etag),
        media_type: media.to_owned(),
        cache_control: cc,
        len: bytes.len() as u64,
        extra: Vec::new(),
    };
    represent(req, &rep, InMemory(bytes))
}

/// Metadata held in memory, tagged by the BLAKE3 of its bytes.
fn hashed(req: &HeaderMap, found: Result<Bytes, Reply>, media: &str, cc: String) -> Reply {
    match found {
        Ok(bytes) => {
            let etag = blake3::hash(&bytes).to_hex().to_string();
            in_memory(req, bytes, etag, media, cc)
        }
        Err(r) => r,
    }
}

impl Fabric {
    /// A fabric filling from `upstreams`, accepting what `trust` signed, caching in `cache`.
    #[must_use]
    pub fn new(upstreams: Upstreams, trust: Trust, cache: Arc<ChunkCache>) -> Self {
        Self {
            upstreams,
            trust: std::sync::RwLock::new(Arc::new(trust)),
            cache,
            tables: tables::Tables::new(),
            manifest_loads: Mutex::new(HashMap::new()),
            tags: Mutex::new(HashMap::new()),
            held: Mutex::new(HeldMetadata::default()),
            tag_policy: TagPolicy::default(),
            variants: compress::Variants::new(64 << 20),
            prepared: Mutex::new((HashMap::new(), 0)),
            images: None,
            log: None,
            region: None,
            bad_stored_roots: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Serves image variants of volume files (`?w=…`) with `images`.
    pub fn set_images(&mut self, images: Arc<crate::images::Images>) {
        self.images = Some(images);
    }

    /// Shares chunks with the other edges of `region`.
    pub fn set_region(&mut self, region: Arc<crate::region::Region>) {
        self.region = Some(region);
    }

    /// The region, when this edge is in one.
    #[must_use]
    pub fn region(&self) -> Option<&crate::region::Region> {
        self.region.as_deref()
    }

    /// Seconds a verified tag is used before the edge asks upstream again (default 60): how
    /// long a moved tag takes to show here.
    pub fn set_tag_max_age(&mut self, seconds: u32) {
        self.tag_policy.max_age = seconds;
    }

    /// The mirrors.
    #[must_use]
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    /// Answers a fabric route (not `/metrics` or `/healthz`, which the edge answers).
    pub(crate) async fn serve_route<B>(self: &Arc<Self>, req: &Request<B>, route: Route) -> Reply {
        let h = req.headers();
        match route {
            Route::Health
            | Route::Ready
            | Route::Metrics
            | Route::Status
            | Route::StatusJson
            | Route::Home => Reply::text(StatusCode::NOT_FOUND, "no such resource\n"),
            Route::Manifest(id) => match self.manifest(id).await {
                Ok((_, bytes, _)) => in_memory(
                    h,
                    bytes,
                    id.to_hex(),
                    "application/vnd.tinycdn.manifest",
                    IMMUTABLE.into(),
                ),
                Err(r) => r,
            },
            Route::Signatures(id) => hashed(
                h,
                self.manifest(id).await.map(|(_, _, sigs)| sigs),
                "application/vnd.tinycdn.signatures",
                self.tag_policy.header(),
            ),
            Route::Tag { volume, tag } => hashed(
                h,
                self.tag(volume.as_str(), &tag).await.map(|(b, _)| b),
                "application/vnd.tinycdn.tag",
                self.tag_policy.header(),
            ),
            Route::Root(version) => hashed(
                h,
                self.published_root(version).await,
                "application/vnd.tinycdn.root",
                IMMUTABLE.into(),
            ),
            Route::Timestamp => hashed(
                h,
                self.timestamp().await.map(|(b, _)| b),
                "application/vnd.tinycdn.timestamp",
                self.tag_policy.header(),
            ),
            Route::Snapshot => hashed(
                h,
                self.snapshot().await.map(|(b, _)| b),
                "application/vnd.tinycdn.snapshot",
                self.tag_policy.header(),
            ),
            Route::DeltaIndex(id) => hashed(
                h,
                self.delta_index(id).await,
                "application/vnd.tinycdn.delta-index",
                IMMUTABLE.into(),
            ),
            Route::Delta { base, target } => self.serve_delta(h, base, target).await,
            Route::LogCheckpoint => self.serve_log_checkpoint(h).await,
            Route::LogTile(id) => self.serve_log_tile(h, id).await,
            Route::LogLookup(id) => self.serve_log_lookup(h, id).await,
            Route::Object { id, exec } => self.serve_object(req, id, exec).await,
            Route::File {
                volume,
                reference,
                path,
            } => self.serve_file(req, &volume, &reference, &path).await,
        }
    }

    /// A delta that a verified delta index listed, checked against its hash before it is cached.
    async fn serve_delta(&self, h: &HeaderMap, base: FileId, target: FileId) -> Reply {
        let listed = self.tables.deltas.get(&(base, target));
        let Some((hash, size)) = listed else {
            return Reply::text(
                StatusCode::NOT_FOUND,
                "no delta index seen by this edge lists that delta\n",
            );
        };
        let path = format!("/d/{base}/{target}");
        let filled = self
            .cache
            .get_or_fill(hash.as_chunk(), async {
                self.upstreams
                    .fetch(&path, None, size, |b| {
                        b.len() as u64 == size && FileId::of(b) == hash
                    })
                    .await
            })
            .await;
        match filled {
            Ok(bytes) => in_memory(
                h,
                bytes,
                hash.to_hex(),
                "application/vnd.tinycdn.delta",
                IMMUTABLE.into(),
            ),
            Err(e) => fetch_reply(&e),
        }
    }

    /// A raw object that some verified manifest listed.
    async fn serve_object<B>(self: &Arc<Self>, req: &Request<B>, id: FileId, exec: bool) -> Reply {
        let Some(file) = self.tables.object(id, exec) else {
            return Reply::text(
                StatusCode::NOT_FOUND,
                "no manifest seen by this edge lists that object\n",
            );
        };
        let rep = Representation {
            etag: EntityTag::strong(id.to_hex()),
            media_type: "application/octet-stream".into(),
            cache_control: IMMUTABLE.into(),
            len: file.size,
            extra: Vec::new(),
        };
        self.serve_chunks(req, &rep, file, exec).await
    }

    /// The version a reference names: a full version id as it is, a tag through its verified
    /// record. Returns the id and whether the reference pinned it.
    async fn resolve(
        &self,
        volume: &VolumeName,
        reference: &str,
    ) -> Result<(VersionId, bool), Reply> {
        if reference.len() == 64 {
            return reference
                .parse::<VersionId>()
                .map(|id| (id, true))
                .map_err(|e| Reply::text(StatusCode::BAD_REQUEST, format!("{e}\n")));
        }
        let Ok(tag) = TagName::new(reference) else {
            return Err(Reply::text(
                StatusCode::NOT_FOUND,
                "an edge resolves tags and full version ids only\n",
            ));
        };
        if let Some(id) = self.fresh_tag(volume.as_str(), &tag) {
            return Ok((id, false));
        }
        // The slow paths are boxed so that the future of a hit stays small (hyper moves it).
        Box::pin(self.tag(volume.as_str(), &tag))
            .await
            .map(|(_, id)| (id, false))
    }

    /// A file of a volume version (`/v/VOLUME@REF/PATH`, or a path under a mount).
    pub(crate) async fn serve_file<B>(
        self: &Arc<Self>,
        req: &Request<B>,
        volume: &VolumeName,
        reference: &str,
        path: &VolumePath,
    ) -> Reply {
        let (id, pinned) = match self.resolve(volume, reference).await {
            Ok(found) => found,
            Err(r) => return r,
        };
        let ready = self
            .prepared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .get(&(id, pinned))
            .and_then(|files| files.get(path.as_str()))
            .cloned();
        let p = match ready {
            Some(p) => p,
            None => match Box::pin(self.prepare(id, pinned, volume, reference, path)).await {
                Ok(p) => p,
                Err(r) => return r,
            },
        };
        if p.volume != *volume {
            return Reply::text(StatusCode::NOT_FOUND, "no such volume version\n");
        }
        if let (Some(images), Some(query)) = (&self.images, req.uri().query()) {
            if let Some(source) = crate::images::source_format(&p.rep.media_type) {
                match tinycdn_image::params::split(query) {
                    Ok(None) => {}
                    Ok(Some(split)) => {
                        let at = (id, pinned, volume, reference);
                        return Box::pin(self.serve_variant(req, images, &p, at, source, &split))
                            .await;
                    }
                    Err(e) => return Reply::text(StatusCode::BAD_REQUEST, format!("{e}\n")),
                }
            }
        }
        self.serve_prepared(req, &p).await
    }

    /// A prepared file: compressed when the client takes it and it pays, else its chunks.
    async fn serve_prepared<B>(self: &Arc<Self>, req: &Request<B>, p: &Prepared) -> Reply {
        if let Some(coding) = compress::negotiate(req.headers(), &p.rep.media_type, p.rep.len) {
            return Box::pin(self.serve_compressed(
                req.headers(),
                &p.rep,
                &p.content,
                p.exec,
                coding,
            ))
            .await;
        }
        self.serve_chunks(req, &p.plain, p.content.clone(), p.exec)
            .await
    }

    /// Finds a file in a verified manifest and prepares its representation.
    async fn prepare(
        &self,
        id: VersionId,
        pinned: bool,
        volume: &VolumeName,
        reference: &str,
        path: &VolumePath,
    ) -> Result<Arc<Prepared>, Reply> {
        let (manifest, _, _) = match self.manifest(id).await {
            Ok(m) => m,
            Err(r) => return Err(r),
        };
        if manifest.volume != *volume {
            return Err(Reply::text(
                StatusCode::NOT_FOUND,
                "no such volume version\n",
            ));
        }
        let file = match find_file(&manifest, path.as_str(), &format!("{volume}@{reference}")) {
            Ok(f) => f,
            Err(e) => return Err(Reply::text(StatusCode::NOT_FOUND, format!("{e}\n"))),
        };
        let exec = file.exec;
        // The manifest's files were indexed when it was verified: share that copy.
        let indexed = self.tables.objects.get(&(file.content.hash, exec));
        let content = indexed.unwrap_or_else(|| Arc::new(file.content.clone()));
        let rep = Representation {
            etag: EntityTag::strong(content.hash.to_hex()),
            media_type: content.media_type.clone(),
            cache_control: if pinned {
                IMMUTABLE.into()
            } else {
                self.tag_policy.header()
            },
            len: content.size,
            extra: vec![("x-tinycdn-version", id.to_hex())],
        };
        let mut plain = rep.clone();
        compress::add_vary(&mut plain);
        let p = Arc::new(Prepared {
            volume: manifest.volume.clone(),
            content,
            exec,
            rep,
            plain,
            variants: Mutex::new(HashMap::new()),
        });
        let mut table = self.prepared.lock().unwrap_or_else(PoisonError::into_inner);
        if table.1 >= MAX_PREPARED {
            *table = (HashMap::new(), 0);
        }
        let files = table.0.entry((id, pinned)).or_default();
        if files.insert(path.as_str().to_owned(), p.clone()).is_none() {
            table.1 += 1;
        }
        Ok(p)
    }

    /// Forgets every prepared file (their manifests are to be verified again).
    fn forget_prepared(&self) {
        *self.prepared.lock().unwrap_or_else(PoisonError::into_inner) = (HashMap::new(), 0);
    }
}
