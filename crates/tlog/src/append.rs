//! Appending to a tiled log without I/O: the [`Appender`] holds the log's right edge (the partial
//! tiles at each level), takes entries, and says which tiles to write and what the new root is.

use crate::hash::{leaf_hash, Hash};
use crate::proof::{root, Subtree};
use crate::tile::{
    bundle_prefix, encode_bundle, encode_hashes, parse_bundle, parse_hashes, right_edge, TileError,
    TileId, TileKind, TILE_WIDTH,
};

/// A log's right edge: every tile an append may extend.
#[derive(Debug, Clone, Default)]
pub struct Appender {
    size: u64,
    entries: Vec<Vec<u8>>,
    levels: Vec<Vec<Hash>>,
}

impl Appender {
    /// The empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the right edge of a log of `size` entries from its partial tiles ([`right_edge`]),
    /// read by `read`. A stored tile may be wider than the tree needs (an append that wrote its
    /// tiles but not its checkpoint): only the prefix the tree names is taken.
    ///
    /// # Errors
    /// Whatever `read` returns, or [`TileError`] for a tile that is too short or malformed.
    pub fn load<E: From<TileError>>(
        size: u64,
        mut read: impl FnMut(TileId) -> Result<Vec<u8>, E>,
    ) -> Result<Self, E> {
        let mut out = Self {
            size,
            ..Self::default()
        };
        for tile in right_edge(size) {
            let bytes = read(tile)?;
            match tile.kind {
                TileKind::Entries => {
                    let prefix = bundle_prefix(&bytes, tile.width)?;
                    out.entries = parse_bundle(prefix, tile.width)?
                        .into_iter()
                        .map(<[u8]>::to_vec)
                        .collect();
                }
                TileKind::Hashes(l) => {
                    let want = usize::from(tile.width) * 32;
                    let prefix = bytes.get(..want).ok_or(TileError::BadLength {
                        width: tile.width,
                        got: bytes.len(),
                    })?;
                    let level = usize::from(l);
                    if out.levels.len() <= level {
                        out.levels.resize(level + 1, Vec::new());
                    }
                    out.levels[level] = parse_hashes(prefix, tile.width)?;
                }
            }
        }
        Ok(out)
    }

    /// Entries in the log.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The current root.
    #[must_use]
    pub fn root(&self) -> Hash {
        let size = self.size;
        let levels = &self.levels;
        root(size, &mut |s: Subtree| -> Result<Hash, TileError> {
            let span = s
                .span(size)
                .ok_or(TileError::BadBundle("not in the tree"))?;
            let TileKind::Hashes(l) = span.tile.kind else {
                return Err(TileError::BadBundle("not a hash tile"));
            };
            span.hash(levels.get(usize::from(l)).map_or(&[][..], Vec::as_slice))
        })
        // Every subtree of the right edge lies in a partial tile this appender holds.
        .unwrap_or_else(|_| crate::hash::empty_root())
    }

    /// Appends `entries` (each at most 65535 bytes); returns every tile they changed, with its
    /// final bytes: the tiles completed on the way (once each) and the new partial ones.
    ///
    /// # Errors
    /// [`TileError::BadBundle`] for an entry over 65535 bytes; then nothing changed.
    pub fn append(&mut self, entries: &[Vec<u8>]) -> Result<Vec<(TileId, Vec<u8>)>, TileError> {
        if entries.iter().any(|e| e.len() > usize::from(u16::MAX)) {
            return Err(TileError::BadBundle("entry over 65535 bytes"));
        }
        let mut out = Vec::new();
        let mut touched: Vec<bool> = vec![false; self.levels.len()];
        for entry in entries {
            self.entries.push(entry.clone());
            let index = self.size;
            self.size += 1;
            if self.entries.len() as u64 == TILE_WIDTH {
                let bundle = encode_bundle(self.entries.iter().map(Vec::as_slice))?;
                out.push((full(TileKind::Entries, index / TILE_WIDTH), bundle));
                self.entries.clear();
            }
            // Carry the new leaf hash up through every level whose tile it completes.
            let mut carry = Some(leaf_hash(entry));
            let mut level = 0usize;
            let mut position = index;
            while let Some(hash) = carry.take() {
                if self.levels.len() <= level {
                    self.levels.push(Vec::new());
                }
                if touched.len() <= level {
                    touched.push(false);
                }
                touched[level] = true;
                let tile = &mut self.levels[level];
                tile.push(hash);
                if tile.len() as u64 == TILE_WIDTH {
                    let top = crate::hash::complete_subtree(tile);
                    out.push((
                        full(TileKind::Hashes(level as u8), position / TILE_WIDTH),
                        encode_hashes(tile),
                    ));
                    tile.clear();
                    carry = Some(top);
                    position /= TILE_WIDTH;
                    level += 1;
                }
            }
        }
        if !entries.is_empty() && !self.entries.is_empty() {
            out.push((
                partial(TileKind::Entries, self.size, self.entries.len()),
                encode_bundle(self.entries.iter().map(Vec::as_slice))?,
            ));
        }
        for (level, tile) in self.levels.iter().enumerate() {
            if touched.get(level).copied().unwrap_or(false) && !tile.is_empty() {
                let kind = TileKind::Hashes(level as u8);
                out.push((partial(kind, self.size, tile.len()), encode_hashes(tile)));
            }
        }
        Ok(out)
    }
}

fn full(kind: TileKind, index: u64) -> TileId {
    TileId {
        kind,
        index,
        width: TILE_WIDTH as u16,
    }
}

fn partial(kind: TileKind, size: u64, width: usize) -> TileId {
    let count = crate::tile::count_at(kind, size);
    TileId {
        kind,
        index: count / TILE_WIDTH,
        width: width as u16,
    }
}
