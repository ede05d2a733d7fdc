//! The edge role: serves volumes like the origin does, filling chunks from upstream mirrors into a
//! two-tier cache, and accepting nothing it has not verified: manifests by their id and a trusted
//! signature, tags and delta indexes by a trusted signature, chunks by their hash, deltas by the
//! hash a verified delta index lists.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Channel};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tinycdn_core::delta_index::SignedDeltaIndex;
use tinycdn_core::manifest::{FileContent, Manifest};
use tinycdn_core::names::TagName;
use tinycdn_core::root::{RootError, SignedRoot};
use tinycdn_core::sign::{SignatureSet, MANIFEST_CONTEXT};
use tinycdn_core::snapshot::{SignedSnapshot, TagPin};
use tinycdn_core::tag::SignedTag;
use tinycdn_core::timestamp::{FreshnessError, SignedTimestamp, Timestamp};
use tinycdn_core::{ChunkId, FileId, VersionId};
use tinycdn_http::cache_control::{TagPolicy, IMMUTABLE};
use tinycdn_http::multipart::Segment;
use tinycdn_http::range::{self, RangeOutcome};
use tinycdn_http::route::{self, Route};
use tinycdn_http::EntityTag;
use tinycdn_server::body::{self, Body};
use tinycdn_server::compress;
use tinycdn_server::respond::{
    header_str, refuse_method, represent, Content, Reply, Representation,
};
use tinycdn_volume::read::find_file;
use tinycdn_volume::trust::{Trust, MAX_ROTATIONS};

use crate::cache::ChunkCache;
use tinycdn_fetch::{FetchError, Upstreams};

/// Largest manifest, signature set or tag accepted from upstream.
const MAX_METADATA: u64 = 64 << 20;
/// Largest trust root accepted from upstream.
const MAX_ROOT: u64 = 1 << 20;
/// Largest timestamp accepted from upstream.
const MAX_TIMESTAMP: u64 = 64 << 10;
/// Chunks fetched ahead of the one being sent, for sequential reads of clips.
const PREFETCH: usize = 3;

/// A verified manifest with its canonical bytes and signature set, as served downstream.
type ManifestEntry = (Arc<Manifest>, Bytes, Bytes);
/// A verified tag's bytes, the version it names, and when it was fetched.
type TagEntry = (Bytes, VersionId, Instant);

/// The newest verified timestamp (bytes, decoded, and when it was fetched) and the snapshot it
/// names.
#[derive(Debug, Default)]
struct HeldMetadata {
    timestamp: Option<(Bytes, SignedTimestamp, Instant)>,
    snapshot: Option<Bytes>,
}

/// An edge node.
#[derive(Debug)]
pub struct Edge {
    upstreams: Upstreams,
    trust: std::sync::RwLock<Arc<Trust>>,
    cache: ChunkCache,
    manifests: Mutex<HashMap<VersionId, ManifestEntry>>,
    objects: Mutex<HashMap<(FileId, bool), Arc<FileContent>>>,
    tags: Mutex<HashMap<(String, String), TagEntry>>,
    /// The newest verified timestamp and snapshot.
    held: Mutex<HeldMetadata>,
    /// (base, target) → (delta hash, delta size), from every verified delta index.
    deltas: Mutex<HashMap<(FileId, FileId), (FileId, u64)>>,
    tag_policy: TagPolicy,
    responses: [AtomicU64; 6],
    bytes_served: AtomicU64,
    variants: compress::Variants,
}

/// Seconds since the Unix epoch (expiry checks).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn fetch_reply(e: &FetchError) -> Reply {
    match e {
        FetchError::NotFound { .. } => Reply::text(StatusCode::NOT_FOUND, format!("{e}\n")),
        _ => Reply::text(StatusCode::BAD_GATEWAY, format!("{e}\n")),
    }
}

impl Edge {
    /// An edge filling from `upstreams`, accepting what `trust` signed, caching in `cache`.
    #[must_use]
    pub fn new(upstreams: Upstreams, trust: Trust, cache: ChunkCache) -> Arc<Self> {
        Arc::new(Self {
            upstreams,
            trust: std::sync::RwLock::new(Arc::new(trust)),
            cache,
            manifests: Mutex::new(HashMap::new()),
            objects: Mutex::new(HashMap::new()),
            tags: Mutex::new(HashMap::new()),
            deltas: Mutex::new(HashMap::new()),
            held: Mutex::new(HeldMetadata::default()),
            tag_policy: TagPolicy::default(),
            responses: Default::default(),
            bytes_served: AtomicU64::new(0),
            variants: compress::Variants::new(64 << 20),
        })
    }

    /// The cache, for its counters.
    #[must_use]
    pub fn cache(&self) -> &ChunkCache {
        &self.cache
    }

    /// The mirrors.
    #[must_use]
    pub fn upstreams(&self) -> &Upstreams {
        &self.upstreams
    }

    /// Answers one request.
    pub async fn answer<B>(self: &Arc<Self>, req: Request<B>) -> Response<Body> {
        let head = req.method() == Method::HEAD;
        let reply = match refuse_method(req.method()) {
            Some(refused) => refused,
            None => self.respond(&req).await,
        };
        let class = usize::from(reply.status.as_u16() / 100).min(5);
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        if !head {
            self.bytes_served.fetch_add(reply.len, Ordering::Relaxed);
        }
        reply.into_response(head)
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
        let memory = |bytes: Bytes, etag: String, media: &str, cc: String| {
            let rep = Representation {
                etag: EntityTag::strong(etag),
                media_type: media.to_owned(),
                cache_control: cc,
                len: bytes.len() as u64,
                extra: Vec::new(),
            };
            represent(req.headers(), &rep, Memory(bytes))
        };
        // Metadata held in memory, tagged by the BLAKE3 of its bytes.
        let hashed = |found: Result<Bytes, Reply>, media: &str, cc: String| match found {
            Ok(bytes) => {
                let etag = blake3::hash(&bytes).to_hex().to_string();
                memory(bytes, etag, media, cc)
            }
            Err(r) => r,
        };
        match route {
            Route::Health => Reply::text(StatusCode::OK, "ok\n"),
            Route::Metrics => {
                let mut r = Reply::text(StatusCode::OK, self.render_metrics());
                r.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                r
            }
            Route::Manifest(id) => match self.manifest(id).await {
                Ok((_, bytes, _)) => memory(
                    bytes,
                    id.to_hex(),
                    "application/vnd.tinycdn.manifest",
                    IMMUTABLE.into(),
                ),
                Err(r) => r,
            },
            Route::Signatures(id) => hashed(
                self.manifest(id).await.map(|(_, _, sigs)| sigs),
                "application/vnd.tinycdn.signatures",
                self.tag_policy.header(),
            ),
            Route::Tag { volume, tag } => hashed(
                self.tag(volume.as_str(), &tag).await.map(|(b, _)| b),
                "application/vnd.tinycdn.tag",
                self.tag_policy.header(),
            ),
            Route::Root(version) => hashed(
                self.published_root(version).await,
                "application/vnd.tinycdn.root",
                IMMUTABLE.into(),
            ),
            Route::Timestamp => hashed(
                self.timestamp().await.map(|(b, _)| b),
                "application/vnd.tinycdn.timestamp",
                self.tag_policy.header(),
            ),
            Route::Snapshot => hashed(
                self.snapshot().await.map(|(b, _)| b),
                "application/vnd.tinycdn.snapshot",
                self.tag_policy.header(),
            ),
            Route::DeltaIndex(id) => hashed(
                self.delta_index(id).await,
                "application/vnd.tinycdn.delta-index",
                IMMUTABLE.into(),
            ),
            Route::Delta { base, target } => {
                let listed = self
                    .deltas
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&(base, target))
                    .copied();
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
                    Ok(bytes) => memory(
                        bytes,
                        hash.to_hex(),
                        "application/vnd.tinycdn.delta",
                        IMMUTABLE.into(),
                    ),
                    Err(e) => fetch_reply(&e),
                }
            }
            Route::Object { id, exec } => {
                let file = self
                    .objects
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get(&(id, exec))
                    .cloned();
                match file {
                    None => Reply::text(
                        StatusCode::NOT_FOUND,
                        "no manifest seen by this edge lists that object\n",
                    ),
                    Some(file) => {
                        let rep = Representation {
                            etag: EntityTag::strong(id.to_hex()),
                            media_type: "application/octet-stream".into(),
                            cache_control: IMMUTABLE.into(),
                            len: file.size,
                            extra: Vec::new(),
                        };
                        self.serve_chunks(req, &rep, file, exec).await
                    }
                }
            }
            Route::File {
                volume,
                reference,
                path,
            } => {
                let pinned = reference.len() == 64;
                let id = if pinned {
                    match reference.parse::<VersionId>() {
                        Ok(id) => id,
                        Err(e) => return Reply::text(StatusCode::BAD_REQUEST, format!("{e}\n")),
                    }
                } else {
                    let Ok(tag) = TagName::new(&reference) else {
                        return Reply::text(
                            StatusCode::NOT_FOUND,
                            "an edge resolves tags and full version ids only\n",
                        );
                    };
                    match self.tag(volume.as_str(), &tag).await {
                        Ok((_, id)) => id,
                        Err(r) => return r,
                    }
                };
                let (manifest, _, _) = match self.manifest(id).await {
                    Ok(m) => m,
                    Err(r) => return r,
                };
                if manifest.volume != volume {
                    return Reply::text(StatusCode::NOT_FOUND, "no such volume version\n");
                }
                let file =
                    match find_file(&manifest, path.as_str(), &format!("{volume}@{reference}")) {
                        Ok(f) => f,
                        Err(e) => return Reply::text(StatusCode::NOT_FOUND, format!("{e}\n")),
                    };
                let exec = file.exec;
                let content = Arc::new(file.content.clone());
                let mut rep = Representation {
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
                if let Some(coding) = compress::negotiate(req.headers(), &rep.media_type, rep.len) {
                    let load = async {
                        let mut whole =
                            Vec::with_capacity(usize::try_from(content.size).unwrap_or(0));
                        for (i, (off, _)) in content.chunk_offsets().enumerate() {
                            let b = self
                                .chunk(&content, exec, i, off)
                                .await
                                .map_err(|e| std::io::Error::other(e.to_string()))?;
                            whole.extend_from_slice(&b);
                        }
                        Ok(Bytes::from(whole))
                    };
                    return match self.variants.get(content.hash, coding, load).await {
                        Ok(bytes) => {
                            let v = compress::variant(&rep, coding, bytes.len() as u64);
                            represent(req.headers(), &v, Memory(bytes))
                        }
                        Err(e) => Reply::text(StatusCode::BAD_GATEWAY, format!("{e}\n")),
                    };
                }
                compress::add_vary(&mut rep);
                self.serve_chunks(req, &rep, content, exec).await
            }
        }
    }

    /// Makes sure the first chunk a request needs can be had before committing to a status, so
    /// that an unreachable upstream gives 502 rather than a truncated 200.
    async fn serve_chunks<B>(
        self: &Arc<Self>,
        req: &Request<B>,
        rep: &Representation,
        file: Arc<FileContent>,
        exec: bool,
    ) -> Reply {
        let outcome = range::evaluate(
            header_str(req.headers(), header::RANGE),
            header_str(req.headers(), header::IF_RANGE),
            &rep.etag,
            rep.len,
        );
        let first = match &outcome {
            RangeOutcome::Full if rep.len > 0 => Some(0),
            RangeOutcome::Partial(r) => r.first().map(|r| r.start),
            _ => None,
        };
        let conditional = req.headers().contains_key(header::IF_NONE_MATCH);
        if let (Some(byte), false, false) = (first, conditional, req.method() == Method::HEAD) {
            if let Some((idx, offset)) = locate(&file, byte) {
                let cached = self.cache.memory_get(&file.chunks[idx].id).is_some();
                if !cached {
                    if let Err(e) = self.chunk(&file, exec, idx, offset).await {
                        return fetch_reply(&e);
                    }
                }
            }
        }
        represent(
            req.headers(),
            rep,
            Chunks {
                edge: self.clone(),
                file,
                exec,
            },
        )
    }

    /// One verified chunk of a file, from cache or upstream.
    async fn chunk(
        &self,
        file: &FileContent,
        exec: bool,
        idx: usize,
        offset: u64,
    ) -> Result<Bytes, FetchError> {
        let c = file.chunks[idx];
        let path = format!("/o/{}{}", file.hash, if exec { ".x" } else { "" });
        let len = u64::from(c.len);
        self.cache
            .get_or_fill(c.id, async {
                self.upstreams
                    .fetch(&path, Some((offset, offset + len - 1)), len, |b| {
                        b.len() as u64 == len && ChunkId::of(b) == c.id
                    })
                    .await
            })
            .await
    }

    fn verify_manifest(&self, id: VersionId, bytes: &[u8], sigs: &[u8]) -> Option<Manifest> {
        if VersionId::of(bytes) != id {
            return None;
        }
        let m = Manifest::from_bytes(bytes).ok()?;
        let set = SignatureSet::from_bytes(sigs).ok()?;
        self.trust()
            .ring()
            .verify(&set, MANIFEST_CONTEXT, id.as_bytes(), "manifest")
            .ok()?;
        Some(m)
    }

    /// A verified manifest with its bytes and signature set, from memory, disk or upstream.
    async fn manifest(&self, id: VersionId) -> Result<ManifestEntry, Reply> {
        if let Some(m) = self
            .manifests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
        {
            return Ok(m.clone());
        }
        let from_disk = self
            .cache
            .get_meta(&format!("m/{id}"))
            .zip(self.cache.get_meta(&format!("s/{id}")))
            .and_then(|(m, s)| {
                self.verify_manifest(id, &m, &s)
                    .map(|man| (man, Bytes::from(m), Bytes::from(s)))
            });
        let (manifest, bytes, sigs) = match from_disk {
            Some(found) => found,
            None => {
                if let Some(refused) = self.expired_trust() {
                    return Err(refused);
                }
                let bytes = self
                    .upstreams
                    .fetch(&format!("/m/{id}"), None, MAX_METADATA, |b| {
                        VersionId::of(b) == id
                    })
                    .await
                    .map_err(|e| fetch_reply(&e))?;
                let sigs = self
                    .upstreams
                    .fetch(&format!("/s/{id}"), None, MAX_METADATA, |s| {
                        self.verify_manifest(id, &bytes, s).is_some()
                    })
                    .await
                    .map_err(|e| fetch_reply(&e))?;
                let manifest = self.verify_manifest(id, &bytes, &sigs).ok_or_else(|| {
                    Reply::text(StatusCode::BAD_GATEWAY, "the manifest does not verify\n")
                })?;
                self.cache.put_meta(&format!("m/{id}"), &bytes);
                self.cache.put_meta(&format!("s/{id}"), &sigs);
                (manifest, bytes, sigs)
            }
        };
        let manifest = Arc::new(manifest);
        {
            let mut objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
            for e in &manifest.entries {
                if let Some(f) = e.file() {
                    objects
                        .entry((f.hash, e.mode & 0o111 != 0))
                        .or_insert_with(|| Arc::new(f.clone()));
                }
            }
        }
        let entry = (manifest, bytes, sigs);
        self.manifests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, entry.clone());
        Ok(entry)
    }

    /// Refuses new metadata fetches once the trust root has expired (content already verified
    /// and cached is still served: pinned URLs keep working, tags stop moving).
    fn expired_trust(&self) -> Option<Reply> {
        let now = unix_now();
        self.trust()
            .check_fresh(now)
            .err()
            .map(|e| Reply::text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")))
    }

    /// The newest version of a record this edge has accepted, from memory or its disk (so a
    /// restart does not lower the floor): upstream copies older than this are refused.
    fn floor(
        &self,
        memory: Option<&Bytes>,
        key: &str,
        version: impl Fn(&[u8]) -> Option<u64>,
    ) -> u64 {
        let disk = self.cache.get_meta(key).and_then(|b| version(&b));
        memory.and_then(|b| version(b)).max(disk).unwrap_or(0)
    }

    /// A timestamp this edge may serve: signed by the timestamp role, unexpired, and naming a
    /// timestamp and snapshot version no older than the floors.
    fn check_timestamp(&self, bytes: &[u8], floor: (u64, u64)) -> Option<SignedTimestamp> {
        let t = SignedTimestamp::from_bytes(bytes).ok()?;
        t.check(&self.trust().timestamp_ring(), unix_now(), floor)
            .ok()?;
        Some(t)
    }

    /// Why no upstream timestamp was usable, for the error the edge answers with: one more
    /// fetch without the check, then the check's own words (an expired one is a 503).
    async fn explain_timestamp(&self, floor: (u64, u64), failed: &FetchError) -> Reply {
        let fallback = || fetch_reply(failed);
        let Ok(bytes) = self
            .upstreams
            .fetch("/ts", None, MAX_TIMESTAMP, |_| true)
            .await
        else {
            return fallback();
        };
        let Ok(t) = SignedTimestamp::from_bytes(&bytes) else {
            return fallback();
        };
        match t.check(&self.trust().timestamp_ring(), unix_now(), floor) {
            Err(e @ FreshnessError::Expired { .. }) => {
                Reply::text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n"))
            }
            Err(e) => Reply::text(StatusCode::BAD_GATEWAY, format!("{e}\n")),
            Ok(()) => fallback(),
        }
    }

    /// The newest verified, unexpired timestamp: from memory within the tag max-age, else from
    /// upstream (never older than one accepted before, even across restarts), else — every
    /// upstream failing — the last one accepted while it has not expired.
    async fn timestamp(&self) -> Result<(Bytes, SignedTimestamp), Reply> {
        let fresh = Duration::from_secs(u64::from(self.tag_policy.max_age));
        let cached = self.lock_meta().timestamp.clone();
        // Verified when it was accepted; within the max-age only its expiry can change.
        if let Some((b, t, at)) = &cached {
            if at.elapsed() < fresh && !t.timestamp.expired(unix_now()) {
                return Ok((b.clone(), t.clone()));
            }
        }
        // A rotation first: it may replace an expired root or revoke a key.
        self.follow_rotations().await;
        if let Some(refused) = self.expired_trust() {
            return Err(refused);
        }
        let snapshot = self.lock_meta().snapshot.clone();
        let floor = (
            self.floor(cached.as_ref().map(|c| &c.0), "ts", |b| {
                SignedTimestamp::from_bytes(b)
                    .ok()
                    .map(|t| t.timestamp.version)
            }),
            self.floor(snapshot.as_ref(), "n", |b| {
                SignedSnapshot::from_bytes(b)
                    .ok()
                    .map(|s| s.snapshot.version)
            }),
        );
        match self
            .upstreams
            .fetch_newest("/ts", MAX_TIMESTAMP, |b| {
                self.check_timestamp(b, floor).map(|t| t.timestamp.version)
            })
            .await
        {
            Ok(bytes) => {
                let t = self.check_timestamp(&bytes, floor).ok_or_else(|| {
                    Reply::text(StatusCode::BAD_GATEWAY, "the timestamp does not verify\n")
                })?;
                self.cache.put_meta("ts", &bytes);
                self.lock_meta().timestamp = Some((bytes.clone(), t.clone(), Instant::now()));
                Ok((bytes, t))
            }
            Err(e) => {
                let last = cached
                    .map(|c| c.0)
                    .or_else(|| self.cache.get_meta("ts").map(Bytes::from));
                match last.and_then(|b| self.check_timestamp(&b, floor).map(|t| (b, t))) {
                    Some(found) => Ok(found),
                    None => Err(self.explain_timestamp(floor, &e).await),
                }
            }
        }
    }

    /// A snapshot this edge may serve: exactly the one `timestamp` names, signed by the snapshot
    /// role and unexpired.
    fn check_snapshot(&self, bytes: &[u8], timestamp: &Timestamp) -> Option<SignedSnapshot> {
        timestamp
            .open_snapshot(bytes, &self.trust().snapshot_ring(), unix_now())
            .ok()
    }

    /// The snapshot the current timestamp names: from memory or disk when it is that one, else
    /// from upstream, reading no more than the length the timestamp declares.
    async fn snapshot(&self) -> Result<(Bytes, SignedSnapshot), Reply> {
        let (_, t) = self.timestamp().await?;
        let named = &t.timestamp;
        let held = self
            .lock_meta()
            .snapshot
            .clone()
            .or_else(|| self.cache.get_meta("n").map(Bytes::from));
        if let Some(b) = held {
            if let Some(s) = self.check_snapshot(&b, named) {
                self.lock_meta().snapshot = Some(b.clone());
                return Ok((b, s));
            }
        }
        let bytes = self
            .upstreams
            .fetch("/n", None, named.snapshot_length, |b| {
                self.check_snapshot(b, named).is_some()
            })
            .await
            .map_err(|e| fetch_reply(&e))?;
        let s = self.check_snapshot(&bytes, named).ok_or_else(|| {
            Reply::text(StatusCode::BAD_GATEWAY, "the snapshot does not verify\n")
        })?;
        self.cache.put_meta("n", &bytes);
        self.lock_meta().snapshot = Some(bytes.clone());
        Ok((bytes, s))
    }

    /// A published trust root version, from disk or upstream, passed on only when it decodes, is
    /// that version and is signed by its own root threshold (the node walking the chain checks
    /// each step against its predecessor).
    async fn published_root(&self, version: u64) -> Result<Bytes, Reply> {
        let check = |b: &[u8]| {
            SignedRoot::from_bytes(b)
                .is_ok_and(|r| r.root.version == version && r.verify_self().is_ok())
        };
        let key = format!("r/{version}");
        if let Some(b) = self.cache.get_meta(&key).filter(|b| check(b)) {
            return Ok(Bytes::from(b));
        }
        let bytes = self
            .upstreams
            .fetch(&format!("/r/{version}"), None, MAX_ROOT, check)
            .await
            .map_err(|e| fetch_reply(&e))?;
        self.cache.put_meta(&key, &bytes);
        Ok(bytes)
    }

    fn lock_meta(&self) -> std::sync::MutexGuard<'_, HeldMetadata> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The trust in force (replaced when the edge follows a root rotation).
    fn trust(&self) -> Arc<Trust> {
        self.trust
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `root` in force: pinned on disk, and everything verified under the previous root
    /// (manifests, tags, delta indexes, timestamp, snapshot) dropped from memory, to be verified
    /// again under the new one (chunks, named by their hash, stay).
    fn adopt_root(&self, root: SignedRoot) {
        self.cache.put_meta("root", &root.to_bytes());
        *self.trust.write().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(Trust::from_root(root));
        self.manifests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.tags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.deltas
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        *self.lock_meta() = HeldMetadata::default();
    }

    /// Before serving: the root given, followed through the rotations this edge's disk holds
    /// (each a valid successor of the one before), and never older than the root its disk
    /// pinned (which would restore revoked keys). Without a disk tier there is nothing to
    /// remember.
    ///
    /// # Errors
    /// [`RootError::Rollback`]; a stored rotation that does not verify.
    pub fn start_root(&self) -> Result<(), RootError> {
        let Some(given) = self.trust().root().cloned() else {
            return Ok(());
        };
        let newest = given
            .clone()
            .follow(MAX_ROTATIONS, |v| self.cache.get_meta(&format!("r/{v}")))?;
        if let Some(seen) = self
            .cache
            .get_meta("root")
            .and_then(|b| SignedRoot::from_bytes(&b).ok())
        {
            newest.check_not_older(&seen)?;
            if seen == newest && newest == given {
                return Ok(());
            }
        }
        self.adopt_root(newest);
        Ok(())
    }

    /// Follows the root rotations the upstreams publish (`/r/N+1`, …; each a valid successor of
    /// the root in force), keeping each on disk. Run whenever the timestamp is refreshed, so an
    /// edge applies a rotation without a restart. Returns the root version in force.
    async fn follow_rotations(&self) -> Option<u64> {
        let mut current = self.trust().root().cloned()?;
        let start = current.root.version;
        for _ in 0..MAX_ROTATIONS {
            let path = format!("/r/{}", current.root.version.saturating_add(1));
            let successor = |b: &[u8]| {
                SignedRoot::from_bytes(b)
                    .ok()
                    .filter(|n| current.verify_successor(n).is_ok())
            };
            // Not published, or no mirror offered a valid one: the root in force stays.
            let Ok(bytes) = self
                .upstreams
                .fetch(&path, None, MAX_ROOT, |b| successor(b).is_some())
                .await
            else {
                break;
            };
            let Some(next) = successor(&bytes) else {
                break;
            };
            self.cache
                .put_meta(&format!("r/{}", next.root.version), &bytes);
            current = next;
        }
        let version = current.root.version;
        if version != start {
            self.adopt_root(current);
        }
        Some(version)
    }

    fn verify_delta_index(&self, id: VersionId, bytes: &[u8]) -> Option<SignedDeltaIndex> {
        let index = SignedDeltaIndex::from_bytes(bytes).ok()?;
        (index.index.version == id).then_some(())?;
        index.verify(self.trust().ring()).ok()?;
        Some(index)
    }

    /// A verified delta index, from disk or upstream; records the deltas it lists.
    async fn delta_index(&self, id: VersionId) -> Result<Bytes, Reply> {
        let key = format!("x/{id}");
        let (bytes, index) = match self
            .cache
            .get_meta(&key)
            .and_then(|b| self.verify_delta_index(id, &b).map(|i| (Bytes::from(b), i)))
        {
            Some(found) => found,
            None => {
                if let Some(refused) = self.expired_trust() {
                    return Err(refused);
                }
                let bytes = self
                    .upstreams
                    .fetch(&format!("/x/{id}"), None, MAX_METADATA, |b| {
                        self.verify_delta_index(id, b).is_some()
                    })
                    .await
                    .map_err(|e| fetch_reply(&e))?;
                let index = self.verify_delta_index(id, &bytes).ok_or_else(|| {
                    Reply::text(StatusCode::BAD_GATEWAY, "the delta index does not verify\n")
                })?;
                self.cache.put_meta(&key, &bytes);
                (bytes, index)
            }
        };
        let mut deltas = self.deltas.lock().unwrap_or_else(PoisonError::into_inner);
        for e in &index.index.entries {
            deltas.insert((e.base, e.target), (e.delta, e.delta_size));
        }
        Ok(bytes)
    }

    /// A tag this edge may serve for `volume@tag`: signed by the targets role, not older than
    /// `floor` (the newest copy this edge accepted: no rollback) and, under a trust root, the
    /// record the current snapshot pins (no mix-and-match).
    fn check_tag(
        &self,
        volume: &str,
        tag: &str,
        bytes: &[u8],
        pin: Option<&TagPin>,
        floor: Option<&SignedTag>,
    ) -> Option<VersionId> {
        let t = SignedTag::from_bytes(bytes).ok()?;
        (t.record.volume.as_str() == volume && t.record.tag.as_str() == tag).then_some(())?;
        if pin.is_some_and(|p| p.hash != t.record_hash())
            || floor.is_some_and(|f| t.is_older_than(f))
        {
            return None;
        }
        t.verify(self.trust().ring()).ok()?;
        Some(t.record.version)
    }

    /// A verified tag: fresh from memory, else from upstream, else stale within
    /// `stale-if-error` (from memory or disk) when every upstream fails.
    async fn tag(&self, volume: &str, tag: &TagName) -> Result<(Bytes, VersionId), Reply> {
        let key = (volume.to_owned(), tag.to_string());
        let cached = self
            .tags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        let fresh = Duration::from_secs(u64::from(self.tag_policy.max_age));
        if let Some((b, id, at)) = &cached {
            if at.elapsed() < fresh {
                return Ok((b.clone(), *id));
            }
        }
        // Under a trust root, the tag must be the one the current snapshot lists (fetching the
        // timestamp follows rotations and refuses an expired root).
        let pin = match self.trust().root() {
            Some(_) => {
                let (_, s) = self.snapshot().await?;
                let pin = s.snapshot.find(volume, tag.as_str()).cloned();
                Some(pin.ok_or_else(|| {
                    Reply::text(
                        StatusCode::NOT_FOUND,
                        format!(
                            "snapshot version {} does not list {volume}@{tag}\n",
                            s.snapshot.version
                        ),
                    )
                })?)
            }
            None => None,
        };
        if let Some(refused) = self.expired_trust() {
            return Err(refused);
        }
        let meta_key = format!("t/{volume}/{tag}");
        let disk = self.cache.get_meta(&meta_key);
        let floor = [cached.as_ref().map(|c| &c.0[..]), disk.as_deref()]
            .into_iter()
            .flatten()
            .filter_map(|b| SignedTag::from_bytes(b).ok())
            .reduce(|a, b| if a.is_older_than(&b) { b } else { a });
        let path = format!("/t/{volume}/{tag}");
        match self
            .upstreams
            .fetch(&path, None, MAX_METADATA, |b| {
                self.check_tag(volume, tag.as_str(), b, pin.as_ref(), floor.as_ref())
                    .is_some()
            })
            .await
        {
            Ok(bytes) => {
                let id = self
                    .check_tag(volume, tag.as_str(), &bytes, pin.as_ref(), floor.as_ref())
                    .ok_or_else(|| {
                        Reply::text(StatusCode::BAD_GATEWAY, "the tag does not verify\n")
                    })?;
                self.cache.put_meta(&meta_key, &bytes);
                self.tags
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(key, (bytes.clone(), id, Instant::now()));
                Ok((bytes, id))
            }
            Err(e) => {
                let stale = fresh + Duration::from_secs(u64::from(self.tag_policy.stale_if_error));
                if let Some((b, id, at)) = cached {
                    if at.elapsed() < stale {
                        return Ok((b, id));
                    }
                }
                if !matches!(e, FetchError::NotFound { .. }) {
                    if let Some(b) = disk {
                        if let Some(id) =
                            self.check_tag(volume, tag.as_str(), &b, pin.as_ref(), None)
                        {
                            return Ok((Bytes::from(b), id));
                        }
                    }
                }
                Err(fetch_reply(&e))
            }
        }
    }

    fn render_metrics(&self) -> String {
        let c = &self.cache.counters;
        let mut out = String::new();
        let mut metric = |name: &str, help: &str, kind: &str, lines: Vec<(String, u64)>| {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, v) in lines {
                out.push_str(&format!("{name}{{role=\"edge\"{labels}}} {v}\n"));
            }
        };
        metric(
            "tinycdn_responses_total",
            "Responses sent, by status class.",
            "counter",
            (1..6)
                .map(|i| {
                    (
                        format!(",status=\"{i}xx\""),
                        self.responses[i].load(Ordering::Relaxed),
                    )
                })
                .collect(),
        );
        metric(
            "tinycdn_body_bytes_sent_total",
            "Body bytes announced in responses.",
            "counter",
            vec![(String::new(), self.bytes_served.load(Ordering::Relaxed))],
        );
        metric(
            "tinycdn_cache_chunks_total",
            "Chunk lookups by outcome.",
            "counter",
            vec![
                (
                    ",tier=\"memory\",result=\"hit\"".into(),
                    c.memory_hits.load(Ordering::Relaxed),
                ),
                (
                    ",tier=\"disk\",result=\"hit\"".into(),
                    c.disk_hits.load(Ordering::Relaxed),
                ),
                (
                    ",tier=\"upstream\",result=\"miss\"".into(),
                    c.misses.load(Ordering::Relaxed),
                ),
            ],
        );
        metric(
            "tinycdn_coalesced_waiters_total",
            "Requests that waited for another request's fill of the same chunk.",
            "counter",
            vec![(String::new(), c.coalesced.load(Ordering::Relaxed))],
        );
        metric(
            "tinycdn_disk_evictions_total",
            "Chunks evicted from the disk tier.",
            "counter",
            vec![(String::new(), c.disk_evictions.load(Ordering::Relaxed))],
        );
        metric(
            "tinycdn_disk_write_errors_total",
            "Disk-tier writes that failed (the edge kept serving).",
            "counter",
            vec![(String::new(), c.disk_write_errors.load(Ordering::Relaxed))],
        );
        metric(
            "tinycdn_cache_bytes",
            "Bytes held per tier.",
            "gauge",
            vec![
                (",tier=\"memory\"".into(), self.cache.memory_bytes()),
                (",tier=\"disk\"".into(), self.cache.disk_bytes()),
            ],
        );
        metric(
            "tinycdn_upstream_fetched_bytes_total",
            "Verified bytes fetched from upstream.",
            "counter",
            vec![(String::new(), self.upstreams.fetched_bytes())],
        );
        let mirrors = self.upstreams.mirrors();
        metric(
            "tinycdn_verification_failures_total",
            "Upstream responses whose bytes did not verify, by upstream.",
            "counter",
            mirrors
                .iter()
                .map(|m| (format!(",upstream=\"{}\"", m.base()), m.lies()))
                .chain(std::iter::once((
                    ",upstream=\"disk\"".into(),
                    c.disk_corrupt.load(Ordering::Relaxed),
                )))
                .collect(),
        );
        metric(
            "tinycdn_upstream_healthy",
            "Whether an upstream is in use (1) or backed off (0).",
            "gauge",
            mirrors
                .iter()
                .map(|m| {
                    (
                        format!(",upstream=\"{}\"", m.base()),
                        u64::from(m.is_healthy()),
                    )
                })
                .collect(),
        );
        metric(
            "tinycdn_upstream_latency_microseconds",
            "Smoothed (EWMA) fill latency by upstream.",
            "gauge",
            mirrors
                .iter()
                .map(|m| (format!(",upstream=\"{}\"", m.base()), m.latency_us()))
                .collect(),
        );
        let (ts, snap) = {
            let f = self.lock_meta();
            (
                f.timestamp.as_ref().map(|(_, t, _)| t.clone()),
                f.snapshot
                    .as_ref()
                    .and_then(|b| SignedSnapshot::from_bytes(b).ok()),
            )
        };
        let trust = self.trust();
        let root = trust.root();
        let records = [
            ("root", root.map(|r| (r.root.version, r.root.expires))),
            (
                "timestamp",
                ts.map(|t| (t.timestamp.version, t.timestamp.expires)),
            ),
            (
                "snapshot",
                snap.map(|s| (s.snapshot.version, s.snapshot.expires)),
            ),
        ];
        metric(
            "tinycdn_trust_version",
            "Version of the newest verified trust record in use (root, timestamp, snapshot).",
            "gauge",
            records
                .iter()
                .filter_map(|(name, r)| r.map(|(v, _)| (format!(",record=\"{name}\""), v)))
                .collect(),
        );
        metric(
            "tinycdn_trust_expires_timestamp_seconds",
            "When that record expires (Unix seconds): alert well before it.",
            "gauge",
            records
                .iter()
                .filter_map(|(name, r)| {
                    r.map(|(_, at)| {
                        (
                            format!(",record=\"{name}\""),
                            u64::try_from(at).unwrap_or(0),
                        )
                    })
                })
                .collect(),
        );
        out.push_str("# HELP tinycdn_fill_seconds Latency of verified fills from upstream.\n# TYPE tinycdn_fill_seconds histogram\n");
        out.push_str(
            &self
                .upstreams
                .fill_latency
                .render("tinycdn_fill_seconds", "role=\"edge\""),
        );
        out
    }
}

impl tinycdn_server::Handler for Edge {
    async fn handle(self: Arc<Self>, req: Request<hyper::body::Incoming>) -> Response<Body> {
        self.answer(req).await
    }
}

/// The chunk holding byte `pos` of a file, and that chunk's offset.
fn locate(file: &FileContent, pos: u64) -> Option<(usize, u64)> {
    file.chunk_offsets()
        .enumerate()
        .find(|(_, (off, c))| pos < off + u64::from(c.len))
        .map(|(i, (off, _))| (i, off))
}

/// Bytes held in memory.
struct Memory(Bytes);

impl Content for Memory {
    fn body(self, segments: Vec<Segment>) -> Body {
        let mut out = Vec::new();
        for s in segments {
            match s {
                Segment::Literal(b) => out.extend_from_slice(&b),
                Segment::Range(r) => {
                    let start = usize::try_from(r.start).unwrap_or(usize::MAX);
                    let end = usize::try_from(r.end).unwrap_or(usize::MAX);
                    out.extend_from_slice(self.0.get(start..=end).unwrap_or_default());
                }
            }
        }
        body::full(out)
    }
}

/// A file's bytes, chunk by chunk from the cache or upstream, with read-ahead.
struct Chunks {
    edge: Arc<Edge>,
    file: Arc<FileContent>,
    exec: bool,
}

impl Chunks {
    /// The body straight from memory when every chunk it needs is there (no task, no channel;
    /// a range inside one chunk is a zero-copy slice).
    fn memory_body(&self, segments: &[Segment]) -> Option<Body> {
        let mut parts: Vec<Bytes> = Vec::new();
        for segment in segments {
            match segment {
                Segment::Literal(b) => parts.push(Bytes::from(b.clone())),
                Segment::Range(r) => {
                    for (off, c) in self.file.chunk_offsets() {
                        let end = off + u64::from(c.len) - 1;
                        if end < r.start || off > r.end {
                            continue;
                        }
                        let bytes = self.edge.cache.memory_get(&c.id)?;
                        let from = usize::try_from(r.start.saturating_sub(off)).ok()?;
                        let to = usize::try_from(r.end.min(end) - off).ok()?;
                        parts.push(bytes.slice(from..=to));
                    }
                }
            }
        }
        self.edge
            .cache
            .counters
            .memory_hits
            .fetch_add(parts.len() as u64, Ordering::Relaxed);
        Some(body::parts(parts))
    }
}

impl Content for Chunks {
    fn body(self, segments: Vec<Segment>) -> Body {
        if let Some(b) = self.memory_body(&segments) {
            return b;
        }
        let (mut tx, body) = Channel::<Bytes, std::io::Error>::new(4);
        tokio::spawn(async move {
            let offsets: Vec<(u64, u32)> = self
                .file
                .chunk_offsets()
                .map(|(off, c)| (off, c.len))
                .collect();
            for segment in segments {
                let range = match segment {
                    Segment::Literal(b) => {
                        if tx.send_data(Bytes::from(b)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Segment::Range(r) => r,
                };
                let Some((first, _)) = locate(&self.file, range.start) else {
                    tx.abort(std::io::ErrorKind::UnexpectedEof.into());
                    return;
                };
                let mut pending = VecDeque::new();
                let mut next = first;
                let mut idx = first;
                while idx < offsets.len() && offsets[idx].0 <= range.end {
                    while pending.len() <= PREFETCH
                        && next < offsets.len()
                        && offsets[next].0 <= range.end
                    {
                        let (edge, file, exec, off) = (
                            self.edge.clone(),
                            self.file.clone(),
                            self.exec,
                            offsets[next].0,
                        );
                        let n = next;
                        pending.push_back(tokio::spawn(async move {
                            edge.chunk(&file, exec, n, off).await
                        }));
                        next += 1;
                    }
                    let Some(job) = pending.pop_front() else {
                        break;
                    };
                    let bytes = match job.await {
                        Ok(Ok(b)) => b,
                        Ok(Err(e)) => {
                            tx.abort(std::io::Error::other(e.to_string()));
                            return;
                        }
                        Err(e) => {
                            tx.abort(std::io::Error::other(e.to_string()));
                            return;
                        }
                    };
                    let (off, len) = offsets[idx];
                    let from = range.start.saturating_sub(off);
                    let to = (range.end - off).min(u64::from(len) - 1);
                    let slice = bytes.slice(
                        usize::try_from(from).unwrap_or(0)..=usize::try_from(to).unwrap_or(0),
                    );
                    if tx.send_data(slice).await.is_err() {
                        return;
                    }
                    idx += 1;
                }
            }
        });
        body.boxed()
    }
}
