//! The fabric's view of its origin's transparency log: the edge keeps the last checkpoint it
//! accepted and serves only checkpoints that extend it (a fork or a rollback is a split view: 503
//! and a metric, the held checkpoint kept), and serves tiles only once they hash up to a signed
//! root, keeping them (they never change). The accepted checkpoint survives restarts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::HeaderMap;
use hyper::StatusCode;
use tinycdn_http::cache_control::IMMUTABLE;
use tinycdn_server::respond::Reply;
use tinycdn_sync::log::{LogCheckError, RemoteLog};
use tinycdn_tlog::{Checkpoint, LogVerifier, TileId};

use super::{fetch_reply, hashed, Fabric};

/// How long a checkpoint is served before the mirrors are asked again.
const REFRESH: Duration = Duration::from_secs(1);
/// Where the accepted checkpoint is kept across restarts (the cache's metadata).
const LOG_META: &str = "log-checkpoint";
/// Authenticated tiles kept (at most 8 KiB each for hashes; bundles are small).
const MAX_TILES: usize = 16_384;

/// The edge's log state.
#[derive(Debug)]
pub(crate) struct EdgeLog {
    verifier: LogVerifier,
    held: Mutex<Option<(Checkpoint, Bytes, Instant)>>,
    refresh: tokio::sync::Mutex<()>,
    tiles: Mutex<HashMap<TileId, Bytes>>,
    split: AtomicBool,
    pub(crate) split_views: AtomicU64,
    pub(crate) tiles_refused: AtomicU64,
}

impl EdgeLog {
    pub(crate) fn new(verifier: LogVerifier) -> Self {
        Self {
            verifier,
            held: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
            tiles: Mutex::new(HashMap::new()),
            split: AtomicBool::new(false),
            split_views: AtomicU64::new(0),
            tiles_refused: AtomicU64::new(0),
        }
    }

    fn held(&self) -> Option<(Checkpoint, Bytes, Instant)> {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the last refresh found a split view.
    pub(crate) fn split_view(&self) -> bool {
        self.split.load(Ordering::Relaxed)
    }

    /// The size of the checkpoint held.
    pub(crate) fn size(&self) -> Option<u64> {
        self.held().map(|(c, _, _)| c.size)
    }
}

fn split_reply(e: &LogCheckError) -> Reply {
    Reply::text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n"))
}

impl Fabric {
    /// Makes the fabric serve and check the origin's log with `verifier`.
    pub fn set_log(&mut self, verifier: LogVerifier) {
        self.log = Some(EdgeLog::new(verifier));
    }

    /// The newest checkpoint that extends the one held (refreshed at most once a second).
    async fn current_checkpoint(&self, log: &EdgeLog) -> Result<(Checkpoint, Bytes), Reply> {
        if let Some((cp, note, at)) = log.held() {
            if at.elapsed() < REFRESH && !log.split_view() {
                return Ok((cp, note));
            }
        }
        let _one = log.refresh.lock().await;
        if let Some((cp, note, at)) = log.held() {
            if at.elapsed() < REFRESH && !log.split_view() {
                return Ok((cp, note));
            }
        }
        let remote = RemoteLog::new(&self.upstreams, &log.verifier);
        let (cp, note) = match remote.checkpoint().await {
            Ok(v) => v,
            Err(LogCheckError::Fetch(e)) => return Err(fetch_reply(&e)),
            Err(e) => return Err(split_reply(&e)),
        };
        // The checkpoint held, or after a restart the one accepted last time (kept on disk as
        // the timestamp and tag floors are): a mirror cannot hand a freshly started edge an
        // older or forked log.
        let held = log.held().map(|(c, _, _)| c).or_else(|| {
            self.cache
                .get_meta(LOG_META)
                .and_then(|b| log.verifier.open(&b).ok())
        });
        if let Some(old) = &held {
            if let Err(e) = remote.check_extends(old, &cp).await {
                if matches!(e, LogCheckError::SplitView(_) | LogCheckError::Tiles(_)) {
                    log.split.store(true, Ordering::Relaxed);
                    log.split_views.fetch_add(1, Ordering::Relaxed);
                }
                return Err(match e {
                    LogCheckError::Fetch(f) => fetch_reply(&f),
                    other => split_reply(&other),
                });
            }
        }
        log.split.store(false, Ordering::Relaxed);
        if held.as_ref() != Some(&cp) {
            self.cache.put_meta(LOG_META, &note);
        }
        let note = Bytes::from(note);
        *log.held.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((cp.clone(), note.clone(), Instant::now()));
        Ok((cp, note))
    }

    /// `/log/checkpoint`.
    pub(crate) async fn serve_log_checkpoint(&self, h: &HeaderMap) -> Reply {
        let Some(log) = &self.log else {
            return no_log();
        };
        hashed(
            h,
            self.current_checkpoint(log).await.map(|(_, note)| note),
            "text/plain; charset=utf-8",
            "no-cache".into(),
        )
    }

    /// `/log/tile/...`: from the tiles kept, else fetched and authenticated against the held
    /// checkpoint (refreshed first when the tile is beyond it).
    pub(crate) async fn serve_log_tile(&self, h: &HeaderMap, id: TileId) -> Reply {
        let Some(log) = &self.log else {
            return no_log();
        };
        let kept = log
            .tiles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned();
        if let Some(bytes) = kept {
            return hashed(h, Ok(bytes), "application/octet-stream", IMMUTABLE.into());
        }
        let covered = |cp: &Checkpoint| {
            tinycdn_tlog::tile::tile_in_tree(id.kind, id.index, cp.size)
                .is_some_and(|t| t.width >= id.width)
        };
        let cp = match log.held() {
            Some((cp, _, _)) if covered(&cp) => cp,
            _ => match self.current_checkpoint(log).await {
                Ok((cp, _)) => cp,
                Err(r) => return r,
            },
        };
        if !covered(&cp) {
            return Reply::text(StatusCode::NOT_FOUND, "the log has no such tile yet\n");
        }
        let remote = RemoteLog::new(&self.upstreams, &log.verifier);
        match remote.authenticated(&cp, id).await {
            Ok((bytes, checked)) => {
                let bytes = Bytes::from(bytes);
                let mut tiles = log.tiles.lock().unwrap_or_else(PoisonError::into_inner);
                if tiles.len() + checked.len() > MAX_TILES {
                    tiles.clear();
                }
                // Only full tiles and the one asked for: other partial ones are of this tree.
                for (t, b) in checked {
                    if u64::from(t.width) == tinycdn_tlog::tile::TILE_WIDTH {
                        tiles.insert(t, Bytes::from(b));
                    }
                }
                tiles.insert(id, bytes.clone());
                drop(tiles);
                hashed(h, Ok(bytes), "application/octet-stream", IMMUTABLE.into())
            }
            Err(LogCheckError::Fetch(e)) => fetch_reply(&e),
            Err(e) => {
                log.tiles_refused.fetch_add(1, Ordering::Relaxed);
                Reply::text(StatusCode::BAD_GATEWAY, format!("{e}\n"))
            }
        }
    }

    /// `/log/lookup/<version>`: a hint passed through (readers prove what it names).
    pub(crate) async fn serve_log_lookup(
        &self,
        h: &HeaderMap,
        id: tinycdn_core::VersionId,
    ) -> Reply {
        if self.log.is_none() {
            return no_log();
        }
        let path = format!("/log/lookup/{id}");
        hashed(
            h,
            self.fetch_meta(&path, 32, |b| b.len() <= 21)
                .await
                .map_err(|e| fetch_reply(&e)),
            "text/plain; charset=utf-8",
            "no-cache".into(),
        )
    }
}

fn no_log() -> Reply {
    Reply::text(
        StatusCode::NOT_FOUND,
        "this edge serves no transparency log (start it with --log-key)\n",
    )
}
