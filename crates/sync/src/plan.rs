//! Which bytes of a file come from where: the local store's chunks, or a mirror.

use std::collections::HashMap;

use tinycdn_core::delta_index::DeltaEntry;
use tinycdn_core::manifest::FileContent;
use tinycdn_core::{ChunkId, FileId};

/// Where a chunk the store already holds lives: a range of one of its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalChunk {
    /// The object.
    pub object: FileId,
    /// Whether it is the executable copy.
    pub exec: bool,
    /// Offset of the chunk in it.
    pub offset: u64,
}

/// One piece of a file being rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// A chunk the store holds.
    Local {
        /// The chunk.
        id: ChunkId,
        /// Its length.
        len: u32,
        /// Where it is.
        at: LocalChunk,
    },
    /// A chunk an earlier, interrupted pull already fetched, verified and staged.
    Staged {
        /// The chunk.
        id: ChunkId,
        /// Its length.
        len: u32,
    },
    /// A chunk to fetch.
    Remote {
        /// The chunk.
        id: ChunkId,
        /// Its length.
        len: u32,
        /// Its offset in the target file.
        offset: u64,
    },
}

/// Splits `file` into pieces, local where `index` knows the chunk.
#[must_use]
pub fn pieces(file: &FileContent, index: &HashMap<ChunkId, LocalChunk>) -> Vec<Piece> {
    file.chunk_offsets()
        .map(|(offset, c)| match index.get(&c.id) {
            Some(at) => Piece::Local {
                id: c.id,
                len: c.len,
                at: *at,
            },
            None => Piece::Remote {
                id: c.id,
                len: c.len,
                offset,
            },
        })
        .collect()
}

/// Adjacent remote chunks fetched with one range request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The chunks and their lengths, in order.
    pub chunks: Vec<(ChunkId, u32)>,
    /// First byte in the target file.
    pub first: u64,
    /// Last byte (inclusive).
    pub last: u64,
}

/// Runs of adjacent remote chunks, each at most `max_bytes` (a run always holds at least one
/// chunk).
#[must_use]
pub fn runs(pieces: &[Piece], max_bytes: u64) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    let mut prev_end: Option<u64> = None;
    for p in pieces {
        let Piece::Remote { id, len, offset } = *p else {
            prev_end = None;
            continue;
        };
        let end = offset + u64::from(len) - 1;
        match out.last_mut() {
            Some(run) if prev_end == Some(offset) && end - run.first < max_bytes => {
                run.chunks.push((id, len));
                run.last = end;
            }
            _ => out.push(Run {
                chunks: vec![(id, len)],
                first: offset,
                last: end,
            }),
        }
        prev_end = Some(end + 1);
    }
    out
}

/// Bytes of `pieces` that must come from a mirror.
#[must_use]
pub fn remote_bytes(pieces: &[Piece]) -> u64 {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Remote { len, .. } => u64::from(*len),
            _ => 0,
        })
        .sum()
}

/// The delta to rebuild a file with, among the signed index's `candidates` producing it: the
/// smallest one smaller than the file's `remote` bytes whose base the store holds (`has_base`:
/// whether the store has that object, as the plain or the executable copy). Returns the delta
/// and whether its base is the executable copy; `None` leaves the file to its chunks.
pub fn choose_delta<'a>(
    candidates: impl IntoIterator<Item = &'a DeltaEntry>,
    remote: u64,
    mut has_base: impl FnMut(&FileId, bool, u64) -> bool,
) -> Option<(DeltaEntry, bool)> {
    let mut best: Option<(DeltaEntry, bool)> = None;
    for e in candidates {
        if e.delta_size >= remote || best.is_some_and(|(b, _)| b.delta_size <= e.delta_size) {
            continue;
        }
        if let Some(exec) = [false, true]
            .into_iter()
            .find(|&exec| has_base(&e.base, exec, e.base_size))
        {
            best = Some((*e, exec));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinycdn_core::manifest::ChunkRef;

    fn file(lens: &[u32]) -> FileContent {
        FileContent {
            size: lens.iter().map(|l| u64::from(*l)).sum(),
            media_type: "video/mp4".into(),
            hash: FileId::of(b"f"),
            chunks: lens
                .iter()
                .enumerate()
                .map(|(i, len)| ChunkRef {
                    id: ChunkId::of(&[u8::try_from(i).unwrap_or(0)]),
                    len: *len,
                })
                .collect(),
        }
    }

    #[test]
    fn adjacent_missing_chunks_merge_up_to_the_cap() {
        let f = file(&[10, 10, 10, 10, 10, 10]);
        let mut index = HashMap::new();
        index.insert(
            f.chunks[2].id,
            LocalChunk {
                object: FileId::of(b"old"),
                exec: false,
                offset: 0,
            },
        );
        let p = pieces(&f, &index);
        assert!(matches!(p[2], Piece::Local { .. }));
        let r = runs(&p, 1000);
        assert_eq!(r.len(), 2, "chunks 0-1 and 3-5");
        assert_eq!((r[0].first, r[0].last, r[0].chunks.len()), (0, 19, 2));
        assert_eq!((r[1].first, r[1].last, r[1].chunks.len()), (30, 59, 3));
        let capped = runs(&p, 15);
        assert_eq!(
            capped.len(),
            5,
            "a cap smaller than two chunks fetches them one by one"
        );
    }

    fn entry(base: u8, delta_size: u64) -> DeltaEntry {
        DeltaEntry {
            base: FileId::of(&[base]),
            base_size: 100,
            target: FileId::of(b"target"),
            target_size: 1000,
            delta: FileId::of(&[base, 1]),
            delta_size,
            method: 0,
            replaces: 1000,
            cpu_micros: 1,
        }
    }

    #[test]
    fn the_smallest_delta_whose_base_is_held_wins_if_smaller_than_the_chunks() {
        let (a, b, c) = (entry(1, 300), entry(2, 100), entry(3, 50));
        let held = |base: &FileId, exec: bool, _: u64| {
            (*base == a.base && !exec) || (*base == b.base && exec)
        };
        // `c` is smallest but its base is not held; `b`'s base is held as the executable copy.
        assert_eq!(choose_delta([&a, &b, &c], 1000, held), Some((b, true)));
        // Nothing smaller than the chunks it would replace.
        assert_eq!(choose_delta([&a, &b, &c], 100, held), None);
        assert_eq!(
            choose_delta([&a, &b], 1000, |_: &FileId, _: bool, _: u64| false),
            None
        );
        assert_eq!(remote_bytes(&[]), 0);
    }
}
