//! Signed delta indexes: the binary deltas a publisher made for one volume version, from files of
//! its parent version (or renamed ones) to the version's files.
//!
//! A node that holds a delta's base fetches the delta instead of the file's missing chunks. The
//! index is signed, so the delta bytes can be checked against the hash it lists before they are
//! applied (and edges can verify what they cache); the patched result is then checked against the
//! target file's hash from the signed manifest.
//!
//! # Encoding
//! ```text
//! magic "TCDNDIX\n", u16 format 1, 32-byte version id, 32-byte parent version id,
//! u32 count, then per delta (sorted by target, then base, no duplicates):
//!   32-byte base file id, u64 base size, 32-byte target file id, u64 target size,
//!   32-byte BLAKE3 of the delta bytes, u64 delta size, u8 method, u64 chunk bytes it replaces,
//!   u64 CPU microseconds spent making it
//! u64 deltas computed but not kept, u64 CPU microseconds spent on those,
//! then u32 length and the bytes of a signature set over the BLAKE3 of everything before it
//! ```

use crate::encoding::{Reader, Writer};
use crate::sign::{KeyRing, SecretKey, SignatureSet};
use crate::{DecodeError, FileId, KeyId, SignatureError, VersionId};

const MAGIC: &[u8; 8] = b"TCDNDIX\n";
const FORMAT: u16 = 1;
const WHAT: &str = "delta index";
/// Signature context of delta indexes.
pub const DELTA_INDEX_CONTEXT: &str = "tinycdn delta index v1";
const ENTRY_BYTES: usize = 32 + 8 + 32 + 8 + 32 + 8 + 1 + 8 + 8;

/// One delta a publisher made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaEntry {
    /// The file it applies to.
    pub base: FileId,
    /// Its size.
    pub base_size: u64,
    /// The file it produces.
    pub target: FileId,
    /// Its size.
    pub target_size: u64,
    /// BLAKE3 of the delta's bytes.
    pub delta: FileId,
    /// Size of the delta's bytes.
    pub delta_size: u64,
    /// How it is encoded (the delta container's method code).
    pub method: u8,
    /// Bytes of the target's chunks that a node holding the parent version lacks: what the delta
    /// saves fetching.
    pub replaces: u64,
    /// CPU microseconds spent making it (every method tried).
    pub cpu_micros: u64,
}

/// The deltas made for one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaIndex {
    /// The version whose files the deltas produce.
    pub version: VersionId,
    /// The version whose files they start from.
    pub parent: VersionId,
    /// The deltas kept, sorted by target then base.
    pub entries: Vec<DeltaEntry>,
    /// Deltas computed but not kept (not clearly smaller than the missing chunks).
    pub rejected: u64,
    /// CPU microseconds spent on those.
    pub rejected_cpu_micros: u64,
}

impl DeltaIndex {
    fn body(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(MAGIC);
        w.u16(FORMAT);
        w.bytes(self.version.as_bytes());
        w.bytes(self.parent.as_bytes());
        w.u32(u32::try_from(self.entries.len()).unwrap_or(u32::MAX));
        for e in &self.entries {
            w.bytes(e.base.as_bytes());
            w.u64(e.base_size);
            w.bytes(e.target.as_bytes());
            w.u64(e.target_size);
            w.bytes(e.delta.as_bytes());
            w.u64(e.delta_size);
            w.u8(e.method);
            w.u64(e.replaces);
            w.u64(e.cpu_micros);
        }
        w.u64(self.rejected);
        w.u64(self.rejected_cpu_micros);
        w.finish()
    }

    /// Sorts the entries into canonical order and signs the index.
    #[must_use]
    pub fn sign(mut self, key: &SecretKey) -> SignedDeltaIndex {
        self.entries.sort_by_key(|e| (e.target, e.base));
        self.entries.dedup_by_key(|e| (e.target, e.base));
        let hash = *blake3::hash(&self.body()).as_bytes();
        SignedDeltaIndex {
            signatures: SignatureSet::single(key.sign(DELTA_INDEX_CONTEXT, &hash)),
            index: self,
        }
    }

    /// The deltas that produce `target`.
    pub fn to_target<'a>(
        &'a self,
        target: &'a FileId,
    ) -> impl Iterator<Item = &'a DeltaEntry> + 'a {
        let start = self.entries.partition_point(|e| e.target < *target);
        self.entries[start..]
            .iter()
            .take_while(move |e| e.target == *target)
    }
}

/// A delta index with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDeltaIndex {
    /// The index.
    pub index: DeltaIndex,
    /// Who vouches for it.
    pub signatures: SignatureSet,
}

impl SignedDeltaIndex {
    /// Canonical bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.signatures.appended_to(self.index.body())
    }

    /// Decodes canonical bytes (entries must be sorted and unique).
    ///
    /// # Errors
    /// What is wrong with the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(WHAT, bytes);
        r.header(MAGIC, FORMAT)?;
        let version = VersionId::from_bytes(r.array("version")?);
        let parent = VersionId::from_bytes(r.array("parent")?);
        let n = r.count("deltas", ENTRY_BYTES)?;
        let mut entries: Vec<DeltaEntry> = Vec::with_capacity(n);
        for _ in 0..n {
            let e = DeltaEntry {
                base: FileId::from_bytes(r.array("base")?),
                base_size: r.u64("base size")?,
                target: FileId::from_bytes(r.array("target")?),
                target_size: r.u64("target size")?,
                delta: FileId::from_bytes(r.array("delta hash")?),
                delta_size: r.u64("delta size")?,
                method: r.u8("method")?,
                replaces: r.u64("replaced bytes")?,
                cpu_micros: r.u64("cpu")?,
            };
            if entries
                .last()
                .is_some_and(|p| (p.target, p.base) >= (e.target, e.base))
            {
                return Err(r.invalid("deltas", "not sorted by target and base, or repeated"));
            }
            entries.push(e);
        }
        let rejected = r.u64("rejected")?;
        let rejected_cpu_micros = r.u64("rejected cpu")?;
        let signatures = SignatureSet::read_appended(&mut r)?;
        r.finish()?;
        Ok(Self {
            index: DeltaIndex {
                version,
                parent,
                entries,
                rejected,
                rejected_cpu_micros,
            },
            signatures,
        })
    }

    /// Adds `key`'s signature (co-signing, for thresholds above one).
    pub fn cosign(&mut self, key: &SecretKey) {
        let hash = *blake3::hash(&self.index.body()).as_bytes();
        self.signatures.add(key.sign(DELTA_INDEX_CONTEXT, &hash));
    }

    /// Checks that the ring's threshold of trusted keys signed this index.
    ///
    /// # Errors
    /// When too few trusted keys signed it or a signature does not verify.
    pub fn verify(&self, ring: &KeyRing) -> Result<Vec<KeyId>, SignatureError> {
        let hash = *blake3::hash(&self.index.body()).as_bytes();
        ring.verify(&self.signatures, DELTA_INDEX_CONTEXT, &hash, "delta index")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(t: u8, b: u8) -> DeltaEntry {
        DeltaEntry {
            base: FileId::of(&[b]),
            base_size: 10,
            target: FileId::of(&[t, 0]),
            target_size: 20,
            delta: FileId::of(&[t, b]),
            delta_size: 5,
            method: 3,
            replaces: 20,
            cpu_micros: 1234,
        }
    }

    fn index() -> DeltaIndex {
        DeltaIndex {
            version: VersionId::of(b"v2"),
            parent: VersionId::of(b"v1"),
            entries: vec![entry(2, 1), entry(1, 1), entry(1, 2), entry(1, 1)],
            rejected: 3,
            rejected_cpu_micros: 99,
        }
    }

    #[test]
    fn round_trips_sorted_and_verifies() {
        let key = SecretKey::from_seed([7; 32]);
        let signed = index().sign(&key);
        assert_eq!(signed.index.entries.len(), 3, "duplicates removed");
        let bytes = signed.to_bytes();
        let back = SignedDeltaIndex::from_bytes(&bytes).expect("decodes");
        assert_eq!(back, signed);
        let ring = |k: &SecretKey| KeyRing::new(vec![k.public()], 1);
        assert_eq!(back.verify(&ring(&key)), Ok(vec![key.public().id()]));
        let t = entry(1, 0).target;
        assert_eq!(back.index.to_target(&t).count(), 2);
        let other = SecretKey::from_seed([8; 32]);
        assert!(back.verify(&ring(&other)).is_err());
    }

    #[test]
    fn tampering_and_disorder_are_refused() {
        let key = SecretKey::from_seed([7; 32]);
        let signed = index().sign(&key);
        let bytes = signed.to_bytes();
        // A changed delta hash keeps the format valid but breaks the signature.
        let mut tampered = signed.clone();
        tampered.index.entries[0].delta = FileId::of(b"evil");
        let t = SignedDeltaIndex::from_bytes(&tampered.to_bytes()).expect("decodes");
        assert!(t.verify(&KeyRing::new(vec![key.public()], 1)).is_err());
        // Unsorted entries are not canonical.
        let mut unsorted = signed;
        unsorted.index.entries.swap(0, 1);
        assert!(SignedDeltaIndex::from_bytes(&unsorted.to_bytes()).is_err());
        assert!(SignedDeltaIndex::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(i) = SignedDeltaIndex::from_bytes(&data) {
                prop_assert_eq!(i.to_bytes(), data);
            }
        }
    }
}
