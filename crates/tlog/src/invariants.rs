//! Invariant checks for the log's parsers of untrusted input (checkpoints and their notes, tile
//! paths, entry bundles, proofs), shared by the `cargo fuzz` targets and the tests that replay
//! their corpora. Each accepts any bytes and panics only when a promise is broken.

use crate::checkpoint::{Checkpoint, LogSigner, LogVerifier};
use crate::hash::{leaf_hash, Hash};
use crate::proof::{verify_consistency, verify_inclusion};
use crate::tile::{bundle_prefix, encode_bundle, parse_bundle, TileId};

/// A checkpoint body parses back to what it writes; a note opens only if signed by the key.
///
/// # Panics
/// When parsing is not canonical, or a note not signed by the test key opens.
pub fn checkpoint(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = Checkpoint::parse(text) {
            assert_eq!(c.to_text(), text, "checkpoint parsing is not canonical");
        }
    }
    let Ok(signer) = LogSigner::new("fuzz.example/log", [9; 32]) else {
        return;
    };
    let Ok(verifier) = LogVerifier::new(&signer.verifier_key()) else {
        return;
    };
    if let Ok(c) = verifier.open(data) {
        // Only the signer's own notes open: re-signing gives back a note that opens the same.
        let again = signer
            .sign(&c)
            .expect("a checkpoint that opened can be signed");
        assert_eq!(verifier.open(&again).ok(), Some(c));
    }
}

/// A tile path parses back to itself.
///
/// # Panics
/// When parsing is not canonical.
pub fn tile_path(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(id) = TileId::parse(text) {
            assert_eq!(id.path(), text, "tile paths are not canonical");
        }
    }
}

/// A bundle of the width the first byte names parses to entries that encode back to it, and its
/// prefixes are bundles of their own widths.
///
/// # Panics
/// When parsing loses or invents bytes.
pub fn bundle(data: &[u8]) {
    let Some((&w, rest)) = data.split_first() else {
        return;
    };
    let width = u16::from(w).max(1);
    if let Ok(entries) = parse_bundle(rest, width) {
        let again = encode_bundle(entries.iter().copied()).expect("entries fit");
        assert_eq!(again, rest, "bundle parsing is not lossless");
        for k in 1..=width {
            let p = bundle_prefix(rest, k).expect("a prefix of a valid bundle");
            assert_eq!(
                parse_bundle(p, k).expect("prefix parses").as_slice(),
                &entries[..usize::from(k)]
            );
        }
    }
}

/// Proof verification never panics on hostile sizes, indexes or hashes, and never accepts a
/// proof for a tree the bytes did not describe.
///
/// # Panics
/// When a verifier panics or accepts a proof of a leaf under an unrelated root.
pub fn proof(data: &[u8]) {
    let word = |i: usize| -> u64 {
        let mut b = [0u8; 8];
        for (j, x) in b.iter_mut().enumerate() {
            *x = data.get(i * 8 + j).copied().unwrap_or(0);
        }
        u64::from_le_bytes(b)
    };
    let (a, b) = (word(0), word(1));
    let hashes: Vec<Hash> = data
        .get(16..)
        .unwrap_or_default()
        .chunks_exact(32)
        .filter_map(Hash::from_slice)
        .collect();
    let leaf = leaf_hash(data);
    // A root no proof can lead to without a SHA-256 collision: the leaf hash of "unrelated".
    let unrelated = leaf_hash(b"unrelated root");
    assert!(
        leaf == unrelated || verify_inclusion(a, b, &leaf, &hashes, &unrelated).is_err(),
        "an inclusion proof led to an unrelated root"
    );
    let _ = verify_consistency(a, b, &leaf, &unrelated, &hashes);
    let _ = verify_consistency(a % 1024, b % 1024, &leaf, &leaf, &hashes);
}
