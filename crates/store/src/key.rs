//! The store's layout, owned in one place: every key a store holds is a [`Key`], written with
//! `Display` and read back with [`Key::parse`] (a property test checks the round trip). Other
//! crates name what they read and write by variant, never by spelling a path.
//!
//! ```text
//! tinycdn-store                          the marker a store is recognised by
//! objects/ab/<64 hex>[.x]                a file's bytes (`.x`: the executable copy)
//! manifests/<version>  signatures/<version>
//! versions/<volume>/<number, 20 digits>  tags/<volume>/<tag>
//! delta-indexes/<version>                deltas/<base>/<target>
//! snapshot  timestamp                    the publisher's signed snapshot and timestamp
//! roots/<version, 20 digits>             trust/root  trust/snapshot  trust/timestamp (pinned)
//! staging/ab/<chunk>  staging/deltas/<delta>
//! checkouts/<digest of the destination>  quarantine/<key>
//! log/checkpoint  log/key  log/tile/…  log/index/<version>  log/seen/<verifier>
//! history/…                              a vault's every signed copy
//! lease                                  the writer's lease on an object store
//! ```

use std::fmt;

use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::{ChunkId, FileId, VersionId};

/// One key of a store.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// `tinycdn-store`: the marker a store is recognised by.
    Marker,
    /// `objects/ab/<hex>[.x]`: the whole bytes of a file, by BLAKE3.
    Object {
        /// The file's id.
        id: FileId,
        /// The executable copy (mode 0555), kept apart so hardlinks carry the mode.
        exec: bool,
    },
    /// `manifests/<version>`: a manifest's canonical bytes.
    Manifest(VersionId),
    /// `signatures/<version>`: the manifest's signature set.
    Signatures(VersionId),
    /// `versions/<volume>/<number>`: a volume's version index.
    Version {
        /// The volume.
        volume: VolumeName,
        /// The version number.
        number: u64,
    },
    /// `tags/<volume>/<tag>`: a signed tag record.
    Tag {
        /// The volume.
        volume: VolumeName,
        /// The tag.
        tag: TagName,
    },
    /// `delta-indexes/<version>`: the signed index of a version's binary deltas.
    DeltaIndex(VersionId),
    /// `deltas/<base>/<target>`: a binary delta.
    Delta {
        /// The file it applies to.
        base: FileId,
        /// The file it produces.
        target: FileId,
    },
    /// `roots/<version>`: a published trust root.
    Root(u64),
    /// `snapshot`: the publisher's signed snapshot of every current tag (served at `/n`).
    Snapshot,
    /// `timestamp`: the publisher's signed timestamp naming the newest snapshot (`/ts`).
    Timestamp,
    /// `trust/root`: the newest trust root this store accepted.
    PinnedRoot,
    /// `trust/snapshot`: the newest snapshot a pull accepted (never gone back from).
    PinnedSnapshot,
    /// `trust/timestamp`: the newest timestamp a pull accepted.
    PinnedTimestamp,
    /// `staging/ab/<chunk>`: a verified chunk a pull fetched, kept until the version commits.
    StagedChunk(ChunkId),
    /// `staging/deltas/<delta>`: a verified delta a pull fetched.
    StagedDelta(FileId),
    /// `checkouts/<digest>`: the record of a checkout destination using this store.
    Checkout(String),
    /// `quarantine/<key>`: where fsck moves a damaged object.
    Quarantined(Box<Key>),
    /// `log/<path>`: the transparency log (`checkpoint`, `key`, `tile/…`, `index/…`, `seen/…`).
    Log(String),
    /// `history/<path>`: a vault's every signed copy.
    History(String),
    /// `lease`: the writer's lease on an object store.
    Lease,
}

/// The top folders of a store's layout, for listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// `objects`
    Objects,
    /// `manifests`
    Manifests,
    /// `signatures`
    Signatures,
    /// `versions`
    Versions,
    /// `tags`
    Tags,
    /// `roots`
    Roots,
    /// `delta-indexes`
    DeltaIndexes,
    /// `deltas`
    Deltas,
    /// `staging`
    Staging,
    /// `checkouts`
    Checkouts,
    /// `log`
    Log,
    /// `history`
    History,
}

impl Prefix {
    /// The folder's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Objects => "objects",
            Self::Manifests => "manifests",
            Self::Signatures => "signatures",
            Self::Versions => "versions",
            Self::Tags => "tags",
            Self::Roots => "roots",
            Self::DeltaIndexes => "delta-indexes",
            Self::Deltas => "deltas",
            Self::Staging => "staging",
            Self::Checkouts => "checkouts",
            Self::Log => "log",
            Self::History => "history",
        }
    }
}

fn fanout(f: &mut fmt::Formatter<'_>, prefix: &str, hex: &str) -> fmt::Result {
    write!(f, "{prefix}/{}/{hex}", &hex[..2])
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Marker => f.write_str("tinycdn-store"),
            Self::Object { id, exec } => {
                fanout(f, "objects", &id.to_hex())?;
                if *exec {
                    f.write_str(".x")?;
                }
                Ok(())
            }
            Self::Manifest(v) => write!(f, "manifests/{v}"),
            Self::Signatures(v) => write!(f, "signatures/{v}"),
            Self::Version { volume, number } => write!(f, "versions/{volume}/{number:020}"),
            Self::Tag { volume, tag } => write!(f, "tags/{volume}/{tag}"),
            Self::DeltaIndex(v) => write!(f, "delta-indexes/{v}"),
            Self::Delta { base, target } => write!(f, "deltas/{base}/{target}"),
            Self::Root(n) => write!(f, "roots/{n:020}"),
            Self::Snapshot => f.write_str("snapshot"),
            Self::Timestamp => f.write_str("timestamp"),
            Self::PinnedRoot => f.write_str("trust/root"),
            Self::PinnedSnapshot => f.write_str("trust/snapshot"),
            Self::PinnedTimestamp => f.write_str("trust/timestamp"),
            Self::StagedChunk(id) => fanout(f, "staging", &id.to_hex()),
            Self::StagedDelta(id) => write!(f, "staging/deltas/{id}"),
            Self::Checkout(digest) => write!(f, "checkouts/{digest}"),
            Self::Quarantined(k) => write!(f, "quarantine/{k}"),
            Self::Log(rest) => write!(f, "log/{rest}"),
            Self::History(rest) => write!(f, "history/{rest}"),
            Self::Lease => f.write_str("lease"),
        }
    }
}

/// A 64-digit lower-case hex id.
fn id<T: std::str::FromStr>(hex: &str) -> Option<T> {
    (hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| hex.parse().ok())
        .flatten()
}

/// A decimal of exactly 20 digits (the zero-padded numbers that sort as text).
fn padded(s: &str) -> Option<u64> {
    (s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The hex of a fanned-out key (`ab/<hex>`), checked against its folder.
fn fanned(rest: &str) -> Option<&str> {
    let (dir, hex) = rest.split_once('/')?;
    (hex.len() == 64 && hex.get(..2) == Some(dir)).then_some(hex)
}

/// A path below `log/` or `history/`: non-empty segments without `.` or `..`.
fn sub_path(rest: &str) -> Option<String> {
    (!rest.is_empty()
        && rest
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\')))
    .then(|| rest.to_owned())
}

impl Key {
    /// The folder holding a volume's version index (`versions/<volume>`), for listing.
    #[must_use]
    pub fn versions_of(volume: &VolumeName) -> String {
        format!("versions/{volume}")
    }

    /// The folder holding a volume's tags (`tags/<volume>`), for listing.
    #[must_use]
    pub fn tags_of(volume: &VolumeName) -> String {
        format!("tags/{volume}")
    }

    /// The key a string names, exactly as [`Display`](fmt::Display) writes it; `None` for
    /// anything else (a hostile or foreign name is never taken for a key).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tinycdn-store" => return Some(Self::Marker),
            "snapshot" => return Some(Self::Snapshot),
            "timestamp" => return Some(Self::Timestamp),
            "trust/root" => return Some(Self::PinnedRoot),
            "trust/snapshot" => return Some(Self::PinnedSnapshot),
            "trust/timestamp" => return Some(Self::PinnedTimestamp),
            "lease" => return Some(Self::Lease),
            _ => {}
        }
        let (top, rest) = s.split_once('/')?;
        match top {
            "objects" => {
                let (hex, exec) = match rest.strip_suffix(".x") {
                    Some(r) => (fanned(r)?, true),
                    None => (fanned(rest)?, false),
                };
                Some(Self::Object { id: id(hex)?, exec })
            }
            "manifests" => Some(Self::Manifest(id(rest)?)),
            "signatures" => Some(Self::Signatures(id(rest)?)),
            "delta-indexes" => Some(Self::DeltaIndex(id(rest)?)),
            "versions" => {
                let (volume, number) = rest.split_once('/')?;
                Some(Self::Version {
                    volume: VolumeName::new(volume).ok()?,
                    number: padded(number)?,
                })
            }
            "tags" => {
                let (volume, tag) = rest.split_once('/')?;
                Some(Self::Tag {
                    volume: VolumeName::new(volume).ok()?,
                    tag: TagName::new(tag).ok()?,
                })
            }
            "deltas" => {
                let (base, target) = rest.split_once('/')?;
                Some(Self::Delta {
                    base: id(base)?,
                    target: id(target)?,
                })
            }
            "roots" => Some(Self::Root(padded(rest)?)),
            "staging" => match rest.strip_prefix("deltas/") {
                Some(hex) => Some(Self::StagedDelta(id(hex)?)),
                None => Some(Self::StagedChunk(id(fanned(rest)?)?)),
            },
            "checkouts" => (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_hexdigit()))
                .then(|| Self::Checkout(rest.to_owned())),
            "quarantine" => match Self::parse(rest)? {
                Self::Quarantined(_) => None,
                k => Some(Self::Quarantined(Box::new(k))),
            },
            "log" => Some(Self::Log(sub_path(rest)?)),
            "history" => Some(Self::History(sub_path(rest)?)),
            _ => None,
        }
    }
}

impl std::str::FromStr for Key {
    type Err = crate::StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or_else(|| crate::StoreError::BadKey { key: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids() -> impl Strategy<Value = [u8; 32]> {
        proptest::array::uniform32(any::<u8>())
    }

    fn keys() -> impl Strategy<Value = Key> {
        let name = "[a-z][a-z0-9-]{0,12}";
        prop_oneof![
            Just(Key::Marker),
            Just(Key::Snapshot),
            Just(Key::Timestamp),
            Just(Key::PinnedRoot),
            Just(Key::PinnedSnapshot),
            Just(Key::PinnedTimestamp),
            Just(Key::Lease),
            (ids(), any::<bool>()).prop_map(|(b, exec)| Key::Object {
                id: FileId::from_bytes(b),
                exec
            }),
            ids().prop_map(|b| Key::Manifest(VersionId::from_bytes(b))),
            ids().prop_map(|b| Key::Signatures(VersionId::from_bytes(b))),
            ids().prop_map(|b| Key::DeltaIndex(VersionId::from_bytes(b))),
            (ids(), ids()).prop_map(|(a, b)| Key::Delta {
                base: FileId::from_bytes(a),
                target: FileId::from_bytes(b)
            }),
            (name, any::<u64>()).prop_map(|(v, number)| Key::Version {
                volume: VolumeName::new(&v).expect("volume"),
                number
            }),
            (name, name).prop_map(|(v, t)| Key::Tag {
                volume: VolumeName::new(&v).expect("volume"),
                tag: TagName::new(&t).expect("tag")
            }),
            any::<u64>().prop_map(Key::Root),
            ids().prop_map(|b| Key::StagedChunk(ChunkId::from_bytes(b))),
            ids().prop_map(|b| Key::StagedDelta(FileId::from_bytes(b))),
            "[0-9a-f]{1,64}".prop_map(Key::Checkout),
            "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,3}".prop_map(Key::Log),
            "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,3}".prop_map(Key::History),
            (ids(), any::<bool>()).prop_map(|(b, exec)| Key::Quarantined(Box::new(Key::Object {
                id: FileId::from_bytes(b),
                exec
            }))),
        ]
    }

    proptest! {
        #[test]
        fn every_key_reads_back_as_itself(k in keys()) {
            prop_assert_eq!(Key::parse(&k.to_string()), Some(k));
        }

        #[test]
        fn anything_else_is_no_key_or_writes_back_the_same(s in "\\PC{0,90}") {
            if let Some(k) = Key::parse(&s) {
                prop_assert_eq!(k.to_string(), s);
            }
        }
    }

    #[test]
    fn hostile_and_foreign_names_are_no_keys() {
        for bad in [
            "",
            "objects/ab",
            "objects/zz/abcd",
            "log/../x",
            "log/",
            "history//a",
            "tags/a",
            "versions/v/12",
            "quarantine/quarantine/lease",
            "trust/other",
            "tmp/x",
        ] {
            assert_eq!(Key::parse(bad), None, "{bad}");
        }
    }
}
