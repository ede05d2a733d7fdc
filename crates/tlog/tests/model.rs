//! The tiled log against a model: a naive RFC 6962 tree built from the same entries. Appends in
//! random batches, then the root, every tile, and proofs made from the tiles alone must agree
//! with the model; a tile with one flipped byte makes every proof through it fail.

use std::collections::HashMap;

use proptest::prelude::*;
use tinycdn_tlog::tile::{bundle_prefix, tiles_at, TileKind};
use tinycdn_tlog::{
    leaf_hash, node_hash, verify_consistency, verify_inclusion, Appender, Hash, TileHashes, TileId,
};

/// RFC 6962 §2.1 MTH, recursively.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => tinycdn_tlog::empty_root(),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// Tiles stored as a store keeps them: one object per tile number, the widest version.
#[derive(Default)]
struct Tiles(HashMap<(TileKind, u64), Vec<u8>>);

#[derive(Debug, thiserror::Error)]
#[error("missing tile {0}")]
struct Missing(String);

impl From<tinycdn_tlog::TileError> for Missing {
    fn from(e: tinycdn_tlog::TileError) -> Self {
        Self(e.to_string())
    }
}

impl Tiles {
    fn put(&mut self, id: TileId, bytes: Vec<u8>) {
        self.0.insert((id.kind, id.index), bytes);
    }
    fn get(&self, id: TileId) -> Result<Vec<u8>, Missing> {
        let stored = self.0.get(&(id.kind, id.index)).ok_or(Missing(id.path()))?;
        Ok(match id.kind {
            TileKind::Entries => bundle_prefix(stored, id.width)
                .map_err(|_| Missing(id.path()))?
                .to_vec(),
            TileKind::Hashes(_) => stored
                .get(..usize::from(id.width) * 32)
                .ok_or(Missing(id.path()))?
                .to_vec(),
        })
    }
}

fn entry(i: u64) -> Vec<u8> {
    format!("entry {i}").into_bytes()
}

fn build(batches: &[usize]) -> (Appender, Tiles, Vec<Hash>, Vec<(u64, Hash)>) {
    let (mut log, mut tiles, mut leaves, mut roots) =
        (Appender::new(), Tiles::default(), Vec::new(), Vec::new());
    for &n in batches {
        let start = log.size();
        let batch: Vec<Vec<u8>> = (start..start + n as u64).map(entry).collect();
        leaves.extend(batch.iter().map(|e| leaf_hash(e)));
        for (id, bytes) in log.append(&batch).expect("test") {
            tiles.put(id, bytes);
        }
        // Reload from the stored tiles as a restarted writer would.
        log = Appender::load(log.size(), |id| tiles.get(id)).expect("test");
        roots.push((log.size(), log.root()));
    }
    (log, tiles, leaves, roots)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn tiles_roots_and_proofs_match_the_model(batches in prop::collection::vec(0usize..700, 1..6)) {
        let (log, tiles, leaves, roots) = build(&batches);
        for &(size, root) in &roots {
            prop_assert_eq!(root, mth(&leaves[..size as usize]));
        }
        let size = log.size();
        let root = log.root();
        // Hash tiles hold exactly the model's subtree roots.
        for id in tiles_at(TileKind::Hashes(1), size) {
            let bytes = tiles.get(id).expect("test");
            for (i, h) in bytes.chunks(32).enumerate() {
                let first = ((id.index * 256 + i as u64) * 256) as usize;
                prop_assert_eq!(h, &mth(&leaves[first..first + 256]).0[..]);
            }
        }
        let mut reader = TileHashes::new(size, |id| tiles.get(id));
        if size > 0 {
            prop_assert_eq!(reader.root().expect("test"), root);
            for index in [0, size / 2, size - 1] {
                let proof = reader.inclusion(index).expect("test");
                let leaf = leaf_hash(&reader.entry(index).expect("test"));
                prop_assert_eq!(leaf, leaves[index as usize]);
                prop_assert!(verify_inclusion(index, size, &leaf, &proof, &root).is_ok());
                // The proof of one leaf does not prove another.
                if size > 1 {
                    let other = leaves[((index + 1) % size) as usize];
                    prop_assert!(verify_inclusion(index, size, &other, &proof, &root).is_err());
                }
            }
        }
        for &(old, old_root) in &roots {
            if old == 0 {
                continue;
            }
            let proof = reader.consistency(old).expect("test");
            prop_assert!(verify_consistency(old, size, &old_root, &root, &proof).is_ok());
            if old < size {
                let wrong = leaf_hash(b"fork");
                prop_assert!(verify_consistency(old, size, &wrong, &root, &proof).is_err());
            }
        }
    }
}

#[test]
fn a_flipped_byte_in_a_tile_breaks_every_proof_through_it() {
    let (log, mut tiles, leaves, _) = build(&[1000, 37]);
    let (size, root) = (log.size(), log.root());
    let key = (TileKind::Hashes(0), 1);
    tiles.0.get_mut(&key).expect("test")[5] ^= 1;
    let mut reader = TileHashes::new(size, |id| tiles.get(id));
    // The root of 1037 entries reads level-1 hashes, not the damaged leaf tile 0/001...
    assert_eq!(reader.root().expect("test"), root);
    // ...but a leaf whose proof reads it no longer verifies, while one elsewhere still does...
    let proof = reader.inclusion(300).expect("test");
    assert!(verify_inclusion(300, size, &leaves[300], &proof, &root).is_err());
    let proof = reader.inclusion(700).expect("test");
    assert!(verify_inclusion(700, size, &leaves[700], &proof, &root).is_ok());
    // ...nor does the consistency proof from a tree whose edge lies in it (300 = 256+32+8+4).
    let proof = reader.consistency(300).expect("test");
    let old = mth(&leaves[..300]);
    assert!(verify_consistency(300, size, &old, &root, &proof).is_err());
}

#[test]
fn an_oversized_entry_changes_nothing() {
    let mut log = Appender::new();
    log.append(&[b"a".to_vec()]).expect("test");
    let root = log.root();
    assert!(log.append(&[b"b".to_vec(), vec![0; 70_000]]).is_err());
    assert_eq!((log.size(), log.root()), (1, root));
}

#[test]
fn tiles_authenticate_against_the_root_and_a_forged_one_does_not() {
    let (log, mut tiles, _, _) = build(&[256 * 256 + 700]);
    let (size, root) = (log.size(), log.root());
    let all: Vec<TileId> = [
        TileKind::Entries,
        TileKind::Hashes(0),
        TileKind::Hashes(1),
        TileKind::Hashes(2),
    ]
    .into_iter()
    .flat_map(|k| tiles_at(k, size))
    .collect();
    for &id in all.iter().step_by(37).chain(all.last()) {
        let bytes = tiles.get(id).expect("tile");
        let listed = tinycdn_tlog::reader::tiles_for_authentication(id, size);
        let ok = tinycdn_tlog::reader::authenticate(id, bytes, size, &root, |t| {
            assert!(listed.contains(&t), "unlisted tile {}", t.path());
            tiles.get(t)
        });
        assert!(ok.is_ok(), "{}: {:?}", id.path(), ok.err());
    }
    // The tiles a proof needs, listed up front, are the tiles it reads.
    let needed = tinycdn_tlog::reader::tiles_for_consistency(1000, size);
    let mut reader = TileHashes::new(size, |id| {
        assert!(needed.contains(&id), "unlisted tile {}", id.path());
        tiles.get(id)
    });
    reader.consistency(1000).expect("proof");
    // A forged level-0 tile, or an edited entry, is refused.
    let id = TileId {
        kind: TileKind::Hashes(0),
        index: 3,
        width: 256,
    };
    let mut forged = tiles.get(id).expect("tile");
    forged[0] ^= 1;
    assert!(tinycdn_tlog::reader::authenticate(id, forged, size, &root, |t| tiles.get(t)).is_err());
    let id = TileId {
        kind: TileKind::Entries,
        index: 3,
        width: 256,
    };
    let mut edited = tiles.get(id).expect("tile");
    edited[4] ^= 1;
    assert!(tinycdn_tlog::reader::authenticate(id, edited, size, &root, |t| tiles.get(t)).is_err());
    // A lying parent tile does not help.
    tiles.0.get_mut(&(TileKind::Hashes(1), 0)).expect("tile")[0] ^= 1;
    let id = TileId {
        kind: TileKind::Hashes(0),
        index: 0,
        width: 256,
    };
    let good = tiles.get(id).expect("tile");
    assert!(tinycdn_tlog::reader::authenticate(id, good, size, &root, |t| tiles.get(t)).is_err());
}
