//! Signed tag records: a tag names a volume version, and the publisher signs that naming.
//!
//! # Encoding
//! ```text
//! magic "TCDNTAG\n", u16 format 1, str volume, str tag, 32-byte version id, u64 version number,
//! i64 time (Unix seconds), then u32 length and the bytes of a signature set
//! ```
//! The signature covers the BLAKE3 of everything before the signature-set length.

use crate::encoding::{Reader, Writer};
use crate::names::{TagName, VolumeName};
use crate::sign::{KeyRing, SecretKey, SignatureSet, TAG_CONTEXT};
use crate::{DecodeError, KeyId, SignatureError, VersionId};

const MAGIC: &[u8; 8] = b"TCDNTAG\n";
const FORMAT: u16 = 1;
const WHAT: &str = "tag";

/// What a tag says: `volume@tag` is version `version` (number `number`) since `time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRecord {
    /// The volume.
    pub volume: VolumeName,
    /// The tag.
    pub tag: TagName,
    /// The version the tag points at.
    pub version: VersionId,
    /// That version's number.
    pub number: u64,
    /// When the tag was set, Unix seconds.
    pub time: i64,
}

impl TagRecord {
    fn body(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(MAGIC);
        w.u16(FORMAT);
        w.str16(self.volume.as_str());
        w.str16(self.tag.as_str());
        w.bytes(self.version.as_bytes());
        w.u64(self.number);
        w.i64(self.time);
        w.finish()
    }

    /// Signs the record.
    #[must_use]
    pub fn sign(self, key: &SecretKey) -> SignedTag {
        let hash = *blake3::hash(&self.body()).as_bytes();
        SignedTag {
            signatures: SignatureSet::single(key.sign(TAG_CONTEXT, &hash)),
            record: self,
        }
    }
}

/// A tag record with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTag {
    /// What the tag says.
    pub record: TagRecord,
    /// Who vouches for it.
    pub signatures: SignatureSet,
}

impl SignedTag {
    /// Canonical bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.signatures.appended_to(self.record.body())
    }

    /// Decodes canonical bytes.
    ///
    /// # Errors
    /// What is wrong with the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(WHAT, bytes);
        r.header(MAGIC, FORMAT)?;
        let name = |source| DecodeError::Name {
            what: WHAT,
            source: Box::new(source),
        };
        let volume = VolumeName::new(r.str16("volume")?).map_err(name)?;
        let tag = TagName::new(r.str16("tag")?).map_err(name)?;
        let version = VersionId::from_bytes(r.array("version")?);
        let number = r.u64("number")?;
        let time = r.i64("time")?;
        let signatures = SignatureSet::read_appended(&mut r)?;
        r.finish()?;
        Ok(Self {
            record: TagRecord {
                volume,
                tag,
                version,
                number,
                time,
            },
            signatures,
        })
    }

    /// BLAKE3 of the record without its signatures: what a snapshot pins (so co-signing a tag
    /// does not change its pin).
    #[must_use]
    pub fn record_hash(&self) -> crate::FileId {
        crate::FileId::of(&self.record.body())
    }

    /// Whether this tag was signed before `other` (by signing time, then version number): a node
    /// that has seen `other` refuses this one as a rollback.
    #[must_use]
    pub fn is_older_than(&self, other: &SignedTag) -> bool {
        (self.record.time, self.record.number) < (other.record.time, other.record.number)
    }

    /// Adds `key`'s signature (co-signing, for thresholds above one).
    pub fn cosign(&mut self, key: &SecretKey) {
        let hash = *blake3::hash(&self.record.body()).as_bytes();
        self.signatures.add(key.sign(TAG_CONTEXT, &hash));
    }

    /// Checks that the ring's threshold of trusted keys signed this record.
    ///
    /// # Errors
    /// When too few trusted keys signed it or a signature does not verify.
    pub fn verify(&self, ring: &KeyRing) -> Result<Vec<KeyId>, SignatureError> {
        let hash = *blake3::hash(&self.record.body()).as_bytes();
        ring.verify(&self.signatures, TAG_CONTEXT, &hash, "tag")
    }

    /// The key ids that signed, trusted or not.
    #[must_use]
    pub fn signers(&self) -> Vec<KeyId> {
        self.signatures.signatures().iter().map(|s| s.key).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tag_round_trips_and_detects_tampering() {
        let key = SecretKey::from_seed([3; 32]);
        let rec = TagRecord {
            volume: VolumeName::new("media").expect("valid"),
            tag: TagName::new("stable").expect("valid"),
            version: VersionId::of(b"m"),
            number: 4,
            time: 5,
        };
        let signed = rec.sign(&key);
        let bytes = signed.to_bytes();
        let back = SignedTag::from_bytes(&bytes).expect("decodes");
        assert_eq!(back, signed);
        assert!(back.verify(&KeyRing::new(vec![key.public()], 1)).is_ok());
        let mut tampered = back.clone();
        tampered.record.number = 3;
        assert!(tampered
            .verify(&KeyRing::new(vec![key.public()], 1))
            .is_err());
        assert!(SignedTag::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
}
