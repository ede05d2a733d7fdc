//! Reading a tinycdn origin's transparency log from untrusted mirrors, as a witness does: the
//! newest checkpoint any mirror offers (signed by the log's key), a consistency proof from the
//! last checkpoint this node accepted, and inclusion proofs for the versions it installs. Tiles
//! come from any mirror; every proof is checked against signed roots, so a mirror can only make
//! a check fail, never pass.

use std::collections::HashMap;

use tinycdn_core::log_entry::{Event, LogEntry};
use tinycdn_core::VersionId;
use tinycdn_fetch::{FetchError, Upstreams};
use tinycdn_store::{Durability, Key, Store, StoreError};
use tinycdn_tlog::reader::{tiles_for_consistency, tiles_for_inclusion};
use tinycdn_tlog::tile::{tile_in_tree, TileKind};
use tinycdn_tlog::{
    leaf_hash, verify_consistency, verify_inclusion, Appender, Checkpoint, Hash, LogVerifier,
    TileHashes, TileId,
};

/// The largest entry bundle read (256 tinycdn entries are far smaller).
const MAX_BUNDLE: u64 = 1 << 20;

/// Why a log check failed.
#[derive(Debug, thiserror::Error)]
pub enum LogCheckError {
    /// No mirror could provide something.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log the mirrors serve does not extend the one this node saw: a fork or a rollback.
    #[error("split view: {0}")]
    SplitView(String),
    /// The log does not record what was asked for.
    #[error("{0} is not in the log")]
    NotLogged(String),
    /// Tiles or entries that do not hash to the signed root.
    #[error("the log's tiles do not verify: {0}")]
    Tiles(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Missing(String);

/// One log, read through `upstreams`.
pub struct RemoteLog<'a> {
    upstreams: &'a Upstreams,
    verifier: &'a LogVerifier,
}

/// A version's inclusion, proved against a signed checkpoint.
#[derive(Debug, Clone)]
pub struct Proved {
    /// The entry's index.
    pub index: u64,
    /// The entry.
    pub entry: LogEntry,
    /// The audit path.
    pub proof: Vec<Hash>,
}

impl<'a> RemoteLog<'a> {
    /// The log whose checkpoints `verifier` accepts, on `upstreams`.
    #[must_use]
    pub fn new(upstreams: &'a Upstreams, verifier: &'a LogVerifier) -> Self {
        Self {
            upstreams,
            verifier,
        }
    }

    /// The newest checkpoint any mirror offers that this log's key signed (mirrors offering an
    /// older one are demoted), with its note.
    ///
    /// # Errors
    /// [`LogCheckError::Fetch`] when no mirror offers a valid one.
    pub async fn checkpoint(&self) -> Result<(Checkpoint, Vec<u8>), LogCheckError> {
        let max = tinycdn_tlog::checkpoint::MAX_NOTE as u64;
        let note = self
            .upstreams
            .fetch_newest("/log/checkpoint", max, |b| {
                self.verifier.open(b).ok().map(|c| c.size)
            })
            .await?;
        let cp = self
            .verifier
            .open(&note)
            .map_err(|e| LogCheckError::Tiles(e.to_string()))?;
        Ok((cp, note.to_vec()))
    }

    /// Fetches tiles (any mirror; lengths checked here, contents by the proofs).
    async fn tiles(&self, ids: &[TileId]) -> Result<HashMap<TileId, Vec<u8>>, LogCheckError> {
        let mut out = HashMap::new();
        for &id in ids {
            let (max, exact) = match id.kind {
                TileKind::Hashes(_) => (u64::from(id.width) * 32, true),
                TileKind::Entries => (MAX_BUNDLE, false),
            };
            let bytes = self
                .upstreams
                .fetch(&format!("/log/{}", id.path()), None, max, |b| {
                    !exact || b.len() as u64 == max
                })
                .await?;
            out.insert(id, bytes.to_vec());
        }
        Ok(out)
    }

    fn reader(
        size: u64,
        tiles: &HashMap<TileId, Vec<u8>>,
    ) -> TileHashes<impl FnMut(TileId) -> Result<Vec<u8>, Missing> + '_> {
        TileHashes::new(size, move |id: TileId| {
            tiles
                .get(&id)
                .cloned()
                .ok_or_else(|| Missing(format!("tile {} was not fetched", id.path())))
        })
    }

    /// Checks that `new` extends `old` (both signed by this log): a consistency proof made
    /// from fetched tiles, verified against both roots.
    ///
    /// # Errors
    /// [`LogCheckError::SplitView`] for a fork or a rollback.
    pub async fn check_extends(
        &self,
        old: &Checkpoint,
        new: &Checkpoint,
    ) -> Result<(), LogCheckError> {
        if new.size < old.size {
            return Err(LogCheckError::SplitView(format!(
                "the mirrors' newest checkpoint has {} entries, this node already saw {}: a rollback",
                new.size, old.size
            )));
        }
        let proof = if old.size == 0 || old.size == new.size {
            Vec::new()
        } else {
            let tiles = self
                .tiles(&tiles_for_consistency(old.size, new.size))
                .await?;
            let proof = Self::reader(new.size, &tiles)
                .consistency(old.size)
                .map_err(|e| LogCheckError::Tiles(e.to_string()))?;
            proof
        };
        if old.size == 0 {
            return Ok(());
        }
        verify_consistency(old.size, new.size, &old.root, &new.root, &proof).map_err(|e| {
            LogCheckError::SplitView(format!(
                "the checkpoint of {} entries does not extend the one of {} this node saw: {e}",
                new.size, old.size
            ))
        })
    }

    /// Proves that `version` was published in the tree `cp` signs: the origin's lookup hint names
    /// an entry, which must publish that version, and whose audit path must lead to the root.
    ///
    /// # Errors
    /// [`LogCheckError::NotLogged`], or a proof that fails.
    pub async fn prove(
        &self,
        cp: &Checkpoint,
        version: &VersionId,
    ) -> Result<Proved, LogCheckError> {
        let not_logged = || LogCheckError::NotLogged(format!("version {}", version.short()));
        let hint = match self
            .upstreams
            .fetch(&format!("/log/lookup/{version}"), None, 32, |b| {
                parse_index(b).is_some_and(|i| i < cp.size)
            })
            .await
        {
            Ok(b) => parse_index(&b).ok_or_else(not_logged)?,
            Err(FetchError::NotFound { .. }) => return Err(not_logged()),
            Err(e) => return Err(e.into()),
        };
        let bundle = tile_in_tree(TileKind::Entries, hint / 256, cp.size).ok_or_else(not_logged)?;
        let mut ids = tiles_for_inclusion(hint, cp.size);
        ids.push(bundle);
        let tiles = self.tiles(&ids).await?;
        let mut reader = Self::reader(cp.size, &tiles);
        let bytes = reader
            .entry(hint)
            .map_err(|e| LogCheckError::Tiles(e.to_string()))?;
        let entry = LogEntry::parse(&bytes).map_err(|e| LogCheckError::Tiles(e.to_string()))?;
        if !matches!(&entry.event, Event::Publish { version: v, .. } if v == version.as_bytes()) {
            return Err(not_logged());
        }
        let proof = reader
            .inclusion(hint)
            .map_err(|e| LogCheckError::Tiles(e.to_string()))?;
        verify_inclusion(hint, cp.size, &leaf_hash(&bytes), &proof, &cp.root)
            .map_err(|e| LogCheckError::Tiles(format!("entry {hint}: {e}")))?;
        Ok(Proved {
            index: hint,
            entry,
            proof,
        })
    }

    /// Tile `id` as the tree `cp` signs names it, fetched and authenticated (it and the tiles
    /// it was checked with hash up to the signed root); a narrower partial tile of an older tree
    /// is cut from this tree's wider one. Returns every tile authenticated on the way.
    ///
    /// # Errors
    /// [`LogCheckError::Tiles`] when they do not verify; [`LogCheckError::NotLogged`] when
    /// the tree has no such tile.
    pub async fn authenticated(
        &self,
        cp: &Checkpoint,
        id: TileId,
    ) -> Result<(Vec<u8>, Vec<(TileId, Vec<u8>)>), LogCheckError> {
        let current = tile_in_tree(id.kind, id.index, cp.size)
            .filter(|t| t.width >= id.width)
            .ok_or_else(|| LogCheckError::NotLogged(format!("tile {}", id.path())))?;
        let mut ids = tinycdn_tlog::reader::tiles_for_authentication(current, cp.size);
        ids.push(current);
        let mut tiles = self.tiles(&ids).await?;
        let bytes = tiles.remove(&current).unwrap_or_default();
        let checked = tinycdn_tlog::reader::authenticate(current, bytes, cp.size, &cp.root, |t| {
            tiles
                .get(&t)
                .cloned()
                .ok_or_else(|| Missing(format!("tile {} was not fetched", t.path())))
        })
        .map_err(|e| LogCheckError::Tiles(format!("{}: {e}", current.path())))?;
        let full = checked
            .iter()
            .find(|(t, _)| *t == current)
            .map(|(_, b)| b.clone())
            .unwrap_or_default();
        let cut = match id.kind {
            TileKind::Entries => tinycdn_tlog::tile::bundle_prefix(&full, id.width)
                .map_err(|e| LogCheckError::Tiles(e.to_string()))?
                .to_vec(),
            TileKind::Hashes(_) => full
                .get(..usize::from(id.width) * 32)
                .unwrap_or_default()
                .to_vec(),
        };
        Ok((cut, checked))
    }

    /// Reads every entry of the tree `cp` signs and checks that they hash to its root.
    ///
    /// # Errors
    /// [`LogCheckError::Tiles`] when they do not.
    pub async fn entries(&self, cp: &Checkpoint) -> Result<Vec<LogEntry>, LogCheckError> {
        let ids = tinycdn_tlog::tile::tiles_at(TileKind::Entries, cp.size);
        let mut lines = Vec::new();
        for id in ids {
            let tiles = self.tiles(&[id]).await?;
            let bytes = tiles.get(&id).map(Vec::as_slice).unwrap_or_default();
            let list = tinycdn_tlog::tile::parse_bundle(bytes, id.width)
                .map_err(|e| LogCheckError::Tiles(e.to_string()))?;
            lines.extend(list.into_iter().map(<[u8]>::to_vec));
        }
        let mut rebuilt = Appender::new();
        rebuilt
            .append(&lines)
            .map_err(|e| LogCheckError::Tiles(e.to_string()))?;
        if rebuilt.root() != cp.root {
            return Err(LogCheckError::Tiles(
                "the entries do not hash to the checkpoint's root".into(),
            ));
        }
        lines
            .iter()
            .map(|l| LogEntry::parse(l).map_err(|e| LogCheckError::Tiles(e.to_string())))
            .collect()
    }
}

fn parse_index(b: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(b).ok()?.trim_end();
    (!s.is_empty() && (s == "0" || !s.starts_with('0')) && s.bytes().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// Where a node keeps the last checkpoint of a log it accepted.
fn seen_key(verifier: &LogVerifier) -> Key {
    Key::Log(format!(
        "seen/{}",
        blake3::hash(verifier.key().as_bytes()).to_hex()
    ))
}

/// The last checkpoint of this log that the store accepted.
///
/// # Errors
/// Store errors; a stored checkpoint that no longer verifies is an error, not forgotten.
pub fn seen(store: &Store, verifier: &LogVerifier) -> Result<Option<Checkpoint>, LogCheckError> {
    match store.read_key_if_any(&seen_key(verifier))? {
        Some(note) => verifier
            .open(&note)
            .map(Some)
            .map_err(|e| LogCheckError::Tiles(format!("the stored checkpoint: {e}"))),
        None => Ok(None),
    }
}

/// The node's side: fetch the newest checkpoint, check that it extends the last one this store
/// accepted (a fork or rollback is refused and the stored one kept), and keep it.
///
/// # Errors
/// [`LogCheckError::SplitView`] and the like.
pub async fn witness(
    store: &Store,
    upstreams: &Upstreams,
    verifier: &LogVerifier,
) -> Result<Checkpoint, LogCheckError> {
    let log = RemoteLog::new(upstreams, verifier);
    let (cp, note) = log.checkpoint().await?;
    if let Some(old) = tokio::task::block_in_place(|| seen(store, verifier))? {
        log.check_extends(&old, &cp).await?;
        if old.size == cp.size {
            return Ok(cp);
        }
    }
    tokio::task::block_in_place(|| {
        store.write_key(&seen_key(verifier), &note, Durability::Immediate)
    })?;
    Ok(cp)
}

impl tinycdn_core::error::Classified for LogCheckError {
    fn class(&self) -> tinycdn_core::error::ErrorClass {
        use tinycdn_core::error::ErrorClass;
        match self {
            Self::Fetch(e) => e.class(),
            Self::Store(e) => e.class(),
            Self::SplitView(_) | Self::NotLogged(_) | Self::Tiles(_) => ErrorClass::Integrity,
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Fetch(e) => e.hint(),
            Self::Store(e) => e.hint(),
            _ => None,
        }
    }
}
