//! File bodies from the chunk cache: the first chunk a response needs is had before the status is
//! sent, the rest stream with read-ahead; every chunk is filled from upstream by a range request
//! to its object and checked against its hash before it is cached or sent.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Channel};
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request, StatusCode};
use tinycdn_core::manifest::FileContent;
use tinycdn_http::multipart::Segment;
use tinycdn_http::negotiate::Coding;
use tinycdn_http::range::{self, RangeOutcome};
use tinycdn_region::PeerChunk;
use tinycdn_server::body::{self, Body};
use tinycdn_server::compress;
use tinycdn_server::respond::{header_str, represent, Content, InMemory, Reply, Representation};

use super::{fetch_reply, Fabric};
use crate::region::FillSource;
use tinycdn_fetch::FetchError;

/// Chunks fetched ahead of the one being sent, for sequential reads of clips.
const PREFETCH: usize = 3;

impl Fabric {
    /// Makes sure the first chunk a request needs can be had before committing to a status, so
    /// that an unreachable upstream gives 502 rather than a truncated 200.
    pub(super) async fn serve_chunks<B>(
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
        // RFC 9211 `Cache-Status`: a hit when the first chunk asked for is already held.
        let mut hit = true;
        if let (Some(byte), false, false) = (first, conditional, req.method() == Method::HEAD) {
            if let Some((idx, offset)) = locate(&file, byte) {
                let cached = self.cache.memory_get(&file.chunks[idx].id).is_some();
                hit = cached || self.cache.contains(&file.chunks[idx].id);
                if !cached {
                    if let Err(e) = Box::pin(self.chunk(&file, exec, idx, offset)).await {
                        return fetch_reply(&e);
                    }
                }
            }
        }
        let reply = represent(
            req.headers(),
            rep,
            Chunks {
                fabric: self.clone(),
                file,
                exec,
            },
        );
        super::images::with_status(reply, hit)
    }

    /// A compressed variant of a compressible file, made once from its verified chunks.
    pub(super) async fn serve_compressed(
        &self,
        req: &HeaderMap,
        rep: &Representation,
        content: &FileContent,
        exec: bool,
        coding: Coding,
    ) -> Reply {
        let load = async {
            self.whole_file(content, exec)
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))
        };
        match self.variants.get(content.hash, coding, load).await {
            Ok(bytes) => {
                let v = compress::variant(rep, coding, bytes.len() as u64);
                represent(req, &v, InMemory(bytes))
            }
            Err(e) => Reply::text(StatusCode::BAD_GATEWAY, format!("{e}\n")),
        }
    }

    /// One verified chunk of a file, from cache, the region's owner of it, or upstream.
    pub(super) async fn chunk(
        &self,
        file: &FileContent,
        exec: bool,
        idx: usize,
        offset: u64,
    ) -> Result<Bytes, FetchError> {
        let c = file.chunks[idx];
        let pc = PeerChunk {
            chunk: c.id,
            object: file.hash,
            exec,
            offset,
            len: c.len,
        };
        // Boxed: the fill (peers, then upstream) is a large future and this one is nested deep
        // under the site, image and range paths; inline it overflowed a worker's stack.
        self.cache.get_or_fill(c.id, Box::pin(self.fill(pc))).await
    }

    /// Fills a chunk that no tier holds: from a peer when another member owns it, else from
    /// upstream (as the owner, one fill shared with the peers asking for it).
    async fn fill(&self, pc: PeerChunk) -> Result<Bytes, FetchError> {
        let Some(region) = &self.region else {
            return self.fill_upstream(&pc).await;
        };
        let plan = region.plan(&pc.chunk);
        if let Some(bytes) = region.ask_peers(&plan.ask, &pc).await {
            return Ok(bytes);
        }
        let source = if plan.own {
            FillSource::Owner
        } else {
            FillSource::Fallback
        };
        region
            .owner_fill(pc.chunk, source, self.fill_upstream(&pc))
            .await
    }

    /// A chunk from upstream by a range request on its object, checked against its id.
    pub(super) async fn fill_upstream(&self, pc: &PeerChunk) -> Result<Bytes, FetchError> {
        self.upstreams
            .fetch(
                &pc.object_path(),
                Some(pc.range()),
                u64::from(pc.len),
                |b| pc.verifies(b),
            )
            .await
    }
}

/// The chunk holding byte `pos` of a file, and that chunk's offset.
fn locate(file: &FileContent, pos: u64) -> Option<(usize, u64)> {
    file.chunk_offsets()
        .enumerate()
        .find(|(_, (off, c))| pos < off + u64::from(c.len))
        .map(|(i, (off, _))| (i, off))
}

/// A file's bytes, chunk by chunk from the cache or upstream, with read-ahead.
struct Chunks {
    fabric: Arc<Fabric>,
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
                        let bytes = self.fabric.cache.memory_get(&c.id)?;
                        let from = usize::try_from(r.start.saturating_sub(off)).ok()?;
                        let to = usize::try_from(r.end.min(end) - off).ok()?;
                        parts.push(bytes.slice(from..=to));
                    }
                }
            }
        }
        self.fabric
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
                        let (fabric, file, exec, off) = (
                            self.fabric.clone(),
                            self.file.clone(),
                            self.exec,
                            offsets[next].0,
                        );
                        let n = next;
                        pending.push_back(tokio::spawn(async move {
                            fabric.chunk(&file, exec, n, off).await
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
