//! The C2SP tlog-tiles layout: a log's hashes are served as immutable tiles of up to 256 hashes,
//! its entries as bundles of up to 256 entries, under paths such as `tile/0/x001/234.p/17` and
//! `tile/entries/000`.
//!
//! A level-`L` tile `N` lists the hashes of the complete subtrees of height `8·L` numbered
//! `256·N ..` (level 0: leaf hashes). A partial tile (`.p/W`, `W < 256`) is a prefix of the full
//! tile it will become, so every path names bytes that never change.

use crate::hash::{complete_subtree, Hash};
use crate::proof::Subtree;

/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels a tile spans.
pub const TILE_HEIGHT: u8 = 8;
/// The deepest hash-tile level a 64-bit tree size can need.
const MAX_LEVEL: u8 = 63;

/// What a tile lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileKind {
    /// Hashes of subtrees of height `8·level`.
    Hashes(u8),
    /// An entry bundle: the entries themselves.
    Entries,
}

/// One tile: kind, number within its level, and width (1–256).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileId {
    /// Hashes at a level, or entries.
    pub kind: TileKind,
    /// The tile's number within its level.
    pub index: u64,
    /// How many hashes or entries it lists (256 for a full tile).
    pub width: u16,
}

/// Why a tile path or a tile's bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// Not a tile path of the C2SP layout.
    #[error("not a tile path: {0:?}")]
    BadPath(String),
    /// A hash tile whose length is not its width times 32.
    #[error("a hash tile of width {width} must be {} bytes, got {got}", usize::from(*width) * 32)]
    BadLength {
        /// The tile's width.
        width: u16,
        /// Bytes received.
        got: usize,
    },
    /// An entry bundle that does not hold exactly its width of well-formed entries.
    #[error("malformed entry bundle: {0}")]
    BadBundle(&'static str),
}

impl TileId {
    /// The tile's path below the log's prefix.
    #[must_use]
    pub fn path(&self) -> String {
        let level = match self.kind {
            TileKind::Hashes(l) => l.to_string(),
            TileKind::Entries => "entries".to_owned(),
        };
        let mut out = format!("tile/{level}/{}", encode_index(self.index));
        if u64::from(self.width) < TILE_WIDTH {
            out.push_str(&format!(".p/{}", self.width));
        }
        out
    }

    /// Parses a tile path (`tile/L/N[.p/W]` or `tile/entries/N[.p/W]`), strictly: no leading
    /// zeros but the three-digit groups, no empty or extra elements.
    ///
    /// # Errors
    /// [`TileError::BadPath`].
    pub fn parse(path: &str) -> Result<Self, TileError> {
        let bad = || TileError::BadPath(path.chars().take(120).collect());
        if path.len() > 120 {
            return Err(bad());
        }
        let mut parts: Vec<&str> = path.split('/').collect();
        if parts.len() < 3 || parts[0] != "tile" {
            return Err(bad());
        }
        let kind = match parts[1] {
            "entries" => TileKind::Entries,
            l => {
                let level = parse_decimal(l).ok_or_else(bad)?;
                if level > u64::from(MAX_LEVEL) {
                    return Err(bad());
                }
                TileKind::Hashes(level as u8)
            }
        };
        let mut width = TILE_WIDTH as u16;
        let last = parts.len() - 1;
        if let Some(stem) = parts[last - 1].strip_suffix(".p") {
            let w = parse_decimal(parts[last]).ok_or_else(bad)?;
            if w == 0 || w >= TILE_WIDTH || last < 3 {
                return Err(bad());
            }
            width = w as u16;
            parts[last - 1] = stem;
            parts.pop();
        }
        let index = decode_index(&parts[2..]).ok_or_else(bad)?;
        Ok(Self { kind, index, width })
    }
}

/// `N` as three-digit groups, all but the last prefixed with `x`: 1234067 → `x001/x234/067`.
fn encode_index(mut n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        groups.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

fn decode_index(groups: &[&str]) -> Option<u64> {
    let (last, rest) = groups.split_last()?;
    let mut n: u64 = 0;
    for (i, g) in rest.iter().enumerate() {
        let digits = g.strip_prefix('x')?;
        let v = three_digits(digits)?;
        // The leading group may not be zero: that would be a second spelling of the same N.
        if i == 0 && v == 0 {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(v)?;
    }
    n.checked_mul(1000)?.checked_add(three_digits(last)?)
}

fn three_digits(s: &str) -> Option<u64> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit())).then(|| {
        s.bytes()
            .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0'))
    })
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The tiles of a tree of `size` leaves at `kind`'s level, last one partial or not.
#[must_use]
pub fn tiles_at(kind: TileKind, size: u64) -> Vec<TileId> {
    let count = count_at(kind, size);
    (0..count.div_ceil(TILE_WIDTH))
        .map(|index| TileId {
            kind,
            index,
            width: (count - index * TILE_WIDTH).min(TILE_WIDTH) as u16,
        })
        .collect()
}

/// How many hashes (or entries) `kind`'s level holds in a tree of `size` leaves.
#[must_use]
pub fn count_at(kind: TileKind, size: u64) -> u64 {
    match kind {
        TileKind::Entries => size,
        TileKind::Hashes(l) => {
            let shift = u32::from(l) * u32::from(TILE_HEIGHT);
            size.checked_shr(shift).unwrap_or(0)
        }
    }
}

/// Tile `index` of `kind` as it is in a tree of `size` leaves (`None` if the tree has none).
#[must_use]
pub fn tile_in_tree(kind: TileKind, index: u64, size: u64) -> Option<TileId> {
    let count = count_at(kind, size);
    let start = index.checked_mul(TILE_WIDTH)?;
    (start < count).then(|| TileId {
        kind,
        index,
        width: (count - start).min(TILE_WIDTH) as u16,
    })
}

/// The partial tiles at the right edge of a tree of `size` leaves: what an appender must read
/// back to continue the log (entries first, then hash levels upwards).
#[must_use]
pub fn right_edge(size: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    let mut push = |kind| {
        let count = count_at(kind, size);
        if count % TILE_WIDTH != 0 {
            out.push(TileId {
                kind,
                index: count / TILE_WIDTH,
                width: (count % TILE_WIDTH) as u16,
            });
        }
    };
    push(TileKind::Entries);
    for l in 0..=MAX_LEVEL {
        if count_at(TileKind::Hashes(l), size) == 0 {
            break;
        }
        push(TileKind::Hashes(l));
    }
    out
}

/// Where a complete subtree's hash comes from: the hash tile of a tree of `size` leaves, and the
/// run of `count` hashes in it at `offset` whose complete subtree it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileSpan {
    /// The tile (its width as in the tree of that size).
    pub tile: TileId,
    /// First hash of the run within the tile.
    pub offset: usize,
    /// Hashes in the run (a power of two, at most 128).
    pub count: usize,
}

impl Subtree {
    /// The tile span holding this subtree in a tree of `size` leaves; `None` when the subtree is
    /// not complete in that tree.
    #[must_use]
    pub fn span(&self, size: u64) -> Option<TileSpan> {
        let level = self.level / TILE_HEIGHT;
        let rest = u32::from(self.level % TILE_HEIGHT);
        let first = self.index.checked_shl(rest)?;
        if first >> rest != self.index {
            return None;
        }
        let count = 1u64 << rest;
        let kind = TileKind::Hashes(level);
        if first.checked_add(count)? > count_at(kind, size) {
            return None;
        }
        let tile = tile_in_tree(kind, first / TILE_WIDTH, size)?;
        Some(TileSpan {
            tile,
            offset: (first % TILE_WIDTH) as usize,
            count: count as usize,
        })
    }
}

impl TileSpan {
    /// The subtree's hash from the tile's hashes.
    ///
    /// # Errors
    /// [`TileError::BadLength`] when the tile is narrower than the span.
    pub fn hash(&self, tile: &[Hash]) -> Result<Hash, TileError> {
        tile.get(self.offset..self.offset + self.count)
            .map(complete_subtree)
            .ok_or(TileError::BadLength {
                width: self.tile.width,
                got: tile.len() * 32,
            })
    }
}

/// Splits a hash tile's bytes into its `width` hashes.
///
/// # Errors
/// [`TileError::BadLength`] unless the bytes are exactly `width` hashes.
pub fn parse_hashes(bytes: &[u8], width: u16) -> Result<Vec<Hash>, TileError> {
    if bytes.len() != usize::from(width) * 32 {
        return Err(TileError::BadLength {
            width,
            got: bytes.len(),
        });
    }
    Ok(bytes
        .chunks_exact(32)
        .filter_map(Hash::from_slice)
        .collect())
}

/// A hash tile's bytes.
#[must_use]
pub fn encode_hashes(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

/// An entry bundle: each entry as a big-endian u16 length and its bytes.
///
/// # Errors
/// [`TileError::BadBundle`] for an entry over 65535 bytes.
pub fn encode_bundle<'a>(
    entries: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::new();
    for e in entries {
        let len =
            u16::try_from(e.len()).map_err(|_| TileError::BadBundle("entry over 65535 bytes"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Splits an entry bundle into exactly `width` entries.
///
/// # Errors
/// [`TileError::BadBundle`] for a truncated bundle, trailing bytes or the wrong count.
pub fn parse_bundle(bytes: &[u8], width: u16) -> Result<Vec<&[u8]>, TileError> {
    let mut out = Vec::with_capacity(usize::from(width));
    let mut rest = bytes;
    while !rest.is_empty() {
        if out.len() == usize::from(width) {
            return Err(TileError::BadBundle("more entries than the tile's width"));
        }
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or(TileError::BadBundle("truncated length"))?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(TileError::BadBundle("truncated entry"));
        }
        out.push(&tail[..len]);
        rest = &tail[len..];
    }
    if out.len() != usize::from(width) {
        return Err(TileError::BadBundle("fewer entries than the tile's width"));
    }
    Ok(out)
}

/// The first `width` entries' bytes of a (possibly wider) bundle: the partial tile an older tree
/// names, cut from the current one.
///
/// # Errors
/// [`TileError::BadBundle`] if the bundle is malformed or narrower.
pub fn bundle_prefix(bytes: &[u8], width: u16) -> Result<&[u8], TileError> {
    let mut at = 0usize;
    for _ in 0..width {
        let len = bytes
            .get(at..at + 2)
            .ok_or(TileError::BadBundle("narrower than asked"))?;
        at += 2 + usize::from(u16::from_be_bytes([len[0], len[1]]));
        if at > bytes.len() {
            return Err(TileError::BadBundle("truncated entry"));
        }
    }
    Ok(&bytes[..at])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_c2sp() {
        let t = |kind, index, width| TileId { kind, index, width };
        assert_eq!(t(TileKind::Hashes(0), 0, 256).path(), "tile/0/000");
        assert_eq!(
            t(TileKind::Hashes(1), 1_234_067, 17).path(),
            "tile/1/x001/x234/067.p/17"
        );
        assert_eq!(t(TileKind::Entries, 5, 3).path(), "tile/entries/005.p/3");
        for id in [
            t(TileKind::Hashes(0), 0, 256),
            t(TileKind::Hashes(2), 1000, 1),
            t(TileKind::Entries, u64::MAX, 255),
        ] {
            assert_eq!(TileId::parse(&id.path()), Ok(id));
        }
    }

    #[test]
    fn hostile_paths_are_refused() {
        for p in [
            "tile/0/0",
            "tile/0/0000",
            "tile/00/000",
            "tile/64/000",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/",
            "tile/0/x000/001",
            "tile/0/001/x002",
            "tile/0/000/",
            "tiles/0/000",
            "tile/0",
            "tile/-1/000",
            "tile/0/x019/x000/x000/x000/x000/x000/x000/000",
            "tile/0/.p/3",
            "tile/entries/000.p/03",
        ] {
            assert!(TileId::parse(p).is_err(), "{p}");
        }
    }

    #[test]
    fn bundles_round_trip_and_reject_damage() {
        let entries: Vec<&[u8]> = vec![b"a", b"", b"hello"];
        let b = encode_bundle(entries.iter().copied()).expect("test");
        assert_eq!(parse_bundle(&b, 3).expect("test"), entries);
        assert!(parse_bundle(&b, 2).is_err());
        assert!(parse_bundle(&b, 4).is_err());
        assert!(parse_bundle(&b[..b.len() - 1], 3).is_err());
        assert_eq!(bundle_prefix(&b, 2).expect("test"), &b[..5]);
        assert!(bundle_prefix(&b, 4).is_err());
    }

    #[test]
    fn right_edge_and_spans() {
        assert!(right_edge(0).is_empty());
        // A full level-1 tile leaves one hash at level 2.
        assert_eq!(
            right_edge(256 * 256)
                .iter()
                .map(TileId::path)
                .collect::<Vec<_>>(),
            ["tile/2/000.p/1"]
        );
        let edge = right_edge(256 * 256 + 300);
        assert_eq!(
            edge.iter().map(TileId::path).collect::<Vec<_>>(),
            [
                "tile/entries/257.p/44",
                "tile/0/257.p/44",
                "tile/1/001.p/1",
                "tile/2/000.p/1"
            ]
        );
        let s = Subtree { level: 9, index: 3 };
        let span = s.span(1 << 12).expect("test");
        assert_eq!(
            (span.tile.path(), span.offset, span.count),
            ("tile/1/000.p/16".into(), 6, 2)
        );
        assert!(Subtree { level: 9, index: 8 }.span(1 << 12).is_none());
    }
}
