//! Chunks the other members of the region ask this edge for (`/.tinycdn/peer/chunk/…`): from
//! the cache, or filled from upstream once however many ask — never from another peer, so that
//! a request cannot go round the region.

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::StatusCode;
use tinycdn_fetch::FetchError;
use tinycdn_region::PeerChunk;
use tinycdn_server::respond::Reply;

use super::Fabric;
use crate::region::{served, FillSource};

impl Fabric {
    /// Answers a peer request for a chunk from `from`.
    pub(crate) async fn serve_peer_chunk(
        &self,
        rest: &str,
        query: Option<&str>,
        from: IpAddr,
    ) -> Reply {
        let Some(region) = &self.region else {
            return Reply::text(
                StatusCode::NOT_FOUND,
                "this edge is in no region (see --peer, --peers-file, --peers-dns)\n",
            );
        };
        let count = |i: usize| region.counters.served[i].fetch_add(1, Ordering::Relaxed);
        if !region.allows(from) {
            count(served::REFUSED);
            return Reply::text(
                StatusCode::FORBIDDEN,
                "peer requests are answered for members of this edge's region only\n",
            );
        }
        let pc = match PeerChunk::parse(rest, query) {
            Ok(pc) => pc,
            Err(e) => {
                count(served::REFUSED);
                return Reply::text(StatusCode::BAD_REQUEST, format!("{e}\n"));
            }
        };
        if let Some(bytes) = self.cache.get(&pc.chunk).await {
            count(served::HIT);
            return chunk_reply(bytes);
        }
        match region
            .owner_fill(pc.chunk, FillSource::Owner, self.fill_upstream(&pc))
            .await
        {
            Ok(bytes) => {
                count(served::FILLED);
                if !self.cache.contains(&pc.chunk) {
                    self.cache.put(pc.chunk, bytes.clone()).await;
                }
                chunk_reply(bytes)
            }
            Err(e @ FetchError::NotFound { .. }) => {
                count(served::NOT_FOUND);
                super::fetch_reply(&e)
            }
            Err(e) => {
                count(served::ERROR);
                super::fetch_reply(&e)
            }
        }
    }
}

/// A chunk's bytes, not to be stored by anything between the members.
fn chunk_reply(bytes: bytes::Bytes) -> Reply {
    let mut headers = hyper::HeaderMap::new();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Reply {
        status: StatusCode::OK,
        headers,
        len: bytes.len() as u64,
        body: tinycdn_server::body::full(bytes),
    }
}
