//! Ed25519 keys, their text files, and detached signature sets.
//!
//! A signature never covers raw bytes directly: it covers a domain-separated message
//! (`context`, a zero byte, then a 32-byte hash), so a signature made for a manifest can never be
//! replayed as one for a tag.
//!
//! Key files are one line of text:
//! ```text
//! tinycdn-secret-key-v1 ed25519 <64 hex digits of the seed>
//! tinycdn-public-key-v1 ed25519 <64 hex digits of the public key>
//! ```
//! Signature sets are binary: `"TCDNSIG\n"`, u16 format (1), u16 count, then per signature a
//! 32-byte key id and a 64-byte Ed25519 signature, sorted by key id without repeats.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::encoding::{Reader, Writer};
use crate::{DecodeError, KeyId, SignatureError};

const SECRET_PREFIX: &str = "tinycdn-secret-key-v1 ed25519 ";
const PUBLIC_PREFIX: &str = "tinycdn-public-key-v1 ed25519 ";
const SIG_MAGIC: &[u8; 8] = b"TCDNSIG\n";
const SIG_FORMAT: u16 = 1;

/// The context string for manifest signatures.
pub const MANIFEST_CONTEXT: &str = "tinycdn manifest v1";
/// The context string for tag signatures.
pub const TAG_CONTEXT: &str = "tinycdn tag v1";

/// A private signing key.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// A key from 32 random bytes (the caller supplies the randomness).
    #[must_use]
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// The matching public key.
    #[must_use]
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The key file text.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}\n", hex::encode(self.0.to_bytes()))
    }

    /// Parses a key file.
    ///
    /// # Errors
    /// [`SignatureError::BadKey`] when the text is not a secret key file.
    pub fn from_text(text: &str) -> Result<Self, SignatureError> {
        let seed = parse_key_line(text, SECRET_PREFIX, "secret")?;
        Ok(Self::from_seed(seed))
    }

    /// Signs `hash` under `context`.
    #[must_use]
    pub fn sign(&self, context: &str, hash: &[u8; 32]) -> Signature {
        Signature {
            key: self.public().id(),
            sig: self.0.sign(&message(context, hash)).to_bytes(),
        }
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey(public {})", self.public().id().short())
    }
}

/// A public verifying key.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.id().short())
    }
}

impl PublicKey {
    /// The key id: BLAKE3 in key-derivation mode over the key bytes.
    #[must_use]
    pub fn id(&self) -> KeyId {
        KeyId::from_bytes(blake3::derive_key("tinycdn key id v1", self.0.as_bytes()))
    }

    /// The key file text.
    #[must_use]
    pub fn to_text(&self) -> String {
        format!("{PUBLIC_PREFIX}{}\n", hex::encode(self.0.as_bytes()))
    }

    /// The 32 bytes of the key.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// A key from its 32 bytes.
    ///
    /// # Errors
    /// [`SignatureError::BadKey`] when the bytes are not a valid point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, SignatureError> {
        VerifyingKey::from_bytes(bytes)
            .map(Self)
            .map_err(|e| SignatureError::BadKey {
                what: "public",
                why: e.to_string(),
            })
    }

    /// Parses a public key file.
    ///
    /// # Errors
    /// [`SignatureError::BadKey`] when the text is not a public key file or not a valid point.
    pub fn from_text(text: &str) -> Result<Self, SignatureError> {
        let bytes = parse_key_line(text, PUBLIC_PREFIX, "public")?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|e| SignatureError::BadKey {
                what: "public",
                why: e.to_string(),
            })
    }

    fn verify(&self, context: &str, hash: &[u8; 32], sig: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        self.0.verify_strict(&message(context, hash), &sig).is_ok()
    }
}

fn parse_key_line(
    text: &str,
    prefix: &str,
    what: &'static str,
) -> Result<[u8; 32], SignatureError> {
    let bad = |why: &str| SignatureError::BadKey {
        what,
        why: why.to_owned(),
    };
    let line = text.trim_end_matches(['\n', '\r']);
    let hex_part = line.strip_prefix(prefix).ok_or_else(|| {
        bad(&format!(
            "the file should start with {:?}",
            prefix.trim_end()
        ))
    })?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).map_err(|e| bad(&format!("bad hex: {e}")))?;
    Ok(out)
}

fn message(context: &str, hash: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(context.len() + 33);
    m.extend_from_slice(context.as_bytes());
    m.push(0);
    m.extend_from_slice(hash);
    m
}

/// One detached signature and the id of the key that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// Who signed.
    pub key: KeyId,
    /// The Ed25519 signature.
    pub sig: [u8; 64],
}

/// The signatures over one object, sorted by key id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureSet(Vec<Signature>);

impl SignatureSet {
    /// A set holding one signature.
    #[must_use]
    pub fn single(sig: Signature) -> Self {
        Self(vec![sig])
    }

    /// The signatures.
    #[must_use]
    pub fn signatures(&self) -> &[Signature] {
        &self.0
    }

    /// Adds or replaces the signature of `sig.key`.
    pub fn add(&mut self, sig: Signature) {
        self.0.retain(|s| s.key != sig.key);
        self.0.push(sig);
        self.0.sort_by_key(|s| s.key);
    }

    /// `body` followed by u32 length and these signatures: how signed records (tags, snapshots,
    /// roots, delta indexes) carry their signature set.
    #[must_use]
    pub fn appended_to(&self, mut body: Vec<u8>) -> Vec<u8> {
        let sigs = self.to_bytes();
        body.extend_from_slice(&u32::try_from(sigs.len()).unwrap_or(u32::MAX).to_le_bytes());
        body.extend_from_slice(&sigs);
        body
    }

    /// Reads the u32 length and signature set that [`Self::appended_to`] wrote.
    ///
    /// # Errors
    /// Truncation or a malformed set.
    pub fn read_appended(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = r.u32("signature length")? as usize;
        Self::from_bytes(r.take("signatures", len)?)
    }

    /// Canonical bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(SIG_MAGIC);
        w.u16(SIG_FORMAT);
        w.u16(u16::try_from(self.0.len()).unwrap_or(u16::MAX));
        for s in &self.0 {
            w.bytes(s.key.as_bytes());
            w.bytes(&s.sig);
        }
        w.finish()
    }

    /// Decodes canonical bytes.
    ///
    /// # Errors
    /// Bad magic, truncation, unsorted or repeated keys, trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new("signature set", bytes);
        r.header(SIG_MAGIC, SIG_FORMAT)?;
        let n = usize::from(r.u16("count")?);
        let mut sigs: Vec<Signature> = Vec::with_capacity(n.min(r.remaining() / 96));
        for _ in 0..n {
            let key = KeyId::from_bytes(r.array("key id")?);
            let sig = r.array("signature")?;
            if sigs.last().is_some_and(|p| p.key >= key) {
                return Err(r.invalid("key id", "signatures are not sorted by key id"));
            }
            sigs.push(Signature { key, sig });
        }
        r.finish()?;
        Ok(Self(sigs))
    }

    /// Verifies that a trusted key signed `hash` under `context`; returns that key's id.
    ///
    /// # Errors
    /// [`SignatureError::Unsigned`], [`SignatureError::Untrusted`] or, when a trusted key's
    /// signature fails, [`SignatureError::Invalid`].
    pub fn verify(
        &self,
        context: &str,
        hash: &[u8; 32],
        trusted: &[PublicKey],
        what: &'static str,
    ) -> Result<KeyId, SignatureError> {
        if self.0.is_empty() {
            return Err(SignatureError::Unsigned { what });
        }
        for s in &self.0 {
            if let Some(k) = trusted.iter().find(|k| k.id() == s.key) {
                return if k.verify(context, hash, &s.sig) {
                    Ok(s.key)
                } else {
                    Err(SignatureError::Invalid {
                        key: s.key.short(),
                        what,
                    })
                };
            }
        }
        let list = |ids: Vec<String>| {
            if ids.is_empty() {
                "none".to_owned()
            } else {
                ids.join(", ")
            }
        };
        Err(SignatureError::Untrusted {
            signers: list(self.0.iter().map(|s| s.key.short()).collect()),
            trusted: list(trusted.iter().map(|k| k.id().short()).collect()),
        })
    }
}

/// The keys trusted for one kind of signed object and how many of them must sign it: one key,
/// a set of which any one may sign, or k of n (so that a single stolen key is not enough).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRing {
    keys: Vec<PublicKey>,
    threshold: usize,
}

impl Default for KeyRing {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            threshold: 1,
        }
    }
}

impl KeyRing {
    /// `threshold` (at least 1) of `keys` must sign.
    #[must_use]
    pub fn new(keys: Vec<PublicKey>, threshold: usize) -> Self {
        Self {
            keys,
            threshold: threshold.max(1),
        }
    }

    /// The keys.
    #[must_use]
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// How many distinct keys must sign.
    #[must_use]
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// Whether no key is trusted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks that at least the threshold of distinct trusted keys signed `hash` under `context`;
    /// returns their ids. Signatures by keys outside the ring are ignored; a trusted key's
    /// signature that does not verify fails the whole check (the object was altered).
    ///
    /// # Errors
    /// [`SignatureError::Unsigned`], [`SignatureError::Untrusted`], [`SignatureError::Invalid`] or
    /// [`SignatureError::BelowThreshold`].
    pub fn verify(
        &self,
        set: &SignatureSet,
        context: &str,
        hash: &[u8; 32],
        what: &'static str,
    ) -> Result<Vec<KeyId>, SignatureError> {
        if self.threshold <= 1 {
            return set.verify(context, hash, &self.keys, what).map(|k| vec![k]);
        }
        if set.0.is_empty() {
            return Err(SignatureError::Unsigned { what });
        }
        let mut good = Vec::new();
        for s in &set.0 {
            if let Some(k) = self.keys.iter().find(|k| k.id() == s.key) {
                if !k.verify(context, hash, &s.sig) {
                    return Err(SignatureError::Invalid {
                        key: s.key.short(),
                        what,
                    });
                }
                good.push(s.key);
            }
        }
        if good.len() < self.threshold {
            return Err(SignatureError::BelowThreshold {
                what,
                need: self.threshold,
                got: good.len(),
                signers: if good.is_empty() {
                    "none".into()
                } else {
                    good.iter().map(KeyId::short).collect::<Vec<_>>().join(", ")
                },
            });
        }
        Ok(good)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threshold_needs_that_many_distinct_trusted_signers() {
        let h = [3u8; 32];
        let ring = KeyRing::new(vec![key(1).public(), key(2).public(), key(3).public()], 2);
        let mut set = SignatureSet::single(key(1).sign(MANIFEST_CONTEXT, &h));
        // One trusted key plus an outsider: below the threshold.
        set.add(key(9).sign(MANIFEST_CONTEXT, &h));
        assert!(matches!(
            ring.verify(&set, MANIFEST_CONTEXT, &h, "manifest"),
            Err(SignatureError::BelowThreshold {
                need: 2,
                got: 1,
                ..
            })
        ));
        set.add(key(3).sign(MANIFEST_CONTEXT, &h));
        assert_eq!(
            ring.verify(&set, MANIFEST_CONTEXT, &h, "manifest")
                .expect("2 of 3")
                .len(),
            2
        );
        // A trusted signature over other data fails the check.
        set.add(key(2).sign(MANIFEST_CONTEXT, &[4u8; 32]));
        assert!(matches!(
            ring.verify(&set, MANIFEST_CONTEXT, &h, "manifest"),
            Err(SignatureError::Invalid { .. })
        ));
    }

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed([n; 32])
    }

    #[test]
    fn key_files_round_trip() {
        let k = key(1);
        let again = SecretKey::from_text(&k.to_text()).expect("parses");
        assert_eq!(again.public(), k.public());
        let p = PublicKey::from_text(&k.public().to_text()).expect("parses");
        assert_eq!(p, k.public());
        assert!(
            PublicKey::from_text(&k.to_text()).is_err(),
            "a secret key is not a public key"
        );
        assert!(SecretKey::from_text("garbage").is_err());
    }

    #[test]
    fn verifies_only_trusted_untampered() {
        let k = key(1);
        let h = [7u8; 32];
        let set = SignatureSet::single(k.sign(MANIFEST_CONTEXT, &h));
        let set = SignatureSet::from_bytes(&set.to_bytes()).expect("decodes");
        assert_eq!(
            set.verify(MANIFEST_CONTEXT, &h, &[k.public()], "manifest")
                .expect("ok"),
            k.public().id()
        );
        assert!(matches!(
            set.verify(MANIFEST_CONTEXT, &[8u8; 32], &[k.public()], "manifest"),
            Err(SignatureError::Invalid { .. })
        ));
        assert!(matches!(
            set.verify(TAG_CONTEXT, &h, &[k.public()], "tag"),
            Err(SignatureError::Invalid { .. })
        ));
        assert!(matches!(
            set.verify(MANIFEST_CONTEXT, &h, &[key(2).public()], "manifest"),
            Err(SignatureError::Untrusted { .. })
        ));
        assert!(matches!(
            SignatureSet::default().verify(MANIFEST_CONTEXT, &h, &[k.public()], "manifest"),
            Err(SignatureError::Unsigned { .. })
        ));
    }

    #[test]
    fn signature_set_is_canonical() {
        let h = [1u8; 32];
        let mut set = SignatureSet::default();
        set.add(key(1).sign(MANIFEST_CONTEXT, &h));
        set.add(key(2).sign(MANIFEST_CONTEXT, &h));
        let bytes = set.to_bytes();
        assert_eq!(SignatureSet::from_bytes(&bytes).expect("decodes"), set);
        // Swap the two signatures: no longer sorted, refused.
        let mut swapped = bytes[..12].to_vec();
        swapped.extend_from_slice(&bytes[108..204]);
        swapped.extend_from_slice(&bytes[12..108]);
        assert!(SignatureSet::from_bytes(&swapped).is_err());
    }
}
