//! What a pull keeps in the store while it works: staged chunks and deltas (so an interrupted
//! pull resumes), the index of chunks the store already holds, and files rebuilt from both,
//! verified; and the last step that records the tag and clears staging.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use bytes::Bytes;
use tinycdn_core::delta_index::DeltaEntry;
use tinycdn_core::tag::SignedTag;
use tinycdn_core::{ChunkId, FileId};
use tinycdn_fetch::Upstreams;
use tinycdn_store::{Durability, Key, Prefix, Store, StoreError};
use tinycdn_volume::read::FileRef;

use crate::fetched::blocking;
use crate::metadata::VerifiedMetadata;
use crate::plan::{LocalChunk, Piece};

pub(super) fn staging_key(id: &ChunkId) -> Key {
    Key::StagedChunk(*id)
}

fn staged_delta_key(hash: &FileId) -> Key {
    Key::StagedDelta(*hash)
}

/// The last step of a pull (the caller holds the lock): the tag and the metadata that vouched
/// for it, then staging cleared.
pub(super) fn record_tag_and_clear(
    store: &Store,
    tag: Option<&SignedTag>,
    fresh: Option<&VerifiedMetadata>,
) -> Result<(), StoreError> {
    if let Some(t) = tag {
        store.put_tag(t)?;
    }
    if let Some(f) = fresh {
        f.pin(store)?;
    }
    clear_staging(store)
}

/// Fetches (or takes from staging) one delta, verifies it against its signed hash, applies it to
/// the base the store holds and stores the verified target. Returns the delta bytes fetched.
pub(super) async fn apply_delta(
    store: &Store,
    upstreams: &Upstreams,
    e: &DeltaEntry,
    base_exec: bool,
    target_exec: bool,
) -> Result<u64, String> {
    let staged = staged_delta_key(&e.delta);
    let (delta, fetched) = match blocking(|| store.read_key(&staged)) {
        Ok(b) if FileId::of(&b) == e.delta => (Bytes::from(b), 0),
        _ => {
            let b = upstreams
                .fetch(
                    &format!("/d/{}/{}", e.base, e.target),
                    None,
                    e.delta_size,
                    |b| b.len() as u64 == e.delta_size && FileId::of(b) == e.delta,
                )
                .await
                .map_err(|err| err.to_string())?;
            blocking(|| store.write_key(&staged, &b, Durability::AtBarrier))
                .map_err(|err| err.to_string())?;
            let n = b.len() as u64;
            (b, n)
        }
    };
    blocking(|| -> Result<(), String> {
        let base = store
            .read_key(&Key::Object {
                id: e.base,
                exec: base_exec,
            })
            .map_err(|err| err.to_string())?;
        let header = tinycdn_delta::Delta::from_bytes(&delta).map_err(|err| err.to_string())?;
        if header.header.target != e.target {
            return Err("the delta produces another file than its index says".into());
        }
        let target = tinycdn_delta::apply(&base, &delta).map_err(|err| err.to_string())?;
        store
            .put_object(&e.target, target_exec, &target)
            .map_err(|err| err.to_string())?;
        Ok(())
    })?;
    Ok(fetched)
}

/// Removes every staged chunk (the caller holds the store lock).
fn clear_staging(store: &Store) -> Result<(), StoreError> {
    for key in store.keys(Prefix::Staging)? {
        store.delete_key(&key)?;
    }
    Ok(())
}

/// Maps every chunk of every file the store holds to where it is.
pub(super) fn local_index(store: &Store) -> Result<HashMap<ChunkId, LocalChunk>, StoreError> {
    let mut index = HashMap::new();
    let mut seen = HashSet::new();
    for volume in store.volumes()? {
        for (_, id) in store.versions(&volume)? {
            let Ok((m, _)) = store.read_manifest(&id) else {
                continue;
            };
            for e in &m.entries {
                let Some(f) = FileRef::of(e) else { continue };
                if !seen.insert((f.content.hash, f.exec))
                    || !store.has_object(&f.content.hash, f.exec, f.content.size)?
                {
                    continue;
                }
                for (offset, c) in f.content.chunk_offsets() {
                    index.entry(c.id).or_insert(LocalChunk {
                        object: f.content.hash,
                        exec: f.exec,
                        offset,
                    });
                }
            }
        }
    }
    Ok(index)
}

/// Reads a file's pieces in order from local objects and staged chunks, each verified, and checks
/// the whole-file hash at the end.
pub(super) struct Rebuild<'a> {
    pub(super) store: &'a Store,
    pub(super) pieces: std::vec::IntoIter<Piece>,
    pub(super) current: Bytes,
    pub(super) hasher: blake3::Hasher,
    pub(super) expected: FileId,
    /// Set when the bytes failed verification (as opposed to the store failing to write them).
    pub(super) unverified: bool,
}

impl Read for Rebuild<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            let Some(p) = self.pieces.next() else {
                if FileId::from_bytes(*self.hasher.finalize().as_bytes()) != self.expected {
                    self.unverified = true;
                    return Err(std::io::Error::other(
                        "the rebuilt file does not match its hash",
                    ));
                }
                return Ok(0);
            };
            let bytes = match p {
                Piece::Local { id, len, at } => self
                    .store
                    .read_chunk(&at.object, at.exec, at.offset, &id, len)
                    .map_err(|e| std::io::Error::other(e.to_string()))?,
                Piece::Staged { id, .. } | Piece::Remote { id, .. } => {
                    let b = self
                        .store
                        .read_key(&staging_key(&id))
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                    if ChunkId::of(&b) != id {
                        self.unverified = true;
                        return Err(std::io::Error::other("a staged chunk is corrupt"));
                    }
                    b
                }
            };
            self.hasher.update(&bytes);
            self.current = Bytes::from(bytes);
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}
