//! Snapshots, after TUF's snapshot role: one signed record
//! of every current tag of a store — by volume and tag, the BLAKE3 of the tag record (without its
//! signatures, so co-signing does not change it) and its version number — with a version that only
//! grows and an expiry.
//!
//! A node that trusts a root accepts a tag only when the newest snapshot — the one the current
//! [`crate::timestamp`] names — lists exactly that tag record. That stops *mix-and-match* (tags
//! from different moments combined), *freeze* (an old, validly signed state served forever: the
//! snapshot and its timestamp expire) and, with the versions the node pins, *rollback* of the
//! whole state.
//!
//! # Encoding
//! ```text
//! magic "TCDNSNAP", u16 format 1, u64 version, i64 expires (Unix seconds), u32 count, then per tag
//! (sorted by volume, then tag; no repeats): str volume, str tag, u64 number, 32-byte BLAKE3 of the
//! tag record; then u32 length and a signature set over the BLAKE3 of everything before it
//! ```

use crate::encoding::{Reader, Writer};
use crate::names::{TagName, VolumeName};
use crate::sign::{KeyRing, SecretKey, SignatureSet};
use crate::{DecodeError, FileId, KeyId, SignatureError};

const MAGIC: &[u8; 8] = b"TCDNSNAP";
const FORMAT: u16 = 1;
const WHAT: &str = "snapshot";
/// Signature context of snapshots.
pub const SNAPSHOT_CONTEXT: &str = "tinycdn snapshot v1";

/// One current tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPin {
    /// The volume.
    pub volume: VolumeName,
    /// The tag.
    pub tag: TagName,
    /// The version number the tag names.
    pub number: u64,
    /// [`crate::tag::SignedTag::record_hash`] of the tag.
    pub hash: FileId,
}

/// Every current tag, at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Grows with every new snapshot.
    pub version: u64,
    /// After this (Unix seconds) the snapshot is not used.
    pub expires: i64,
    /// The tags, sorted by volume then tag.
    pub tags: Vec<TagPin>,
}

impl Snapshot {
    fn body(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(MAGIC);
        w.u16(FORMAT);
        w.u64(self.version);
        w.i64(self.expires);
        w.u32(u32::try_from(self.tags.len()).unwrap_or(u32::MAX));
        for t in &self.tags {
            w.str16(t.volume.as_str());
            w.str16(t.tag.as_str());
            w.u64(t.number);
            w.bytes(t.hash.as_bytes());
        }
        w.finish()
    }

    /// Sorts the tags into canonical order and signs.
    #[must_use]
    pub fn sign(mut self, key: &SecretKey) -> SignedSnapshot {
        self.tags.sort_by(|a, b| {
            (a.volume.as_str(), a.tag.as_str()).cmp(&(b.volume.as_str(), b.tag.as_str()))
        });
        self.tags
            .dedup_by(|a, b| a.volume == b.volume && a.tag == b.tag);
        let hash = *blake3::hash(&self.body()).as_bytes();
        SignedSnapshot {
            signatures: SignatureSet::single(key.sign(SNAPSHOT_CONTEXT, &hash)),
            snapshot: self,
        }
    }

    /// The pin of `volume@tag`, if the snapshot lists it.
    #[must_use]
    pub fn find(&self, volume: &str, tag: &str) -> Option<&TagPin> {
        self.tags
            .iter()
            .find(|t| t.volume.as_str() == volume && t.tag.as_str() == tag)
    }

    /// Whether the snapshot has expired at `now` (Unix seconds).
    #[must_use]
    pub fn expired(&self, now: i64) -> bool {
        now >= self.expires
    }
}

/// A snapshot with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedSnapshot {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// Who signed it.
    pub signatures: SignatureSet,
}

impl SignedSnapshot {
    /// Canonical bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.signatures.appended_to(self.snapshot.body())
    }

    /// Decodes canonical bytes (tags sorted and unique).
    ///
    /// # Errors
    /// What is wrong with the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(WHAT, bytes);
        r.header(MAGIC, FORMAT)?;
        let version = r.u64("version")?;
        let expires = r.i64("expires")?;
        let n = r.count("tags", 2 + 2 + 8 + 32)?;
        let name = |source| DecodeError::Name {
            what: WHAT,
            source: Box::new(source),
        };
        let mut tags: Vec<TagPin> = Vec::with_capacity(n);
        for _ in 0..n {
            let volume = VolumeName::new(r.str16("volume")?).map_err(name)?;
            let tag = TagName::new(r.str16("tag")?).map_err(name)?;
            let pin = TagPin {
                volume,
                tag,
                number: r.u64("number")?,
                hash: FileId::from_bytes(r.array("tag hash")?),
            };
            if tags.last().is_some_and(|p| {
                (p.volume.as_str(), p.tag.as_str()) >= (pin.volume.as_str(), pin.tag.as_str())
            }) {
                return Err(r.invalid("tags", "not sorted by volume and tag, or repeated"));
            }
            tags.push(pin);
        }
        let signatures = SignatureSet::read_appended(&mut r)?;
        r.finish()?;
        Ok(Self {
            snapshot: Snapshot {
                version,
                expires,
                tags,
            },
            signatures,
        })
    }

    /// Checks that the ring's threshold signed this snapshot.
    ///
    /// # Errors
    /// When too few trusted keys signed it or a signature does not verify.
    pub fn verify(&self, ring: &KeyRing) -> Result<Vec<KeyId>, SignatureError> {
        let hash = *blake3::hash(&self.snapshot.body()).as_bytes();
        ring.verify(&self.signatures, SNAPSHOT_CONTEXT, &hash, "snapshot")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pin(v: &str, t: &str, n: u64) -> TagPin {
        TagPin {
            volume: VolumeName::new(v).expect("valid"),
            tag: TagName::new(t).expect("valid"),
            number: n,
            hash: FileId::of(&n.to_le_bytes()),
        }
    }

    #[test]
    fn round_trips_sorted_verifies_and_finds() {
        let key = SecretKey::from_seed([5; 32]);
        let s = Snapshot {
            version: 3,
            expires: 100,
            tags: vec![
                pin("site", "stable", 2),
                pin("app", "beta", 7),
                pin("site", "beta", 3),
            ],
        }
        .sign(&key);
        let back = SignedSnapshot::from_bytes(&s.to_bytes()).expect("decodes");
        assert_eq!(back, s);
        assert_eq!(back.snapshot.tags[0].volume.as_str(), "app");
        assert!(back.verify(&KeyRing::new(vec![key.public()], 1)).is_ok());
        assert!(back
            .verify(&KeyRing::new(
                vec![SecretKey::from_seed([6; 32]).public()],
                1
            ))
            .is_err());
        assert_eq!(
            back.snapshot.find("site", "beta").map(|p| p.number),
            Some(3)
        );
        assert!(back.snapshot.find("site", "gamma").is_none());
        assert!(back.snapshot.expired(100) && !back.snapshot.expired(99));
        let mut tampered = back;
        tampered.snapshot.tags[1].number = 9;
        assert!(tampered
            .verify(&KeyRing::new(vec![key.public()], 1))
            .is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(s) = SignedSnapshot::from_bytes(&data) {
                prop_assert_eq!(s.to_bytes(), data);
            }
        }
    }
}
