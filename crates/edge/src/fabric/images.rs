//! Image variants of volume files: a publish-time variant the signed manifest lists is served
//! as the verified file it is; otherwise the edge makes the variant from the file's verified
//! chunks and keeps it. Either way it carries a strong entity tag of its own bytes and the
//! source URL's caching (`immutable` under a version id).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use hyper::header;
use hyper::Request;
use tinycdn_core::manifest::FileContent;
use tinycdn_core::names::{VolumeName, VolumePath};
use tinycdn_core::VersionId;
use tinycdn_image::params::{FormatChoice, Split};
use tinycdn_image::probe::SourceFormat;
use tinycdn_image::{published_path, variant_name};
use tinycdn_server::respond::{header_str, represent, Reply, Representation};

use super::{Fabric, Prepared};
use crate::images::{normalise, Failure, Images, Sending};
use tinycdn_fetch::FetchError;
use tinycdn_server::respond::InMemory as Memory;

/// Where a request's file is: version, whether the URL pinned it, volume, reference.
pub(super) type At<'a> = (VersionId, bool, &'a VolumeName, &'a str);

/// Variants of one file answered before, so that a hit is a table lookup and a memory read.
const MEMO_PER_FILE: usize = 64;

/// How a variant of a file was answered.
#[derive(Debug, Clone)]
pub(crate) enum Memo {
    /// Made at the edge: its representation and the chunk holding its bytes.
    Made(Arc<(Representation, tinycdn_core::ChunkId)>),
    /// Published with the volume: that file, and its representation as a variant.
    Published(Arc<Prepared>, Arc<Representation>),
}

fn remember(p: &Prepared, key: (tinycdn_image::Normalised, bool), m: Memo) {
    let mut t = p
        .variants
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if t.len() >= MEMO_PER_FILE {
        t.clear();
    }
    t.insert(key, m);
}

impl Fabric {
    /// A whole file from its verified chunks.
    pub(super) async fn whole_file(
        &self,
        content: &FileContent,
        exec: bool,
    ) -> Result<Bytes, FetchError> {
        if content.chunks.len() == 1 {
            // One chunk: its bytes are the file's, shared, not copied.
            return self.chunk(content, exec, 0, 0).await;
        }
        let mut whole = Vec::with_capacity(usize::try_from(content.size).unwrap_or(0));
        for (i, (off, _)) in content.chunk_offsets().enumerate() {
            whole.extend_from_slice(&self.chunk(content, exec, i, off).await?);
        }
        Ok(Bytes::from(whole))
    }

    /// The variant `split` asks for of the prepared image file `p`.
    pub(super) async fn serve_variant<B>(
        self: &Arc<Self>,
        req: &Request<B>,
        images: &Arc<Images>,
        p: &Prepared,
        at: At<'_>,
        source: SourceFormat,
        split: &Split,
    ) -> Reply {
        // The host as the client sent it (HTTP/1.1 `Host`, HTTP/2 `:authority`).
        let host = header_str(req.headers(), header::HOST)
            .or_else(|| {
                req.uri()
                    .authority()
                    .map(hyper::http::uri::Authority::as_str)
            })
            .unwrap_or("");
        if let Err(f) = images.check(host, req.uri().path(), split) {
            return f.reply();
        }
        let n = normalise(split, source, header_str(req.headers(), header::ACCEPT));
        let vary = split.params.format == FormatChoice::Auto;
        let memo = p
            .variants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(n, vary))
            .cloned();
        match memo {
            Some(Memo::Made(m)) => {
                if let Some(bytes) = self.cache.memory_get(&m.1) {
                    images.counters.hits.fetch_add(1, Ordering::Relaxed);
                    return with_status(represent(req.headers(), &m.0, Memory(bytes)), true);
                }
            }
            Some(Memo::Published(v, rep)) => {
                images.counters.published.fetch_add(1, Ordering::Relaxed);
                return self
                    .serve_chunks(req, &rep, v.content.clone(), v.exec)
                    .await;
            }
            None => {}
        }
        let name = variant_name(p.content.hash.as_bytes(), &n);
        let (id, pinned, volume, reference) = at;
        if let Ok(path) = VolumePath::new(&published_path(&name, n.format)) {
            if let Ok(v) = self.prepare(id, pinned, volume, reference, &path).await {
                images.counters.published.fetch_add(1, Ordering::Relaxed);
                let mut rep = v.rep.clone();
                rep.cache_control.clone_from(&p.rep.cache_control);
                if vary {
                    rep.extra.push(("vary", "Accept".into()));
                }
                let rep = Arc::new(rep);
                remember(p, (n, vary), Memo::Published(v.clone(), rep.clone()));
                return self
                    .serve_chunks(req, &rep, v.content.clone(), v.exec)
                    .await;
            }
        }
        let max = images.limits().max_source_bytes;
        if p.content.size > max {
            return Failure::Status(
                422,
                format!(
                    "the source is {} bytes, above this edge's cap of {max}",
                    p.content.size
                ),
            )
            .reply();
        }
        // RFC 9211 `Cache-Status`: a hit when every chunk of the source was already held.
        let source_held = p.content.chunks.iter().all(|c| self.cache.contains(&c.id));
        let load = async {
            self.whole_file(&p.content, p.exec)
                .await
                .map_err(|e| Failure::Status(502, e.to_string()))
        };
        match images.variant(name, n, load).await {
            Ok(v) => {
                let hash = v.meta.hash;
                let sending = Sending {
                    cache_control: p.rep.cache_control.clone(),
                    extra: p.rep.extra.clone(),
                    vary,
                };
                let (r, rep) = v.answer(req.headers(), sending);
                if !images.keeps_nothing() {
                    remember(p, (n, vary), Memo::Made(Arc::new((rep, hash))));
                }
                with_status(r, source_held)
            }
            Err(f) => f.reply(),
        }
    }
}

/// The reply with its RFC 9211 `Cache-Status`: `hit`, or `fwd=miss` when what it is made of
/// (the file's first chunk asked for, a variant's source) had to be fetched.
pub(super) fn with_status(mut reply: Reply, hit: bool) -> Reply {
    reply.headers.insert(
        "cache-status",
        hyper::header::HeaderValue::from_static(if hit {
            "tinycdn; hit"
        } else {
            "tinycdn; fwd=miss"
        }),
    );
    reply
}
