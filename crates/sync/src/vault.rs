//! The immutable vault: an append-only copy of an origin — its transparency log, every version
//! the log says was published (manifests, signatures, delta indexes, objects), tags, snapshots,
//! timestamps and roots — each verified before it is kept, nothing ever overwritten or deleted.
//!
//! The log is the vault's index: a new checkpoint must extend the one the vault holds (else a
//! split view, and the vault is left as it was), its new entries must rebuild the signed root,
//! and each new publish entry is pulled as a version (chunk by chunk, verified, resumable). A
//! version gc removed from the origin before the vault saw it is reported, not invented. Tags,
//! snapshots and timestamps move: every signed copy seen is kept under `history/`, the newest
//! as the current one (never an older over a newer).

use std::collections::BTreeMap;
use std::sync::Arc;

use tinycdn_core::log_entry::Event;
use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::tag::SignedTag;
use tinycdn_core::VersionId;
use tinycdn_fetch::{FetchError, Upstreams};
use tinycdn_store::{Durability, Key, Store, StoreError};
use tinycdn_tlog::tile::{parse_bundle, tile_in_tree, TileKind};
use tinycdn_tlog::LogVerifier;
use tinycdn_volume::trust::Trust;
use tinycdn_volume::Progress;

use crate::fetched::blocking;
use crate::log::{LogCheckError, RemoteLog};
use crate::pull::pull;
use crate::PullError;

const MAX_RECORD: u64 = 1 << 20;

/// What a vault sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VaultReport {
    /// Log entries before and after.
    pub log_before: u64,
    /// Log entries now.
    pub log_after: u64,
    /// Versions newly copied.
    pub versions_copied: Vec<String>,
    /// Versions the log names that the origin no longer has (gc'd before the vault saw them).
    pub versions_missing: Vec<String>,
    /// Signed tags kept (new ones only).
    pub tags_kept: u64,
    /// Bytes read from the network.
    pub bytes_transferred: u64,
}

/// Why a vault sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The log check failed: a split view, tiles that do not verify.
    #[error(transparent)]
    Log(#[from] LogCheckError),
    /// Copying a version failed.
    #[error(transparent)]
    Pull(#[from] PullError),
    /// The vault's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A mirror failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The vault's log copy refused the entries.
    #[error(transparent)]
    Volume(#[from] tinycdn_volume::VolumeError),
}

/// Copies what the origin's log names and the vault lacks; see the module documentation.
///
/// # Errors
/// [`VaultError`]; what was copied before the error stays, and a rerun continues.
pub async fn sync(
    vault: Arc<Store>,
    upstreams: Arc<Upstreams>,
    trust: &Trust,
    verifier: &LogVerifier,
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<VaultReport, VaultError> {
    let start_bytes = upstreams.fetched_bytes();
    let remote = RemoteLog::new(&upstreams, verifier);
    let (cp, note) = remote.checkpoint().await?;
    let held = blocking(|| tinycdn_volume::log::mirrored_checkpoint(&vault, verifier))?;
    let mut report = VaultReport {
        log_before: held.as_ref().map_or(0, |c| c.size),
        ..VaultReport::default()
    };
    if let Some(old) = &held {
        remote.check_extends(old, &cp).await?;
    }
    // 1. The new entries, which must rebuild the signed root on top of the vault's tiles.
    let lines = new_entries(&upstreams, report.log_before, cp.size).await?;
    if !lines.is_empty() || held.is_none() {
        blocking(|| -> Result<(), VaultError> {
            let _lock = vault.lock()?;
            tinycdn_volume::log::mirror_append(&vault, verifier, &note, &lines)?;
            Ok(())
        })?;
    }
    report.log_after = cp.size;
    // 2. Every version the log says was published that the vault lacks (all of them on the
    // first sync, so that a vault made late still holds the older versions the origin kept).
    let (_, all) = blocking(|| tinycdn_volume::log::entries(&vault, 0, cp.size))?;
    let mut tags: BTreeMap<(String, String), ()> = BTreeMap::new();
    for (_, e) in &all {
        match &e.event {
            Event::Publish {
                volume,
                number,
                version,
                ..
            } => {
                let id = VersionId::from_bytes(*version);
                if blocking(|| vault.read_manifest(&id)).is_ok() {
                    continue;
                }
                let Ok(name) = VolumeName::new(volume) else {
                    continue;
                };
                let label = format!("{volume} version {number} ({})", id.short());
                match pull(
                    vault.clone(),
                    upstreams.clone(),
                    trust,
                    &name,
                    &id.to_hex(),
                    concurrency,
                    progress,
                )
                .await
                {
                    Ok(_) => report.versions_copied.push(label),
                    Err(PullError::Fetch(FetchError::NotFound { .. })) => {
                        report.versions_missing.push(label);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Event::Tag { volume, tag, .. } => {
                tags.insert((volume.clone(), tag.clone()), ());
            }
            _ => {}
        }
    }
    // 3. Tags, snapshot and timestamp: every signed copy kept, the newest current.
    for (volume, tag) in tags.keys() {
        if keep_tag(&vault, &upstreams, trust, volume, tag).await? {
            report.tags_kept += 1;
        }
    }
    for (path, key) in [("/n", Key::Snapshot), ("/ts", Key::Timestamp)] {
        keep_record(&vault, &upstreams, trust, path, &key).await?;
    }
    report.bytes_transferred = upstreams.fetched_bytes() - start_bytes;
    Ok(report)
}

/// Entries `from..to` of the remote log, as bytes (their hashes are checked by the caller).
async fn new_entries(
    upstreams: &Upstreams,
    from: u64,
    to: u64,
) -> Result<Vec<Vec<u8>>, VaultError> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let Some(id) = tile_in_tree(TileKind::Entries, at / 256, to) else {
            break;
        };
        let bytes = upstreams
            .fetch(&format!("/log/{}", id.path()), None, 1 << 20, |_| true)
            .await?;
        let list =
            parse_bundle(&bytes, id.width).map_err(|e| LogCheckError::Tiles(e.to_string()))?;
        let skip = usize::try_from(at % 256).unwrap_or(0);
        out.extend(list.into_iter().skip(skip).map(<[u8]>::to_vec));
        at = (id.index + 1) * 256;
    }
    Ok(out)
}

/// Keeps a signed tag: under `history/` by its record hash, and as the current tag unless the
/// vault's is newer. Returns whether it was new to the vault.
async fn keep_tag(
    vault: &Store,
    upstreams: &Upstreams,
    trust: &Trust,
    volume: &str,
    tag: &str,
) -> Result<bool, VaultError> {
    let (Ok(v), Ok(t)) = (VolumeName::new(volume), TagName::new(tag)) else {
        return Ok(false);
    };
    let check = |b: &[u8]| {
        SignedTag::from_bytes(b).is_ok_and(|s| {
            s.verify(trust.ring()).is_ok() && s.record.volume == v && s.record.tag == t
        })
    };
    let bytes = match upstreams
        .fetch(&format!("/t/{v}/{t}"), None, MAX_RECORD, check)
        .await
    {
        Ok(b) => b,
        Err(FetchError::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let Ok(signed) = SignedTag::from_bytes(&bytes) else {
        return Ok(false);
    };
    blocking(|| -> Result<bool, VaultError> {
        let _lock = vault.lock()?;
        let history = Key::History(format!("tags/{v}/{t}/{}", signed.record_hash()));
        let new = vault.key_size(&history)?.is_none();
        if new {
            vault.write_key(&history, &bytes, Durability::Immediate)?;
        }
        let current = vault.read_tag(&v, &t)?;
        if current.is_none_or(|c| c.is_older_than(&signed)) {
            vault.put_tag(&signed)?;
        }
        Ok(new)
    })
}

/// Keeps the snapshot or the timestamp: every signed copy under `history/`, the one with the
/// higher version as current.
async fn keep_record(
    vault: &Store,
    upstreams: &Upstreams,
    trust: &Trust,
    path: &str,
    key: &Key,
) -> Result<(), VaultError> {
    let version = |b: &[u8]| -> Option<u64> {
        if *key == Key::Snapshot {
            let s = tinycdn_core::snapshot::SignedSnapshot::from_bytes(b).ok()?;
            s.verify(trust.ring()).ok()?;
            Some(s.snapshot.version)
        } else {
            let t = tinycdn_core::timestamp::SignedTimestamp::from_bytes(b).ok()?;
            t.verify(trust.ring()).ok()?;
            Some(t.timestamp.version)
        }
    };
    let bytes = match upstreams
        .fetch(path, None, MAX_RECORD, |b| version(b).is_some())
        .await
    {
        Ok(b) => b,
        Err(FetchError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let got = version(&bytes).unwrap_or(0);
    blocking(|| -> Result<(), VaultError> {
        let _lock = vault.lock()?;
        let history = Key::History(format!("{key}/{got:020}"));
        if vault.key_size(&history)?.is_none() {
            vault.write_key(&history, &bytes, Durability::Immediate)?;
        }
        let current = vault.read_key_if_any(key)?.and_then(|b| version(&b));
        if current.is_none_or(|c| c < got) {
            vault.write_key(key, &bytes, Durability::Immediate)?;
        }
        Ok(())
    })
}

impl tinycdn_core::error::Classified for VaultError {
    fn class(&self) -> tinycdn_core::error::ErrorClass {
        match self {
            Self::Log(e) => e.class(),
            Self::Pull(e) => e.class(),
            Self::Store(e) => e.class(),
            Self::Fetch(e) => e.class(),
            Self::Volume(e) => e.class(),
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Log(e) => e.hint(),
            Self::Pull(e) => e.hint(),
            Self::Store(e) => e.hint(),
            Self::Fetch(e) => e.hint(),
            Self::Volume(e) => e.hint(),
        }
    }
}
