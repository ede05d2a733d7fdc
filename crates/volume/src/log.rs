//! The store's transparency log (the immutable vault's audit trail): an append-only Merkle log of
//! everything that changes what nodes serve — publishes, tag moves, co-signatures, snapshots,
//! timestamps, trust-root rotations (with the keys they revoke) and gc deletions.
//!
//! Layout in the store, as C2SP tlog-tiles serves it:
//! - `log/checkpoint`: the signed checkpoint (a C2SP signed note), replaced atomically, last;
//! - `log/tile/<L>/<N>` and `log/tile/entries/<N>`: each tile's widest version so far; a tree of
//!   any size reads its (partial) tiles as prefixes, so what a path names never changes;
//! - `log/index/<version hex>`: which entry published a version (a lookup hint, checked by proof);
//! - `log/key`: the log's signing key (never served).
//!
//! Appends run under the store lock: tiles first (at the barrier), then the checkpoint, so a crash
//! leaves the old checkpoint and tiles whose extra width the next append overwrites.

use std::collections::BTreeMap;

use tinycdn_core::log_entry::{EntryError, Event, LogEntry};
use tinycdn_core::VersionId;
use tinycdn_store::{Durability, Key, Store};
use tinycdn_tlog::tile::{bundle_prefix, tile_in_tree, TileError};
use tinycdn_tlog::{
    verify_consistency, verify_inclusion, Appender, Checkpoint, CheckpointError, Hash, LogSigner,
    LogVerifier, ProofError, ReadError, TileHashes, TileId, TileKind,
};

use crate::VolumeError;

/// The log's signing key.
pub const KEY: &str = "log/key";
/// The current signed checkpoint.
pub const CHECKPOINT: &str = "log/checkpoint";
const KEY_PREFIX: &str = "tinycdn-log-key-v1 ";

/// Why the log refused something.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The stored log key is unreadable.
    #[error("the store's log key ({KEY}) is malformed: {0}")]
    BadKey(String),
    /// A checkpoint that does not verify or parse.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A tile that is malformed or missing.
    #[error(transparent)]
    Tile(#[from] TileError),
    /// A proof that does not verify.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// An entry that does not parse.
    #[error(transparent)]
    Entry(#[from] EntryError),
    /// Stored tiles or entries that do not hash to the checkpoint.
    #[error("the log is inconsistent: {0}")]
    Inconsistent(String),
    /// The log does not list what was asked for.
    #[error("{0} is not in the log")]
    NotLogged(String),
    /// `log init` with another name when the log already has a key.
    #[error("the log already has a key, named {0:?}")]
    Exists(String),
    /// A checkpoint without its signing key (a store restored from a vault).
    #[error("the store holds a log checkpoint but not the log's signing key ({KEY}); copy it back from its backup (a new key would start a different log, which nodes refuse)")]
    MissingKey,
    /// The store has no log yet.
    #[error("the store has no log yet (it starts with the next publish, or `tinycdn log init`)")]
    Empty,
}

impl From<TileError> for VolumeError {
    fn from(e: TileError) -> Self {
        LogError::Tile(e).into()
    }
}

impl From<LogError> for VolumeError {
    fn from(e: LogError) -> Self {
        VolumeError::Log(Box::new(e))
    }
}

/// The entry for a signed snapshot.
#[must_use]
pub fn snapshot_event(s: &tinycdn_core::snapshot::SignedSnapshot) -> Event {
    Event::Snapshot {
        version: s.snapshot.version,
        hash: *blake3::hash(&s.to_bytes()).as_bytes(),
    }
}

/// The entry for a signed timestamp.
#[must_use]
pub fn timestamp_event(t: &tinycdn_core::timestamp::SignedTimestamp) -> Event {
    Event::Timestamp {
        version: t.timestamp.version,
        snapshot: t.timestamp.snapshot_version,
    }
}

fn tile_key(kind: TileKind, index: u64) -> Key {
    let full = TileId {
        kind,
        index,
        width: 256,
    };
    Key::Log(full.path())
}

fn index_key(version: &VersionId) -> Key {
    Key::Log(format!("index/{}", version.to_hex()))
}

/// `log/key`: the log's signing key.
fn signing_key() -> Key {
    Key::Log("key".to_owned())
}

/// `log/checkpoint`: the signed checkpoint, written last.
fn checkpoint_key() -> Key {
    Key::Log("checkpoint".to_owned())
}

fn read_opt(store: &Store, key: &Key) -> Result<Option<Vec<u8>>, VolumeError> {
    Ok(store.read_key_if_any(key)?)
}

/// The log's signer, if the store has one.
fn signer(store: &Store) -> Result<Option<LogSigner>, VolumeError> {
    let Some(bytes) = read_opt(store, &signing_key())? else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes).map_err(|_| LogError::BadKey("not UTF-8".into()))?;
    let rest = text
        .trim_end()
        .strip_prefix(KEY_PREFIX)
        .ok_or_else(|| LogError::BadKey(format!("does not start with {KEY_PREFIX:?}")))?;
    let (name, seed) = rest
        .split_once(' ')
        .ok_or_else(|| LogError::BadKey("no seed".into()))?;
    let mut raw = [0u8; 32];
    hex::decode_to_slice(seed, &mut raw).map_err(|e| LogError::BadKey(e.to_string()))?;
    Ok(Some(LogSigner::new(name, raw).map_err(LogError::from)?))
}

/// Creates the log's key (named `name`, default `tinycdn-log/<16 random hex>`) unless it exists;
/// returns the verifier key nodes are given (`--log-key`).
///
/// # Errors
/// [`LogError::Exists`] when a key with another name exists; store errors.
pub fn init(store: &Store, name: Option<&str>) -> Result<String, VolumeError> {
    if let Some(s) = signer(store)? {
        if name.is_some_and(|n| n != s.name()) {
            return Err(LogError::Exists(s.name().to_owned()).into());
        }
        return Ok(s.verifier_key());
    }
    if read_opt(store, &checkpoint_key())?.is_some() {
        return Err(LogError::MissingKey.into());
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| LogError::BadKey(format!("no randomness: {e}")))?;
    let name = match name {
        Some(n) => n.to_owned(),
        None => {
            let mut tag = [0u8; 8];
            getrandom::fill(&mut tag)
                .map_err(|e| LogError::BadKey(format!("no randomness: {e}")))?;
            format!("tinycdn-log/{}", hex::encode(tag))
        }
    };
    let s = LogSigner::new(&name, seed).map_err(LogError::from)?;
    let text = format!("{KEY_PREFIX}{name} {}\n", hex::encode(seed));
    store.write_key(&signing_key(), text.as_bytes(), Durability::Immediate)?;
    Ok(s.verifier_key())
}

/// The verifier key of the store's log, if it has one.
///
/// # Errors
/// Store errors, a malformed key.
pub fn verifier_key(store: &Store) -> Result<Option<String>, VolumeError> {
    Ok(signer(store)?.map(|s| s.verifier_key()))
}

/// The current checkpoint and its note bytes, verified against the log's own key. A store
/// without the key (a vault, or an origin restored from one) holds another log's checkpoint as
/// it received it: its body is parsed, and readers verify the signature with that log's key.
///
/// # Errors
/// A checkpoint that does not verify; store errors.
pub fn checkpoint(store: &Store) -> Result<Option<(Checkpoint, Vec<u8>)>, VolumeError> {
    let Some(note) = read_opt(store, &checkpoint_key())? else {
        return Ok(None);
    };
    let cp = match signer(store)? {
        Some(s) => LogVerifier::new(&s.verifier_key())
            .and_then(|v| v.open(&note))
            .map_err(LogError::from)?,
        None => unsigned_body(&note)?,
    };
    Ok(Some((cp, note)))
}

fn unsigned_body(note: &[u8]) -> Result<Checkpoint, VolumeError> {
    let text = std::str::from_utf8(note).map_err(|_| LogError::Inconsistent("not UTF-8".into()))?;
    let body = text
        .split_once("\n\n")
        .map(|(b, _)| format!("{b}\n"))
        .ok_or_else(|| LogError::Inconsistent("the checkpoint has no signature".into()))?;
    Ok(Checkpoint::parse(&body).map_err(LogError::from)?)
}

/// The checkpoint of another log that this store mirrors, verified with that log's key.
///
/// # Errors
/// A checkpoint that does not verify; store errors.
pub fn mirrored_checkpoint(
    store: &Store,
    verifier: &LogVerifier,
) -> Result<Option<Checkpoint>, VolumeError> {
    read_opt(store, &checkpoint_key())?
        .map(|note| verifier.open(&note).map_err(|e| LogError::from(e).into()))
        .transpose()
}

/// Extends this store's copy of another log (a vault) with `entries`, which must take it to the
/// tree `note` signs: the tiles are rebuilt here from the entries, never copied, and the new
/// checkpoint is written only when they hash to its root. Every checkpoint accepted is kept under
/// `history/log/`. The caller holds the store lock.
///
/// # Errors
/// [`LogError::Inconsistent`] when the entries do not reach the signed root; store errors.
pub fn mirror_append(
    store: &Store,
    verifier: &LogVerifier,
    note: &[u8],
    entries: &[Vec<u8>],
) -> Result<Checkpoint, VolumeError> {
    if signer(store)?.is_some() {
        return Err(LogError::Exists("this store's own log".into()).into());
    }
    let new = verifier.open(note).map_err(LogError::from)?;
    let size = mirrored_checkpoint(store, verifier)?.map_or(0, |c| c.size);
    let mut log = Appender::load(size, |t: TileId| -> Result<Vec<u8>, VolumeError> {
        stored_tile(store, t.kind, t.index)
    })?;
    let tiles = log.append(entries).map_err(LogError::from)?;
    if log.size() != new.size || log.root() != new.root {
        return Err(LogError::Inconsistent(format!(
            "{} entries after {size} do not reach the signed root of {}",
            entries.len(),
            new.size
        ))
        .into());
    }
    for (id, bytes) in tiles {
        store.write_key(&tile_key(id.kind, id.index), &bytes, Durability::AtBarrier)?;
    }
    for (i, e) in entries.iter().enumerate() {
        if let Ok(LogEntry {
            event: Event::Publish { version, .. },
            ..
        }) = LogEntry::parse(e)
        {
            let at = (size + i as u64).to_string();
            store.write_key(
                &index_key(&VersionId::from_bytes(version)),
                at.as_bytes(),
                Durability::AtBarrier,
            )?;
        }
    }
    store.write_key(
        &Key::History(format!("log/checkpoint/{:020}", new.size)),
        note,
        Durability::AtBarrier,
    )?;
    store.barrier()?;
    store.write_key(&checkpoint_key(), note, Durability::Immediate)?;
    Ok(new)
}

fn stored_tile(store: &Store, kind: TileKind, index: u64) -> Result<Vec<u8>, VolumeError> {
    read_opt(store, &tile_key(kind, index))?.ok_or_else(|| {
        LogError::Inconsistent(format!("tile {} is missing", tile_key(kind, index))).into()
    })
}

/// Tile `id` as a tree of `size` entries names it: the stored tile cut to `id.width`; `None`
/// when that tree has no such tile (never bytes beyond what a checkpoint covers).
fn tile_at(store: &Store, id: TileId, size: u64) -> Result<Option<Vec<u8>>, VolumeError> {
    match tile_in_tree(id.kind, id.index, size) {
        Some(t) if t.width >= id.width => {}
        _ => return Ok(None),
    }
    let bytes = stored_tile(store, id.kind, id.index)?;
    let cut = match id.kind {
        TileKind::Entries => bundle_prefix(&bytes, id.width).map_err(LogError::from)?,
        TileKind::Hashes(_) => bytes
            .get(..usize::from(id.width) * 32)
            .ok_or_else(|| LogError::Inconsistent(format!("tile {} is short", id.path())))?,
    };
    Ok(Some(cut.to_vec()))
}

/// Tile `id` as the current checkpoint covers it (what the origin serves at `/log/<path>`).
///
/// # Errors
/// Store errors, a damaged tile.
pub fn read_tile(store: &Store, id: TileId) -> Result<Option<Vec<u8>>, VolumeError> {
    let Some((cp, _)) = checkpoint(store)? else {
        return Ok(None);
    };
    tile_at(store, id, cp.size)
}

/// Appends `events`, stamped with the current time, and signs the new checkpoint; creates the
/// log's key on first use. The caller holds the store lock.
///
/// # Errors
/// Store errors (a full disk: the old checkpoint stays), a damaged log.
pub fn append(store: &Store, events: Vec<Event>) -> Result<Checkpoint, VolumeError> {
    if signer(store)?.is_none() {
        init(store, None)?;
    }
    let s = signer(store)?.ok_or_else(|| LogError::BadKey("vanished".into()))?;
    let size = checkpoint(store)?.map_or(0, |(cp, _)| cp.size);
    let mut log = Appender::load(size, |t: TileId| -> Result<Vec<u8>, VolumeError> {
        stored_tile(store, t.kind, t.index)
    })?;
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let lines: Vec<Vec<u8>> = events
        .iter()
        .map(|event| {
            LogEntry {
                time,
                event: event.clone(),
            }
            .to_line()
            .into_bytes()
        })
        .collect();
    for (id, bytes) in log.append(&lines).map_err(LogError::from)? {
        store.write_key(&tile_key(id.kind, id.index), &bytes, Durability::AtBarrier)?;
    }
    for (i, event) in events.iter().enumerate() {
        if let Event::Publish { version, .. } = event {
            let key = index_key(&VersionId::from_bytes(*version));
            let at = (size + i as u64).to_string();
            store.write_key(&key, at.as_bytes(), Durability::AtBarrier)?;
        }
    }
    store.barrier()?;
    let cp = Checkpoint {
        origin: s.name().to_owned(),
        size: log.size(),
        root: log.root(),
        extensions: Vec::new(),
    };
    let note = s.sign(&cp).map_err(LogError::from)?;
    store.write_key(&checkpoint_key(), &note, Durability::Immediate)?;
    Ok(cp)
}

/// Entries `from..` (at most `limit`) of the current checkpoint's tree.
///
/// # Errors
/// [`LogError::Empty`], a damaged log, store errors.
pub fn entries(
    store: &Store,
    from: u64,
    limit: u64,
) -> Result<(Checkpoint, Vec<(u64, LogEntry)>), VolumeError> {
    let (cp, _) = checkpoint(store)?.ok_or(LogError::Empty)?;
    let end = cp.size.min(from.saturating_add(limit));
    let mut out = Vec::new();
    let mut at = from;
    while at < end {
        let id = tile_in_tree(TileKind::Entries, at / 256, cp.size)
            .ok_or_else(|| LogError::Inconsistent("an entry tile beyond the tree".into()))?;
        let bytes = tile_at(store, id, cp.size)?
            .ok_or_else(|| LogError::Inconsistent(format!("{} missing", id.path())))?;
        let list = tinycdn_tlog::tile::parse_bundle(&bytes, id.width).map_err(LogError::from)?;
        for (i, e) in list.iter().enumerate() {
            let index = id.index * 256 + i as u64;
            if index >= at && index < end {
                out.push((index, LogEntry::parse(e).map_err(LogError::from)?));
            }
        }
        at = (id.index + 1) * 256;
    }
    Ok((cp, out))
}

/// A version's inclusion in the log, proved.
#[derive(Debug, Clone)]
pub struct Inclusion {
    /// The checkpoint it is proved against.
    pub checkpoint: Checkpoint,
    /// The checkpoint's signed note.
    pub note: Vec<u8>,
    /// The entry's index.
    pub index: u64,
    /// The entry.
    pub entry: LogEntry,
    /// The audit path.
    pub proof: Vec<Hash>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Boxed(String);

fn hashes_from_store(
    store: &Store,
    size: u64,
) -> TileHashes<impl FnMut(TileId) -> Result<Vec<u8>, Boxed> + '_> {
    TileHashes::new(size, move |id| {
        tile_at(store, id, size)
            .map_err(|e| Boxed(e.to_string()))?
            .ok_or_else(|| Boxed(format!("{} is not in the tree", id.path())))
    })
}

fn read_error(e: ReadError<Boxed>) -> VolumeError {
    match e {
        ReadError::Proof(p) => LogError::Proof(p).into(),
        ReadError::Tile(t) => LogError::Tile(t).into(),
        ReadError::Source(s) => LogError::Inconsistent(s.0).into(),
    }
}

/// The index of the entry that published `version`, if the log records one (a hint from
/// `log/index/`, checked against the current tree size; [`prove`] checks the entry itself).
///
/// # Errors
/// Store errors, a checkpoint that does not verify.
pub fn lookup(store: &Store, version: &VersionId) -> Result<Option<u64>, VolumeError> {
    let Some((cp, _)) = checkpoint(store)? else {
        return Ok(None);
    };
    Ok(read_opt(store, &index_key(version))?
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&i| i < cp.size))
}

/// Proves that `version` was published in the log: finds its entry, checks that it names the
/// version, and checks the audit path against the signed checkpoint.
///
/// # Errors
/// [`LogError::NotLogged`], a damaged log, store errors.
pub fn prove(store: &Store, version: &VersionId) -> Result<Inclusion, VolumeError> {
    let (cp, note) = checkpoint(store)?.ok_or(LogError::Empty)?;
    let index = lookup(store, version)?
        .ok_or_else(|| LogError::NotLogged(format!("version {}", version.short())))?;
    let mut tiles = hashes_from_store(store, cp.size);
    let bytes = tiles.entry(index).map_err(read_error)?;
    let entry = LogEntry::parse(&bytes).map_err(LogError::from)?;
    if !matches!(&entry.event, Event::Publish { version: v, .. } if v == version.as_bytes()) {
        return Err(LogError::Inconsistent(format!(
            "entry {index} does not publish version {}",
            version.short()
        ))
        .into());
    }
    let proof = tiles.inclusion(index).map_err(read_error)?;
    verify_inclusion(
        index,
        cp.size,
        &tinycdn_tlog::leaf_hash(&bytes),
        &proof,
        &cp.root,
    )
    .map_err(LogError::from)?;
    Ok(Inclusion {
        checkpoint: cp,
        note,
        index,
        entry,
        proof,
    })
}

/// What `log verify` found.
#[derive(Debug, Clone, Default)]
pub struct LogReport {
    /// Entries in the log.
    pub size: u64,
    /// The root the checkpoint signs (and every tile hashes to).
    pub root: Option<Hash>,
    /// Entries by kind.
    pub kinds: BTreeMap<&'static str, u64>,
    /// Versions and current tags of the store that the log does not record (changes made before
    /// the log existed, or outside tinycdn).
    pub unlogged: Vec<String>,
}

/// Verifies the whole log: the checkpoint's signature, every entry's form, every stored tile
/// against tiles rebuilt from the entries, the root; then lists versions and current tags the log
/// does not record.
///
/// # Errors
/// [`LogError::Inconsistent`] and the like for a damaged log; store errors.
pub fn verify(store: &Store) -> Result<LogReport, VolumeError> {
    let Some((cp, _)) = checkpoint(store)? else {
        let mut report = LogReport::default();
        unlogged(store, &[], &mut report)?;
        return Ok(report);
    };
    let (_, list) = entries(store, 0, cp.size)?;
    let mut rebuilt = Appender::new();
    let lines: Vec<Vec<u8>> = list.iter().map(|(_, e)| e.to_line().into_bytes()).collect();
    let tiles = rebuilt.append(&lines).map_err(LogError::from)?;
    for (id, bytes) in tiles {
        let stored = tile_at(store, id, cp.size)?
            .ok_or_else(|| LogError::Inconsistent(format!("{} is missing", id.path())))?;
        if stored != bytes {
            return Err(LogError::Inconsistent(format!(
                "tile {} does not match the entries",
                id.path()
            ))
            .into());
        }
    }
    if rebuilt.root() != cp.root || rebuilt.size() != cp.size {
        return Err(LogError::Inconsistent(
            "the entries do not hash to the checkpoint's root".into(),
        )
        .into());
    }
    let mut report = LogReport {
        size: cp.size,
        root: Some(cp.root),
        ..LogReport::default()
    };
    for (_, e) in &list {
        *report.kinds.entry(e.event.kind()).or_default() += 1;
    }
    let events: Vec<Event> = list.into_iter().map(|(_, e)| e.event).collect();
    unlogged(store, &events, &mut report)?;
    Ok(report)
}

fn unlogged(store: &Store, events: &[Event], report: &mut LogReport) -> Result<(), VolumeError> {
    let mut published = std::collections::HashSet::new();
    let mut tags: BTreeMap<(String, String), [u8; 32]> = BTreeMap::new();
    for e in events {
        match e {
            Event::Publish { version, .. } => {
                published.insert(*version);
            }
            Event::Tag {
                volume, tag, new, ..
            } => {
                tags.insert((volume.clone(), tag.clone()), *new);
            }
            _ => {}
        }
    }
    for volume in store.volumes()? {
        for (number, id) in store.versions(&volume)? {
            if !published.contains(id.as_bytes()) {
                report
                    .unlogged
                    .push(format!("{volume} version {number} ({})", id.short()));
            }
        }
        for t in store.tags(&volume)? {
            let key = (volume.to_string(), t.record.tag.to_string());
            if tags.get(&key) != Some(t.record.version.as_bytes()) {
                report.unlogged.push(format!(
                    "{volume}@{} -> {}",
                    t.record.tag,
                    t.record.version.short()
                ));
            }
        }
    }
    Ok(())
}

/// Checks that the log extends an older checkpoint of itself (`old_note`, signed by the same
/// key): a consistency proof from the stored tiles, verified against both roots.
///
/// # Errors
/// [`LogError`] for a fork, a rollback or a foreign checkpoint; store errors.
pub fn check_extends(
    store: &Store,
    old_note: &[u8],
) -> Result<(Checkpoint, Checkpoint), VolumeError> {
    let (cp, _) = checkpoint(store)?.ok_or(LogError::Empty)?;
    let s = signer(store)?.ok_or(LogError::Empty)?;
    let v = LogVerifier::new(&s.verifier_key()).map_err(LogError::from)?;
    let old = v.open(old_note).map_err(LogError::from)?;
    if old.size > cp.size {
        return Err(LogError::Inconsistent(format!(
            "the older checkpoint has {} entries, the log {}: a rollback",
            old.size, cp.size
        ))
        .into());
    }
    let proof = if old.size == 0 || old.size == cp.size {
        Vec::new()
    } else {
        hashes_from_store(store, cp.size)
            .consistency(old.size)
            .map_err(read_error)?
    };
    if old.size == 0 {
        return Ok((old, cp));
    }
    verify_consistency(old.size, cp.size, &old.root, &cp.root, &proof).map_err(LogError::from)?;
    Ok((old, cp))
}

impl tinycdn_core::error::Classified for LogError {
    fn class(&self) -> tinycdn_core::error::ErrorClass {
        use tinycdn_core::error::ErrorClass;
        match self {
            Self::MissingKey | Self::Exists(_) | Self::Empty => ErrorClass::Failure,
            Self::BadKey(_)
            | Self::Checkpoint(_)
            | Self::Tile(_)
            | Self::Proof(_)
            | Self::Entry(_)
            | Self::Inconsistent(_)
            | Self::NotLogged(_) => ErrorClass::Integrity,
        }
    }
}
