//! Typed 32-byte identifiers: every object in tinycdn is named by a BLAKE3-256 hash.

use std::fmt;
use std::str::FromStr;

use crate::DecodeError;

macro_rules! hash_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps raw hash bytes.
            #[must_use]
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The raw hash bytes.
            #[must_use]
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// Full lowercase hex (64 characters).
            #[must_use]
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// A short form for humans: the first 12 hex characters.
            #[must_use]
            pub fn short(&self) -> String {
                hex::encode(&self.0[..6])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl FromStr for $name {
            type Err = DecodeError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).map_err(|e| DecodeError::Invalid {
                    what: $what,
                    field: "hex",
                    why: format!("{s:?} is not 64 hex digits: {e}"),
                })?;
                Ok(Self(out))
            }
        }
    };
}

hash_id!(
    /// The BLAKE3 hash of one content-defined chunk; chunks are stored under it.
    ChunkId,
    "chunk id"
);
hash_id!(
    /// The BLAKE3 hash of a whole file's bytes.
    FileId,
    "file id"
);
hash_id!(
    /// The BLAKE3 hash of a manifest's canonical encoding: the identity of a volume version.
    VersionId,
    "version id"
);
hash_id!(
    /// The identity of a public signing key (a keyed BLAKE3 of the key bytes).
    KeyId,
    "key id"
);

impl ChunkId {
    /// Hashes chunk bytes.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }
}

impl FileId {
    /// Hashes a whole file held in memory.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// A file made of exactly one chunk has the same hash as that chunk.
    #[must_use]
    pub fn as_chunk(&self) -> ChunkId {
        ChunkId(self.0)
    }
}

impl VersionId {
    /// Hashes canonical manifest bytes.
    #[must_use]
    pub fn of(manifest_bytes: &[u8]) -> Self {
        Self(*blake3::hash(manifest_bytes).as_bytes())
    }

    /// Whether the hex form of this id starts with `prefix` (lowercase hex).
    #[must_use]
    pub fn matches_prefix(&self, prefix: &str) -> bool {
        self.to_hex().starts_with(&prefix.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_short_form() {
        let id = ChunkId::of(b"hello");
        let parsed: ChunkId = id.to_hex().parse().expect("parses");
        assert_eq!(parsed, id);
        assert_eq!(id.short().len(), 12);
        assert!(id.to_hex().starts_with(&id.short()));
    }

    #[test]
    fn rejects_bad_hex() {
        assert!("xyz".parse::<VersionId>().is_err());
        assert!("ab".repeat(31).parse::<VersionId>().is_err());
    }

    #[test]
    fn single_chunk_file_shares_its_chunk_hash() {
        let data = b"small thumbnail";
        assert_eq!(FileId::of(data).as_chunk(), ChunkId::of(data));
    }
}
