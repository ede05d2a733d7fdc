//! Merkle tree hashes and proofs (RFC 9162 §2.1): the root of a tree of any size, inclusion proofs
//! (a leaf is in a tree) and consistency proofs (a tree extends an older one), generated from
//! complete subtrees the caller looks up and verified against roots alone.
//!
//! Generation never sees leaves: every range it needs is split into aligned complete subtrees
//! ([`Subtree`]), which a tiled log reads from one tile each.

use crate::hash::{empty_root, node_hash, Hash};

/// A complete subtree: the `2^level` leaves starting at leaf `index << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Subtree {
    /// Height above the leaves (0: one leaf).
    pub level: u8,
    /// Position among the subtrees of that height.
    pub index: u64,
}

/// Why a proof was refused or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The sizes or the index do not describe a provable pair.
    #[error("nothing to prove: {0}")]
    BadRequest(&'static str),
    /// The proof has more or fewer hashes than the sizes require.
    #[error("the proof has {got} hashes; these sizes need {want}")]
    WrongLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes the sizes require.
        want: usize,
    },
    /// The proof does not lead to the expected root.
    #[error("the proof does not lead to the expected root")]
    Mismatch,
}

/// The hash of leaves `lo..hi`, where `lo` is a multiple of the smallest power of two not below
/// `hi - lo` (every range the RFC's recursions visit is), from its aligned complete subtrees.
///
/// # Errors
/// Whatever `nodes` returns.
pub fn range_hash<E>(
    lo: u64,
    hi: u64,
    nodes: &mut impl FnMut(Subtree) -> Result<Hash, E>,
) -> Result<Hash, E> {
    let mut parts = Vec::new();
    let (mut at, mut left) = (lo, hi.saturating_sub(lo));
    while left > 0 {
        let level = 63 - left.leading_zeros();
        let span = 1u64 << level;
        parts.push(nodes(Subtree {
            level: level as u8,
            index: at >> level,
        })?);
        at += span;
        left -= span;
    }
    let Some(mut acc) = parts.pop() else {
        return Ok(empty_root());
    };
    while let Some(left) = parts.pop() {
        acc = node_hash(&left, &acc);
    }
    Ok(acc)
}

/// The root of a tree of `size` leaves.
///
/// # Errors
/// Whatever `nodes` returns.
pub fn root<E>(size: u64, nodes: &mut impl FnMut(Subtree) -> Result<Hash, E>) -> Result<Hash, E> {
    range_hash(0, size, nodes)
}

/// The largest power of two below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The audit path of leaf `index` in a tree of `size` leaves (RFC 9162 §2.1.3.1), leaf side first.
///
/// # Errors
/// [`ProofError::BadRequest`] when `index >= size`, else whatever `nodes` returns.
pub fn inclusion_proof<E: From<ProofError>>(
    index: u64,
    size: u64,
    nodes: &mut impl FnMut(Subtree) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    if index >= size {
        return Err(ProofError::BadRequest("the leaf index is not below the tree size").into());
    }
    let mut path = Vec::new();
    let (mut lo, mut hi, mut m) = (0u64, size, index);
    // Walk down from the root, collecting siblings root side first, then reverse.
    while hi - lo > 1 {
        let k = split(hi - lo);
        if m < k {
            path.push(range_hash(lo + k, hi, nodes)?);
            hi = lo + k;
        } else {
            path.push(range_hash(lo, lo + k, nodes)?);
            lo += k;
            m -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The proof that a tree of `new_size` leaves extends the one of `old_size` (RFC 9162 §2.1.4.1).
///
/// # Errors
/// [`ProofError::BadRequest`] unless `0 < old_size <= new_size`, else whatever `nodes` returns.
pub fn consistency_proof<E: From<ProofError>>(
    old_size: u64,
    new_size: u64,
    nodes: &mut impl FnMut(Subtree) -> Result<Hash, E>,
) -> Result<Vec<Hash>, E> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::BadRequest("consistency needs 0 < old size <= new size").into());
    }
    let mut proof = Vec::new();
    if old_size == new_size {
        return Ok(proof);
    }
    let (mut lo, mut hi, mut m, mut whole) = (0u64, new_size, old_size, true);
    loop {
        let n = hi - lo;
        if m == n {
            if !whole {
                proof.push(range_hash(lo, hi, nodes)?);
            }
            break;
        }
        let k = split(n);
        if m <= k {
            proof.push(range_hash(lo + k, hi, nodes)?);
            hi = lo + k;
        } else {
            proof.push(range_hash(lo, lo + k, nodes)?);
            lo += k;
            m -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`
/// (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`ProofError`] saying why not.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::BadRequest(
            "the leaf index is not below the tree size",
        ));
    }
    let want = inclusion_len(index, size);
    if proof.len() != want {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    let (mut fnode, mut snode, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if snode == 0 {
            return Err(ProofError::Mismatch);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode == 0 && r == *root {
        Ok(())
    } else {
        Err(ProofError::Mismatch)
    }
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends the one of `old_size`
/// leaves with root `old_root` (RFC 9162 §2.1.4.2). Equal sizes need an empty proof and equal
/// roots; a proof from the empty tree proves nothing and is refused.
///
/// # Errors
/// [`ProofError`] saying why not.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::BadRequest(
            "the old tree is larger than the new",
        ));
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                want: 0,
            });
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Mismatch)
        };
    }
    if old_size == 0 {
        return Err(ProofError::BadRequest(
            "a consistency proof from the empty tree proves nothing",
        ));
    }
    let want = consistency_len(old_size, new_size);
    if proof.len() != want {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return Err(ProofError::Mismatch);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode == 0 && fr == *old_root && sr == *new_root {
        Ok(())
    } else {
        Err(ProofError::Mismatch)
    }
}

/// Hashes in an inclusion proof of leaf `index` in a tree of `size` leaves.
#[must_use]
pub fn inclusion_len(index: u64, size: u64) -> usize {
    let (mut lo, mut hi, mut m, mut n) = (0u64, size, index, 0usize);
    while hi - lo > 1 {
        let k = split(hi - lo);
        if m < k {
            hi = lo + k;
        } else {
            lo += k;
            m -= k;
        }
        n += 1;
    }
    n
}

/// Hashes in a consistency proof from `old_size` to `new_size` (`0 < old_size < new_size`).
#[must_use]
pub fn consistency_len(old_size: u64, new_size: u64) -> usize {
    let (mut lo, mut hi, mut m, mut whole, mut n) = (0u64, new_size, old_size, true, 0usize);
    loop {
        let size = hi - lo;
        if m == size {
            return n + usize::from(!whole);
        }
        let k = split(size);
        if m <= k {
            hi = lo + k;
        } else {
            lo += k;
            m -= k;
            whole = false;
        }
        n += 1;
    }
}
