//! Reading a tiled log: subtree hashes looked up in tiles fetched on demand (each once), so proofs
//! can be made by whoever holds the tiles, and checked against a signed root by the caller.

use std::collections::HashMap;

use crate::hash::Hash;
use crate::proof::{self, ProofError, Subtree};
use crate::tile::{parse_bundle, parse_hashes, tile_in_tree, TileError, TileId, TileKind};

/// Why reading the log failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E: std::error::Error + 'static> {
    /// The tile source failed.
    #[error(transparent)]
    Source(E),
    /// A tile was malformed.
    #[error(transparent)]
    Tile(#[from] TileError),
    /// A proof could not be made or did not verify.
    #[error(transparent)]
    Proof(#[from] ProofError),
}

/// Subtree hashes of a tree of `size` entries, from tiles fetched by `fetch` (bytes of the tile
/// as the tree names it) and kept for reuse.
pub struct TileHashes<F> {
    size: u64,
    fetch: F,
    tiles: HashMap<TileId, Vec<Hash>>,
    fetched: usize,
}

impl<F, E> TileHashes<F>
where
    F: FnMut(TileId) -> Result<Vec<u8>, E>,
    E: std::error::Error + 'static,
{
    /// Reads the tree of `size` entries through `fetch`.
    pub fn new(size: u64, fetch: F) -> Self {
        Self {
            size,
            fetch,
            tiles: HashMap::new(),
            fetched: 0,
        }
    }

    /// Tiles fetched so far.
    #[must_use]
    pub fn fetched(&self) -> usize {
        self.fetched
    }

    /// A complete subtree's hash.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn subtree(&mut self, s: Subtree) -> Result<Hash, ReadError<E>> {
        let span = s
            .span(self.size)
            .ok_or(ProofError::BadRequest("a subtree outside the tree"))?;
        if !self.tiles.contains_key(&span.tile) {
            let bytes = (self.fetch)(span.tile).map_err(ReadError::Source)?;
            self.fetched += 1;
            let hashes = parse_hashes(&bytes, span.tile.width)?;
            self.tiles.insert(span.tile, hashes);
        }
        let tile = self.tiles.get(&span.tile).map_or(&[][..], Vec::as_slice);
        Ok(span.hash(tile)?)
    }

    /// The tree's root as the tiles give it (compare with a signed checkpoint).
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn root(&mut self) -> Result<Hash, ReadError<E>> {
        let size = self.size;
        proof::root(size, &mut |s| self.subtree(s))
    }

    /// The inclusion proof of entry `index`.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn inclusion(&mut self, index: u64) -> Result<Vec<Hash>, ReadError<E>> {
        let size = self.size;
        proof::inclusion_proof(index, size, &mut |s| self.subtree(s))
    }

    /// The consistency proof from the tree of `old_size` entries.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn consistency(&mut self, old_size: u64) -> Result<Vec<Hash>, ReadError<E>> {
        let size = self.size;
        proof::consistency_proof(old_size, size, &mut |s| self.subtree(s))
    }

    /// Entry `index`'s bytes, from its bundle.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn entry(&mut self, index: u64) -> Result<Vec<u8>, ReadError<E>> {
        let tile = tile_in_tree(TileKind::Entries, index / 256, self.size)
            .ok_or(ProofError::BadRequest("the entry is not in the tree"))?;
        let bytes = (self.fetch)(tile).map_err(ReadError::Source)?;
        self.fetched += 1;
        let entries = parse_bundle(&bytes, tile.width)?;
        Ok(entries
            .get((index % 256) as usize)
            .map(|e| e.to_vec())
            .unwrap_or_default())
    }
}

/// The hash tiles a proof over a tree of `size` entries reads: the computation run once with
/// placeholder hashes (which subtrees a proof visits depends on the sizes alone), so a remote
/// reader can fetch them all at once before making the proof.
#[must_use]
pub fn tiles_needed(
    size: u64,
    run: impl FnOnce(
        &mut dyn FnMut(Subtree) -> Result<Hash, ProofError>,
    ) -> Result<Vec<Hash>, ProofError>,
) -> Vec<TileId> {
    let mut seen = Vec::new();
    let mut record = |s: Subtree| -> Result<Hash, ProofError> {
        if let Some(span) = s.span(size) {
            if !seen.contains(&span.tile) {
                seen.push(span.tile);
            }
        }
        Ok(crate::hash::empty_root())
    };
    let _ = run(&mut record);
    seen
}

/// The hash tiles [`TileHashes::consistency`] reads.
#[must_use]
pub fn tiles_for_consistency(old_size: u64, size: u64) -> Vec<TileId> {
    tiles_needed(size, |nodes| {
        proof::consistency_proof(old_size, size, &mut &mut *nodes)
    })
}

/// The hash tiles [`TileHashes::inclusion`] reads.
#[must_use]
pub fn tiles_for_inclusion(index: u64, size: u64) -> Vec<TileId> {
    tiles_needed(size, |nodes| {
        proof::inclusion_proof(index, size, &mut &mut *nodes)
    })
}

/// Checks that `tile` (with `bytes`) belongs to the tree of `size` entries whose signed root is
/// `root`: a hash tile's complete subtree must appear in its parent tile, up to the right-edge
/// tiles whose hashes give the root; an entry bundle's leaf hashes must be its level-0 tile.
/// `fetch` supplies the other tiles (untrusted: they are checked too). Returns every tile it
/// authenticated with its bytes, so a cache can keep them.
///
/// # Errors
/// [`ReadError`]: a tile that does not hash up to the root, or a fetch that failed.
pub fn authenticate<E: std::error::Error + 'static>(
    tile: TileId,
    bytes: Vec<u8>,
    size: u64,
    root: &Hash,
    mut fetch: impl FnMut(TileId) -> Result<Vec<u8>, E>,
) -> Result<Vec<(TileId, Vec<u8>)>, ReadError<E>> {
    let mismatch = || ReadError::Proof(ProofError::Mismatch);
    if tile_in_tree(tile.kind, tile.index, size) != Some(tile) {
        return Err(ProofError::BadRequest("the tile is not one of this tree's").into());
    }
    let mut out = Vec::new();
    let (mut current, mut hashes) = match tile.kind {
        TileKind::Entries => {
            let leaves: Vec<Hash> = parse_bundle(&bytes, tile.width)?
                .into_iter()
                .map(crate::hash::leaf_hash)
                .collect();
            out.push((tile, bytes));
            let level0 = TileId {
                kind: TileKind::Hashes(0),
                ..tile
            };
            let raw = fetch(level0).map_err(ReadError::Source)?;
            if parse_hashes(&raw, level0.width)? != leaves {
                return Err(mismatch());
            }
            out.push((level0, raw));
            (level0, leaves)
        }
        TileKind::Hashes(_) => {
            let hashes = parse_hashes(&bytes, tile.width)?;
            out.push((tile, bytes));
            (tile, hashes)
        }
    };
    // Climb while the tile is full: its subtree is one hash of the parent tile.
    while u64::from(current.width) == crate::tile::TILE_WIDTH {
        let TileKind::Hashes(level) = current.kind else {
            return Err(mismatch());
        };
        let top = crate::hash::complete_subtree(&hashes);
        let parent = tile_in_tree(TileKind::Hashes(level + 1), current.index / 256, size)
            .ok_or_else(mismatch)?;
        let raw = fetch(parent).map_err(ReadError::Source)?;
        let parent_hashes = parse_hashes(&raw, parent.width)?;
        if parent_hashes.get((current.index % 256) as usize) != Some(&top) {
            return Err(mismatch());
        }
        out.push((parent, raw));
        current = parent;
        hashes = parent_hashes;
    }
    // A partial tile is on the right edge: the right edge's tiles together give the root.
    let mut edge: HashMap<TileId, Vec<Hash>> = HashMap::new();
    edge.insert(current, hashes);
    for t in crate::tile::right_edge(size) {
        if t.kind == TileKind::Entries || edge.contains_key(&t) {
            continue;
        }
        let raw = fetch(t).map_err(ReadError::Source)?;
        edge.insert(t, parse_hashes(&raw, t.width)?);
        out.push((t, raw));
    }
    let got = proof::root(size, &mut |s: Subtree| -> Result<Hash, ReadError<E>> {
        let span = s.span(size).ok_or_else(mismatch)?;
        let hashes = edge.get(&span.tile).ok_or_else(mismatch)?;
        Ok(span.hash(hashes)?)
    })?;
    if got != *root {
        return Err(mismatch());
    }
    Ok(out)
}

/// The other tiles [`authenticate`] reads for `tile` in a tree of `size` entries (its level-0
/// tile for a bundle, the parents of full tiles, the right edge), so they can be fetched first.
#[must_use]
pub fn tiles_for_authentication(tile: TileId, size: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    let mut current = match tile.kind {
        TileKind::Entries => {
            let level0 = TileId {
                kind: TileKind::Hashes(0),
                ..tile
            };
            out.push(level0);
            level0
        }
        TileKind::Hashes(_) => tile,
    };
    while u64::from(current.width) == crate::tile::TILE_WIDTH {
        let TileKind::Hashes(level) = current.kind else {
            break;
        };
        let Some(parent) = tile_in_tree(TileKind::Hashes(level + 1), current.index / 256, size)
        else {
            break;
        };
        out.push(parent);
        current = parent;
    }
    for t in crate::tile::right_edge(size) {
        if t.kind != TileKind::Entries && t != tile && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}
