//! The origin role: answers requests from a store.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tinycdn_core::manifest::Manifest;
use tinycdn_core::{FileId, VersionId};
use tinycdn_http::cache_control::{TagPolicy, IMMUTABLE};
use tinycdn_http::conditional::{self, Precondition};
use tinycdn_http::multipart::{self, Segment};
use tinycdn_http::range::{self, ByteRange, RangeOutcome};
use tinycdn_http::route::{self, Route};
use tinycdn_http::EntityTag;
use tinycdn_store::{Store, StoreError};
use tinycdn_volume::read::find_file;
use tinycdn_volume::reference::Reference;
use tinycdn_volume::VolumeError;

use crate::body::{self, Body};
use crate::metrics::Metrics;

/// The header naming the version a file URL resolved to, so clients can pin it.
pub const VERSION_HEADER: &str = "x-tinycdn-version";
/// Media type of manifest bytes.
const MANIFEST_TYPE: &str = "application/vnd.tinycdn.manifest";

/// A store served over HTTP.
#[derive(Debug)]
pub struct Origin {
    store: Arc<Store>,
    manifests: Mutex<HashMap<VersionId, Arc<Manifest>>>,
    verified: Mutex<HashSet<(FileId, bool)>>,
    metrics: Metrics,
    tag_policy: TagPolicy,
}

/// A response being built: status, headers and body length (for metrics and HEAD).
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Body,
    len: u64,
}

impl Reply {
    fn text(status: StatusCode, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Self {
            status,
            len: text.len() as u64,
            headers,
            body: body::full(text),
        }
    }
}

fn value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// What to serve: an object (or in-memory bytes) with its validators and caching policy.
struct Representation {
    etag: EntityTag,
    media_type: String,
    cache_control: String,
    len: u64,
    source: Source,
    extra: Vec<(&'static str, String)>,
}

enum Source {
    Memory(Bytes),
    Object { id: FileId, exec: bool },
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
        })
    }

    /// The server's counters.
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Answers one request.
    pub async fn handle<B>(self: &Arc<Self>, req: Request<B>) -> Response<Body> {
        let head = req.method() == Method::HEAD;
        let reply = if req.method() == Method::GET || head {
            self.respond(&req).await
        } else {
            let mut r = Reply::text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
            r.headers
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        };
        self.metrics
            .response(reply.status.as_u16(), if head { 0 } else { reply.len });
        let mut resp = Response::new(if head { body::empty() } else { reply.body });
        *resp.status_mut() = reply.status;
        *resp.headers_mut() = reply.headers;
        if !resp.headers().contains_key(header::CONTENT_LENGTH) {
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, value(&reply.len.to_string()));
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
            Route::Metrics => {
                let mut r = Reply::text(StatusCode::OK, self.metrics.render());
                r.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                return r;
            }
            Route::Manifest(id) => self.manifest_rep(id).await,
            Route::Signatures(id) => {
                let key = format!("signatures/{id}");
                self.raw_rep(
                    key,
                    "application/vnd.tinycdn.signatures",
                    self.tag_policy.header(),
                )
                .await
            }
            Route::Tag { volume, tag } => {
                let key = format!("tags/{volume}/{tag}");
                self.raw_rep(key, "application/vnd.tinycdn.tag", self.tag_policy.header())
                    .await
            }
            Route::Object { id, exec } => self.object_rep(id, exec).await,
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
        match rep {
            Ok(rep) => self.represent(req.headers(), rep).await,
            Err(reply) => reply,
        }
    }

    async fn manifest_rep(&self, id: VersionId) -> Result<Representation, Reply> {
        let m = self.manifest(id).await?;
        let bytes = Bytes::from(m.to_bytes());
        Ok(Representation {
            etag: EntityTag::strong(id.to_hex()),
            media_type: MANIFEST_TYPE.into(),
            cache_control: IMMUTABLE.into(),
            len: bytes.len() as u64,
            source: Source::Memory(bytes),
            extra: Vec::new(),
        })
    }

    async fn raw_rep(
        &self,
        key: String,
        media_type: &str,
        cache_control: String,
    ) -> Result<Representation, Reply> {
        let bytes = self
            .blocking(move |s| s.backend().read(&key))
            .await
            .map_err(store_reply)?;
        Ok(Representation {
            etag: EntityTag::strong(blake3::hash(&bytes).to_hex().to_string()),
            media_type: media_type.into(),
            cache_control,
            len: bytes.len() as u64,
            source: Source::Memory(Bytes::from(bytes)),
            extra: Vec::new(),
        })
    }

    async fn object_rep(&self, id: FileId, exec: bool) -> Result<Representation, Reply> {
        let key = Store::object_key(&id, exec);
        let size = self
            .blocking(move |s| s.backend().size(&key))
            .await
            .map_err(store_reply)?
            .ok_or_else(|| Reply::text(StatusCode::NOT_FOUND, "no such object\n"))?;
        self.ensure_verified(id, exec).await?;
        Ok(Representation {
            etag: EntityTag::strong(id.to_hex()),
            media_type: "application/octet-stream".into(),
            cache_control: IMMUTABLE.into(),
            len: size,
            source: Source::Object { id, exec },
            extra: Vec::new(),
        })
    }

    async fn file_rep(&self, r: Reference, path: String) -> Result<Representation, Reply> {
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
        Ok(Representation {
            etag: EntityTag::strong(id.to_hex()),
            media_type,
            cache_control: if pinned {
                IMMUTABLE.into()
            } else {
                self.tag_policy.header()
            },
            len: size,
            source: Source::Object { id, exec },
            extra: vec![
                (VERSION_HEADER, resolved.id.to_hex()),
                (
                    "content-location",
                    format!("/v/{}@{}/{}", r.volume, resolved.id, path_for_url(&path)),
                ),
            ],
        })
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

    async fn represent(&self, req: &HeaderMap, rep: Representation) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(header::ETAG, value(&rep.etag.to_string()));
        headers.insert(header::CACHE_CONTROL, value(&rep.cache_control));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        for (name, v) in &rep.extra {
            headers.insert(*name, value(v));
        }
        // Only GET and HEAD get here: both are safe methods.
        match conditional::evaluate(
            true,
            header_str(req, header::IF_MATCH),
            header_str(req, header::IF_NONE_MATCH),
            &rep.etag,
        ) {
            Precondition::Proceed => {}
            Precondition::NotModified => {
                return Reply {
                    status: StatusCode::NOT_MODIFIED,
                    headers,
                    body: body::empty(),
                    len: 0,
                }
            }
            Precondition::Failed => {
                let mut r = Reply::text(StatusCode::PRECONDITION_FAILED, "precondition failed\n");
                r.headers.insert(header::ETAG, value(&rep.etag.to_string()));
                return r;
            }
        }
        let outcome = range::evaluate(
            header_str(req, header::RANGE),
            header_str(req, header::IF_RANGE),
            &rep.etag,
            rep.len,
        );
        match outcome {
            RangeOutcome::Full => {
                headers.insert(header::CONTENT_TYPE, value(&rep.media_type));
                let whole = ByteRange {
                    start: 0,
                    end: rep.len.saturating_sub(1),
                };
                let segments = if rep.len == 0 {
                    Vec::new()
                } else {
                    vec![Segment::Range(whole)]
                };
                self.body(StatusCode::OK, headers, rep, segments, None)
                    .await
            }
            RangeOutcome::Unsatisfiable => {
                let mut r =
                    Reply::text(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable\n");
                r.headers.insert(
                    header::CONTENT_RANGE,
                    value(&format!("bytes */{}", rep.len)),
                );
                r.headers.insert(header::ETAG, value(&rep.etag.to_string()));
                r
            }
            RangeOutcome::Partial(ranges) if ranges.len() == 1 => {
                headers.insert(header::CONTENT_TYPE, value(&rep.media_type));
                headers.insert(
                    header::CONTENT_RANGE,
                    value(&ranges[0].content_range(rep.len)),
                );
                let segments = vec![Segment::Range(ranges[0])];
                self.body(StatusCode::PARTIAL_CONTENT, headers, rep, segments, None)
                    .await
            }
            RangeOutcome::Partial(ranges) => {
                let boundary = format!("tinycdn-{}", &rep.etag.tag[..rep.etag.tag.len().min(24)]);
                let plan = multipart::plan(&ranges, rep.len, &rep.media_type, &boundary);
                headers.insert(header::CONTENT_TYPE, value(&plan.content_type));
                let len = plan.content_length;
                self.body(
                    StatusCode::PARTIAL_CONTENT,
                    headers,
                    rep,
                    plan.segments,
                    Some(len),
                )
                .await
            }
        }
    }

    async fn body(
        &self,
        status: StatusCode,
        mut headers: HeaderMap,
        rep: Representation,
        segments: Vec<Segment>,
        len: Option<u64>,
    ) -> Reply {
        let len = len.unwrap_or_else(|| {
            segments
                .iter()
                .map(|s| match s {
                    Segment::Literal(b) => b.len() as u64,
                    Segment::Range(r) => r.len(),
                })
                .sum()
        });
        headers.insert(header::CONTENT_LENGTH, value(&len.to_string()));
        let body = match rep.source {
            Source::Memory(bytes) => {
                let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                for s in &segments {
                    match s {
                        Segment::Literal(b) => out.extend_from_slice(b),
                        Segment::Range(r) => out.extend_from_slice(
                            &bytes[usize::try_from(r.start).unwrap_or(0)
                                ..=usize::try_from(r.end).unwrap_or(0)],
                        ),
                    }
                }
                body::full(out)
            }
            Source::Object { id, exec } => {
                let key = Store::object_key(&id, exec);
                match self.store.backend().local_path(&key) {
                    Some(path) => body::file_segments(path, segments),
                    None => {
                        let read = self
                            .blocking(move |s| -> Result<Vec<u8>, StoreError> {
                                let mut out = Vec::new();
                                for seg in &segments {
                                    match seg {
                                        Segment::Literal(b) => out.extend_from_slice(b),
                                        Segment::Range(r) => {
                                            out.extend_from_slice(&s.backend().read_range(
                                                &key,
                                                r.start,
                                                usize::try_from(r.len()).unwrap_or(usize::MAX),
                                            )?)
                                        }
                                    }
                                }
                                Ok(out)
                            })
                            .await;
                        match read {
                            Ok(bytes) => body::full(bytes),
                            Err(e) => return store_reply(e),
                        }
                    }
                }
            }
        };
        Reply {
            status,
            headers,
            body,
            len,
        }
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
