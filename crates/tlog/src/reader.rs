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
