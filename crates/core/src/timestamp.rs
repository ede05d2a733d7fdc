//! Timestamps, after TUF's timestamp role: a small record, signed often by an online key and
//! valid for a short while, that names the newest snapshot by version, length and BLAKE3.
//!
//! A node fetches the timestamp first, then the snapshot it names — reading no more than the
//! length it declares (*endless data*) and accepting only the bytes that hash to it — then the
//! tags the snapshot lists. Because the timestamp expires soon (a day by default), a mirror that
//! stops updating is noticed within that day (*freeze*), while the snapshot key, which signs
//! every tag change, can stay offline longer. Versions only grow, and nodes pin the newest they
//! saw (*rollback*).
//!
//! # Encoding
//! ```text
//! magic "TCDNTIME", u16 format 1, u64 version, i64 expires (Unix seconds),
//! u64 snapshot version, u64 snapshot length, 32-byte BLAKE3 of the signed snapshot's bytes,
//! then u32 length and a signature set over the BLAKE3 of everything before it
//! ```

use crate::encoding::{Reader, Writer};
use crate::sign::{KeyRing, SecretKey, SignatureSet};
use crate::snapshot::SignedSnapshot;
use crate::{DecodeError, FileId, KeyId, SignatureError};

const MAGIC: &[u8; 8] = b"TCDNTIME";
const FORMAT: u16 = 1;
const WHAT: &str = "timestamp";
/// Signature context of timestamps.
pub const TIMESTAMP_CONTEXT: &str = "tinycdn timestamp v1";

/// Which snapshot is the newest, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timestamp {
    /// Grows with every new timestamp.
    pub version: u64,
    /// After this (Unix seconds) the timestamp is not used.
    pub expires: i64,
    /// The snapshot's version.
    pub snapshot_version: u64,
    /// The length of the signed snapshot's bytes.
    pub snapshot_length: u64,
    /// The BLAKE3 of the signed snapshot's bytes.
    pub snapshot_hash: FileId,
}

/// Why a snapshot is not the one a timestamp names.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MismatchError {
    /// Other bytes than the ones the timestamp names (a mixed or tampered snapshot).
    #[error("snapshot bytes ({length} bytes) are not the snapshot version {version} the timestamp names ({expected} bytes, BLAKE3 {hash})")]
    Bytes {
        /// The version the timestamp names.
        version: u64,
        /// Its declared length.
        expected: u64,
        /// Its declared hash (short form).
        hash: String,
        /// The length offered.
        length: u64,
    },
}

/// Why a node does not use a timestamp.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FreshnessError {
    /// Not signed by the timestamp role's threshold.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Expired: whoever serves it is frozen, or the publisher stopped re-signing.
    #[error("the newest timestamp offered (version {version}) expired at {at} (Unix seconds): the mirror is frozen, or the publisher must run `tinycdn timestamp`")]
    Expired {
        /// The timestamp's version.
        version: u64,
        /// When it expired.
        at: i64,
    },
    /// The snapshot offered is not the one the timestamp names.
    #[error(transparent)]
    Mismatch(#[from] MismatchError),
    /// The named snapshot does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The named snapshot has expired.
    #[error("the newest snapshot (version {version}) expired at {at} (Unix seconds): the publisher must run `tinycdn snapshot`")]
    SnapshotExpired {
        /// The snapshot's version.
        version: u64,
        /// When it expired.
        at: i64,
    },
    /// Older than what the node has seen (a rollback).
    #[error("a mirror offers timestamp version {offered} (snapshot version {offered_snapshot}) but this node has seen version {seen} (snapshot version {seen_snapshot})")]
    Rollback {
        /// The version offered.
        offered: u64,
        /// The snapshot version it names.
        offered_snapshot: u64,
        /// The newest timestamp version seen.
        seen: u64,
        /// The newest snapshot version seen.
        seen_snapshot: u64,
    },
}

impl Timestamp {
    /// A timestamp naming `snapshot`.
    #[must_use]
    pub fn naming(version: u64, expires: i64, snapshot: &SignedSnapshot) -> Self {
        let bytes = snapshot.to_bytes();
        Self {
            version,
            expires,
            snapshot_version: snapshot.snapshot.version,
            snapshot_length: bytes.len() as u64,
            snapshot_hash: FileId::of(&bytes),
        }
    }

    fn body(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(MAGIC);
        w.u16(FORMAT);
        w.u64(self.version);
        w.i64(self.expires);
        w.u64(self.snapshot_version);
        w.u64(self.snapshot_length);
        w.bytes(self.snapshot_hash.as_bytes());
        w.finish()
    }

    /// Signs the timestamp.
    #[must_use]
    pub fn sign(self, key: &SecretKey) -> SignedTimestamp {
        let hash = *blake3::hash(&self.body()).as_bytes();
        SignedTimestamp {
            signatures: SignatureSet::single(key.sign(TIMESTAMP_CONTEXT, &hash)),
            timestamp: self,
        }
    }

    /// Whether the timestamp has expired at `now` (Unix seconds).
    #[must_use]
    pub fn expired(&self, now: i64) -> bool {
        now >= self.expires
    }

    /// Opens the snapshot this timestamp names from the bytes as fetched: exactly those bytes
    /// (length and BLAKE3), signed by `ring`'s threshold, and unexpired at `now`.
    ///
    /// # Errors
    /// [`FreshnessError`].
    pub fn open_snapshot(
        &self,
        bytes: &[u8],
        ring: &KeyRing,
        now: i64,
    ) -> Result<SignedSnapshot, FreshnessError> {
        self.check_snapshot(bytes)?;
        let s = SignedSnapshot::from_bytes(bytes)?;
        s.verify(ring)?;
        if s.snapshot.version != self.snapshot_version {
            return Err(MismatchError::Bytes {
                version: self.snapshot_version,
                expected: self.snapshot_length,
                hash: self.snapshot_hash.short(),
                length: bytes.len() as u64,
            }
            .into());
        }
        if s.snapshot.expired(now) {
            return Err(FreshnessError::SnapshotExpired {
                version: s.snapshot.version,
                at: s.snapshot.expires,
            });
        }
        Ok(s)
    }

    /// Checks that `snapshot` (the bytes as fetched) is exactly the snapshot this names.
    ///
    /// # Errors
    /// [`MismatchError::Bytes`].
    pub fn check_snapshot(&self, snapshot: &[u8]) -> Result<(), MismatchError> {
        if snapshot.len() as u64 == self.snapshot_length
            && FileId::of(snapshot) == self.snapshot_hash
        {
            return Ok(());
        }
        Err(MismatchError::Bytes {
            version: self.snapshot_version,
            expected: self.snapshot_length,
            hash: self.snapshot_hash.short(),
            length: snapshot.len() as u64,
        })
    }
}

/// A timestamp with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTimestamp {
    /// The timestamp.
    pub timestamp: Timestamp,
    /// Who signed it.
    pub signatures: SignatureSet,
}

impl SignedTimestamp {
    /// Canonical bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.signatures.appended_to(self.timestamp.body())
    }

    /// Decodes canonical bytes (signatures not checked).
    ///
    /// # Errors
    /// What is wrong with the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(WHAT, bytes);
        r.header(MAGIC, FORMAT)?;
        let timestamp = Timestamp {
            version: r.u64("version")?,
            expires: r.i64("expires")?,
            snapshot_version: r.u64("snapshot version")?,
            snapshot_length: r.u64("snapshot length")?,
            snapshot_hash: FileId::from_bytes(r.array("snapshot hash")?),
        };
        let signatures = SignatureSet::read_appended(&mut r)?;
        r.finish()?;
        Ok(Self {
            timestamp,
            signatures,
        })
    }

    /// Whether a node that has seen timestamp version `seen.0` and snapshot version `seen.1` may
    /// use this timestamp at `now`: signed by `ring`'s threshold, unexpired, and no older.
    ///
    /// # Errors
    /// [`FreshnessError`].
    pub fn check(&self, ring: &KeyRing, now: i64, seen: (u64, u64)) -> Result<(), FreshnessError> {
        self.verify(ring)?;
        let t = &self.timestamp;
        if t.version < seen.0 || t.snapshot_version < seen.1 {
            return Err(FreshnessError::Rollback {
                offered: t.version,
                offered_snapshot: t.snapshot_version,
                seen: seen.0,
                seen_snapshot: seen.1,
            });
        }
        if t.expired(now) {
            return Err(FreshnessError::Expired {
                version: t.version,
                at: t.expires,
            });
        }
        Ok(())
    }

    /// Checks that the ring's threshold signed this timestamp.
    ///
    /// # Errors
    /// When too few trusted keys signed it or a signature does not verify.
    pub fn verify(&self, ring: &KeyRing) -> Result<Vec<KeyId>, SignatureError> {
        let hash = *blake3::hash(&self.timestamp.body()).as_bytes();
        ring.verify(&self.signatures, TIMESTAMP_CONTEXT, &hash, "timestamp")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Snapshot;
    use proptest::prelude::*;

    #[test]
    fn names_exactly_one_snapshot_and_verifies() {
        let key = SecretKey::from_seed([7; 32]);
        let snap = |v| {
            Snapshot {
                version: v,
                expires: 100,
                tags: vec![],
            }
            .sign(&key)
        };
        let (s1, s2) = (snap(1), snap(2));
        let t = Timestamp::naming(4, 50, &s2).sign(&key);
        let back = SignedTimestamp::from_bytes(&t.to_bytes()).expect("decodes");
        assert_eq!(back, t);
        assert_eq!(back.timestamp.snapshot_version, 2);
        back.verify(&KeyRing::new(vec![key.public()], 1))
            .expect("signed");
        assert!(back
            .verify(&KeyRing::new(
                vec![SecretKey::from_seed([8; 32]).public()],
                1
            ))
            .is_err());
        back.timestamp
            .check_snapshot(&s2.to_bytes())
            .expect("the named snapshot");
        let err = back
            .timestamp
            .check_snapshot(&s1.to_bytes())
            .expect_err("an older snapshot");
        assert!(err.to_string().contains("version 2"), "{err}");
        let ring = KeyRing::new(vec![key.public()], 1);
        let opened = back
            .timestamp
            .open_snapshot(&s2.to_bytes(), &ring, 99)
            .expect("opens");
        assert_eq!(opened, s2);
        assert!(matches!(
            back.timestamp.open_snapshot(&s2.to_bytes(), &ring, 100),
            Err(FreshnessError::SnapshotExpired { version: 2, .. })
        ));
        let mut longer = s2.to_bytes();
        longer.push(0);
        assert!(back.timestamp.check_snapshot(&longer).is_err());
        assert!(back.timestamp.expired(50) && !back.timestamp.expired(49));
        let ring = KeyRing::new(vec![key.public()], 1);
        back.check(&ring, 49, (4, 2)).expect("usable");
        assert!(matches!(
            back.check(&ring, 50, (0, 0)),
            Err(FreshnessError::Expired { version: 4, at: 50 })
        ));
        assert!(matches!(
            back.check(&ring, 0, (5, 0)),
            Err(FreshnessError::Rollback { seen: 5, .. })
        ));
        assert!(matches!(
            back.check(&ring, 0, (0, 3)),
            Err(FreshnessError::Rollback {
                seen_snapshot: 3,
                ..
            })
        ));
        let mut tampered = back;
        tampered.timestamp.expires = i64::MAX;
        assert!(tampered
            .verify(&KeyRing::new(vec![key.public()], 1))
            .is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(t) = SignedTimestamp::from_bytes(&data) {
                prop_assert_eq!(t.to_bytes(), data);
            }
        }
    }
}
