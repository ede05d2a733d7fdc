//! Checkpoints (C2SP tlog-checkpoint) and their signatures as C2SP signed notes, so that Go's
//! `sumdb/note`, `litetlog` and witnesses read them as they are.
//!
//! ```text
//! tinycdn/3f2a91c0          ← origin: the log's name, also its key's name
//! 1042                      ← tree size
//! 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=   ← root hash
//!
//! — tinycdn/3f2a91c0 AbCd…  ← Ed25519 signature (key id, then signature)
//! ```

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use signed_note::{Note, StandardVerifier, Verifier as _, VerifierList};

use crate::hash::Hash;

/// The largest checkpoint note read (C2SP notes are small; a hostile one is not read whole).
pub const MAX_NOTE: usize = 16 * 1024;

/// A log's signed statement of its size and root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name (first line).
    pub origin: String,
    /// Entries in the tree.
    pub size: u64,
    /// The tree's root.
    pub root: Hash,
    /// Extension lines (opaque here).
    pub extensions: Vec<String>,
}

/// Why a checkpoint was refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Not a checkpoint body.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// Not a well-formed signed note.
    #[error("malformed signed note: {0}")]
    Note(String),
    /// No signature by the expected key, or a bad one.
    #[error("the checkpoint is not signed by {key}: {reason}")]
    Signature {
        /// The verifier key's name.
        key: String,
        /// What the note library said.
        reason: String,
    },
    /// Signed by the right key, but for another log.
    #[error("the checkpoint names log {got:?}, expected {want:?}")]
    WrongOrigin {
        /// The origin line.
        got: String,
        /// The key's name.
        want: String,
    },
    /// A verifier or signer key that cannot be used.
    #[error("bad log key: {0}")]
    BadKey(String),
}

impl Checkpoint {
    /// The note body: origin, size, root, extensions, each ending in a newline.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n{}\n{}\n", self.origin, self.size, self.root);
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        out
    }

    /// Parses a note body strictly: a non-empty origin, a decimal size without leading zeros, a
    /// base64 SHA-256 root, then non-empty extension lines.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`].
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("does not end in a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(CheckpointError::Malformed("no origin line"))?;
        let size = lines
            .next()
            .ok_or(CheckpointError::Malformed("no size line"))?;
        if size.is_empty()
            || (size.len() > 1 && size.starts_with('0'))
            || !size.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(CheckpointError::Malformed(
                "the size is not a decimal number",
            ));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| CheckpointError::Malformed("the size is out of range"))?;
        let root = lines
            .next()
            .and_then(Hash::from_base64)
            .ok_or(CheckpointError::Malformed(
                "the root is not base64 of 32 bytes",
            ))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(CheckpointError::Malformed("an empty extension line"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// A log's signing key: an Ed25519 key and the log's name.
pub struct LogSigner {
    name: String,
    key: SigningKey,
    id: u32,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogSigner({})", self.name)
    }
}

fn encoded_public(key: &VerifyingKey) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend_from_slice(key.as_bytes());
    out
}

impl LogSigner {
    /// A signer for the log `name` from a 32-byte Ed25519 seed.
    ///
    /// # Errors
    /// [`CheckpointError::BadKey`] if `name` is not a valid note key name (empty, spaces, `+`).
    pub fn new(name: &str, seed: [u8; 32]) -> Result<Self, CheckpointError> {
        if !signed_note::is_key_name_valid(name) || name.contains('\n') {
            return Err(CheckpointError::BadKey(format!(
                "log name {name:?} must be non-empty, without spaces or '+'"
            )));
        }
        let key = SigningKey::from_bytes(&seed);
        let id = signed_note::key_id(name, &encoded_public(&key.verifying_key()));
        Ok(Self {
            name: name.to_owned(),
            key,
            id,
        })
    }

    /// The log's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key nodes are given: `NAME+KEYID+BASE64`.
    #[must_use]
    pub fn verifier_key(&self) -> String {
        signed_note::new_ed25519_verifier_key(&self.name, &self.key.verifying_key())
    }

    /// The signed note of a checkpoint of this log.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] when the checkpoint names another origin.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<Vec<u8>, CheckpointError> {
        if checkpoint.origin != self.name {
            return Err(CheckpointError::Malformed(
                "the origin is not the signer's name",
            ));
        }
        let mut note = Note::new(checkpoint.to_text().as_bytes(), &[])
            .map_err(|e| CheckpointError::Note(e.to_string()))?;
        note.add_sigs(&[self])
            .map_err(|e| CheckpointError::Note(e.to_string()))?;
        Ok(note.to_bytes())
    }
}

impl signed_note::Signer for LogSigner {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

/// Checks checkpoints of one log against its verifier key.
#[derive(Clone)]
pub struct LogVerifier {
    key: String,
    verifier: StandardVerifier,
}

impl std::fmt::Debug for LogVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogVerifier({})", self.key)
    }
}

impl LogVerifier {
    /// Parses a verifier key (`NAME+KEYID+BASE64`, as `tinycdn log key` prints it).
    ///
    /// # Errors
    /// [`CheckpointError::BadKey`].
    pub fn new(vkey: &str) -> Result<Self, CheckpointError> {
        let vkey = vkey.trim();
        let verifier = StandardVerifier::new(vkey)
            .map_err(|e| CheckpointError::BadKey(format!("{e} in {vkey:?}")))?;
        Ok(Self {
            key: vkey.to_owned(),
            verifier,
        })
    }

    /// The log's name.
    #[must_use]
    pub fn name(&self) -> &str {
        self.verifier.name()
    }

    /// The verifier key text.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Opens a signed checkpoint: the note must carry a valid signature by this key (others are
    /// ignored, so witnesses may co-sign), and its origin must be this log's name.
    ///
    /// # Errors
    /// [`CheckpointError`] saying what is wrong.
    pub fn open(&self, note: &[u8]) -> Result<Checkpoint, CheckpointError> {
        if note.len() > MAX_NOTE {
            return Err(CheckpointError::Note(format!(
                "{} bytes, over the {MAX_NOTE}-byte limit",
                note.len()
            )));
        }
        let parsed = Note::from_bytes(note).map_err(|e| CheckpointError::Note(e.to_string()))?;
        let list = VerifierList::new(vec![Box::new(self.verifier.clone())]);
        parsed
            .verify(&list)
            .map_err(|e| CheckpointError::Signature {
                key: self.name().to_owned(),
                reason: e.to_string(),
            })?;
        let text = std::str::from_utf8(parsed.text())
            .map_err(|_| CheckpointError::Malformed("not UTF-8"))?;
        let checkpoint = Checkpoint::parse(text)?;
        if checkpoint.origin != self.name() {
            return Err(CheckpointError::WrongOrigin {
                got: checkpoint.origin,
                want: self.name().to_owned(),
            });
        }
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::empty_root;

    fn signer() -> LogSigner {
        LogSigner::new("example.com/log", [7u8; 32]).expect("test")
    }

    fn checkpoint(size: u64) -> Checkpoint {
        Checkpoint {
            origin: "example.com/log".into(),
            size,
            root: empty_root(),
            extensions: vec![],
        }
    }

    #[test]
    fn sign_and_open() {
        let s = signer();
        let note = s.sign(&checkpoint(5)).expect("test");
        let text = String::from_utf8(note.clone()).expect("test");
        assert!(text.starts_with("example.com/log\n5\n47DEQ"), "{text}");
        assert!(text.contains("\n\n\u{2014} example.com/log "), "{text}");
        let v = LogVerifier::new(&s.verifier_key()).expect("test");
        assert_eq!(v.open(&note).expect("test"), checkpoint(5));
    }

    #[test]
    fn a_forged_or_foreign_checkpoint_is_refused() {
        let s = signer();
        let v = LogVerifier::new(&s.verifier_key()).expect("test");
        let note = String::from_utf8(s.sign(&checkpoint(5)).expect("test")).expect("test");
        // Another size under the same signature.
        let forged = note.replacen("\n5\n", "\n6\n", 1);
        assert!(matches!(
            v.open(forged.as_bytes()),
            Err(CheckpointError::Signature { .. })
        ));
        // Another key with the same name.
        let other = LogSigner::new("example.com/log", [8u8; 32]).expect("test");
        let foreign = other.sign(&checkpoint(5)).expect("test");
        assert!(v.open(&foreign).is_err());
        // Garbage.
        for bad in [&b""[..], b"\n\n", b"example.com/log\n5\n", &[0xff; 40]] {
            assert!(v.open(bad).is_err());
        }
        assert!(v.open(&vec![b'a'; MAX_NOTE + 1]).is_err());
    }

    #[test]
    fn checkpoint_bodies_are_strict() {
        let good = checkpoint(12).to_text();
        assert_eq!(Checkpoint::parse(&good).expect("test").size, 12);
        for bad in [
            "",
            "o\n",
            "o\n12\n",
            "o\n012\nAAAA\n",
            "\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "o\n-1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "o\n99999999999999999999999\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\nx\n",
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
        assert!(LogSigner::new("bad name", [0; 32]).is_err());
        assert!(LogSigner::new("a+b", [0; 32]).is_err());
        assert!(LogVerifier::new("nonsense").is_err());
    }
}
