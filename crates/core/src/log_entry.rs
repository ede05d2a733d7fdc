//! The entries of the transparency log: one for each thing that changes what nodes serve.
//!
//! An entry is one canonical line of text, so that `tinycdn log show`, a shell and an auditor
//! read the same bytes the Merkle tree hashes:
//!
//! ```text
//! tinycdn-log-v1 1764614400 publish volume=media number=12 version=<64 hex> signers=<64 hex>,…
//! tinycdn-log-v1 1764614400 tag volume=media tag=stable old=<64 hex>|- new=<64 hex> number=12
//! tinycdn-log-v1 1764614400 sign volume=media version=<64 hex> signer=<64 hex>
//! tinycdn-log-v1 1764614400 snapshot version=7 hash=<64 hex>
//! tinycdn-log-v1 1764614400 timestamp version=90 snapshot=7
//! tinycdn-log-v1 1764614400 root version=3 hash=<64 hex> revoked=<64 hex>,…|-
//! tinycdn-log-v1 1764614400 gc volume=media number=2 version=<64 hex>
//! ```
//!
//! Parsing accepts exactly what [`LogEntry::to_line`] writes: fields in that order, no extra
//! spaces, lowercase hex, decimal numbers without leading zeros.

use std::fmt::Write as _;

const MAGIC: &str = "tinycdn-log-v1";

/// A 32-byte id as it appears in an entry (a version, a key, a hash).
pub type Id = [u8; 32];

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new version of a volume.
    Publish {
        /// The volume.
        volume: String,
        /// Its version number.
        number: u64,
        /// The manifest's id.
        version: Id,
        /// Key ids of the manifest's signatures.
        signers: Vec<Id>,
    },
    /// A tag was set or moved.
    Tag {
        /// The volume.
        volume: String,
        /// The tag.
        tag: String,
        /// The version it named before, if any.
        old: Option<Id>,
        /// The version it names now.
        new: Id,
        /// That version's number.
        number: u64,
    },
    /// A co-signature was added to a version.
    Sign {
        /// The volume.
        volume: String,
        /// The version.
        version: Id,
        /// The co-signer's key id.
        signer: Id,
    },
    /// A snapshot of every tag was signed.
    Snapshot {
        /// Its version.
        version: u64,
        /// BLAKE3 of its bytes.
        hash: Id,
    },
    /// A timestamp was signed.
    Timestamp {
        /// Its version.
        version: u64,
        /// The snapshot version it names.
        snapshot: u64,
    },
    /// A trust root was published (a rotation); `revoked` lists key ids it dropped.
    Root {
        /// Its version.
        version: u64,
        /// BLAKE3 of its bytes.
        hash: Id,
        /// Keys of the previous root that this one no longer lists.
        revoked: Vec<Id>,
    },
    /// gc deleted a version.
    Gc {
        /// The volume.
        volume: String,
        /// The version number removed.
        number: u64,
        /// The manifest removed.
        version: Id,
    },
}

/// One log entry: when (Unix seconds, the appender's clock) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Unix seconds.
    pub time: i64,
    /// What changed.
    pub event: Event,
}

/// Why an entry's bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed log entry: {0}")]
pub struct EntryError(pub &'static str);

impl Event {
    /// The event's kind word.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Publish { .. } => "publish",
            Self::Tag { .. } => "tag",
            Self::Sign { .. } => "sign",
            Self::Snapshot { .. } => "snapshot",
            Self::Timestamp { .. } => "timestamp",
            Self::Root { .. } => "root",
            Self::Gc { .. } => "gc",
        }
    }

    /// The fields after the kind, in canonical order.
    #[must_use]
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let list = |ids: &[Id]| {
            if ids.is_empty() {
                "-".to_owned()
            } else {
                ids.iter().map(hex::encode).collect::<Vec<_>>().join(",")
            }
        };
        match self {
            Self::Publish {
                volume,
                number,
                version,
                signers,
            } => vec![
                ("volume", volume.clone()),
                ("number", number.to_string()),
                ("version", hex::encode(version)),
                ("signers", list(signers)),
            ],
            Self::Tag {
                volume,
                tag,
                old,
                new,
                number,
            } => vec![
                ("volume", volume.clone()),
                ("tag", tag.clone()),
                ("old", old.map_or_else(|| "-".to_owned(), hex::encode)),
                ("new", hex::encode(new)),
                ("number", number.to_string()),
            ],
            Self::Sign {
                volume,
                version,
                signer,
            } => vec![
                ("volume", volume.clone()),
                ("version", hex::encode(version)),
                ("signer", hex::encode(signer)),
            ],
            Self::Snapshot { version, hash } => vec![
                ("version", version.to_string()),
                ("hash", hex::encode(hash)),
            ],
            Self::Timestamp { version, snapshot } => vec![
                ("version", version.to_string()),
                ("snapshot", snapshot.to_string()),
            ],
            Self::Root {
                version,
                hash,
                revoked,
            } => vec![
                ("version", version.to_string()),
                ("hash", hex::encode(hash)),
                ("revoked", list(revoked)),
            ],
            Self::Gc {
                volume,
                number,
                version,
            } => vec![
                ("volume", volume.clone()),
                ("number", number.to_string()),
                ("version", hex::encode(version)),
            ],
        }
    }

    /// The version id this event is about, if any (what `log prove` looks up).
    #[must_use]
    pub fn version(&self) -> Option<&Id> {
        match self {
            Self::Publish { version, .. }
            | Self::Sign { version, .. }
            | Self::Gc { version, .. } => Some(version),
            Self::Tag { new, .. } => Some(new),
            _ => None,
        }
    }
}

impl LogEntry {
    /// The canonical line (no newline).
    #[must_use]
    pub fn to_line(&self) -> String {
        let mut out = format!("{MAGIC} {} {}", self.time, self.event.kind());
        for (k, v) in self.event.fields() {
            let _ = write!(out, " {k}={v}");
        }
        out
    }

    /// Parses a canonical line.
    ///
    /// # Errors
    /// [`EntryError`].
    pub fn parse(bytes: &[u8]) -> Result<Self, EntryError> {
        let text = std::str::from_utf8(bytes).map_err(|_| EntryError("not UTF-8"))?;
        let mut words = text.split(' ');
        if words.next() != Some(MAGIC) {
            return Err(EntryError("not a tinycdn-log-v1 entry"));
        }
        let time = words.next().ok_or(EntryError("no time"))?;
        let time: i64 = if let Some(neg) = time.strip_prefix('-') {
            -i64::try_from(decimal(neg)?).map_err(|_| EntryError("time out of range"))?
        } else {
            i64::try_from(decimal(time)?).map_err(|_| EntryError("time out of range"))?
        };
        let kind = words.next().ok_or(EntryError("no kind"))?;
        let mut f = Fields(words);
        let event = match kind {
            "publish" => Event::Publish {
                volume: f.name("volume")?,
                number: decimal(f.take("number")?)?,
                version: id(f.take("version")?)?,
                signers: ids(f.take("signers")?)?,
            },
            "tag" => Event::Tag {
                volume: f.name("volume")?,
                tag: f.name("tag")?,
                old: match f.take("old")? {
                    "-" => None,
                    v => Some(id(v)?),
                },
                new: id(f.take("new")?)?,
                number: decimal(f.take("number")?)?,
            },
            "sign" => Event::Sign {
                volume: f.name("volume")?,
                version: id(f.take("version")?)?,
                signer: id(f.take("signer")?)?,
            },
            "snapshot" => Event::Snapshot {
                version: decimal(f.take("version")?)?,
                hash: id(f.take("hash")?)?,
            },
            "timestamp" => Event::Timestamp {
                version: decimal(f.take("version")?)?,
                snapshot: decimal(f.take("snapshot")?)?,
            },
            "root" => Event::Root {
                version: decimal(f.take("version")?)?,
                hash: id(f.take("hash")?)?,
                revoked: ids(f.take("revoked")?)?,
            },
            "gc" => Event::Gc {
                volume: f.name("volume")?,
                number: decimal(f.take("number")?)?,
                version: id(f.take("version")?)?,
            },
            _ => return Err(EntryError("unknown kind")),
        };
        if f.0.next().is_some() {
            return Err(EntryError("trailing fields"));
        }
        let entry = Self { time, event };
        // Canonical only: one spelling per entry (e.g. "-0" is refused).
        if entry.to_line() != text {
            return Err(EntryError("not in canonical form"));
        }
        Ok(entry)
    }
}

struct Fields<'a>(std::str::Split<'a, char>);

impl<'a> Fields<'a> {
    fn take(&mut self, key: &'static str) -> Result<&'a str, EntryError> {
        let word = self.0.next().ok_or(EntryError("missing field"))?;
        let (k, v) = word
            .split_once('=')
            .ok_or(EntryError("a field without '='"))?;
        if k != key {
            return Err(EntryError("unexpected field"));
        }
        Ok(v)
    }

    fn name(&mut self, key: &'static str) -> Result<String, EntryError> {
        let v = self.take(key)?;
        if v.is_empty()
            || v.len() > 255
            || v.chars().any(|c| c.is_control() || c == '=' || c == ',')
        {
            return Err(EntryError("a bad name"));
        }
        Ok(v.to_owned())
    }
}

fn decimal(s: &str) -> Result<u64, EntryError> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(EntryError("not a decimal number"));
    }
    s.parse().map_err(|_| EntryError("number out of range"))
}

fn id(s: &str) -> Result<Id, EntryError> {
    if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(EntryError("not 64 lowercase hex digits"));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).map_err(|_| EntryError("not 64 lowercase hex digits"))?;
    Ok(out)
}

fn ids(s: &str) -> Result<Vec<Id>, EntryError> {
    if s == "-" {
        return Ok(Vec::new());
    }
    s.split(',').map(id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_id() -> impl Strategy<Value = Id> {
        any::<[u8; 32]>()
    }

    fn arb_event() -> impl Strategy<Value = Event> {
        let name = "[a-z0-9][a-z0-9._-]{0,20}";
        prop_oneof![
            (
                name,
                any::<u64>(),
                arb_id(),
                prop::collection::vec(arb_id(), 0..3)
            )
                .prop_map(|(volume, number, version, signers)| Event::Publish {
                    volume,
                    number,
                    version,
                    signers
                }),
            (
                name,
                name,
                prop::option::of(arb_id()),
                arb_id(),
                any::<u64>()
            )
                .prop_map(|(volume, tag, old, new, number)| Event::Tag {
                    volume,
                    tag,
                    old,
                    new,
                    number
                }),
            (name, arb_id(), arb_id()).prop_map(|(volume, version, signer)| Event::Sign {
                volume,
                version,
                signer
            }),
            (any::<u64>(), arb_id()).prop_map(|(version, hash)| Event::Snapshot { version, hash }),
            (any::<u64>(), any::<u64>())
                .prop_map(|(version, snapshot)| Event::Timestamp { version, snapshot }),
            (
                any::<u64>(),
                arb_id(),
                prop::collection::vec(arb_id(), 0..3)
            )
                .prop_map(|(version, hash, revoked)| Event::Root {
                    version,
                    hash,
                    revoked
                }),
            (name, any::<u64>(), arb_id()).prop_map(|(volume, number, version)| Event::Gc {
                volume,
                number,
                version
            }),
        ]
    }

    proptest! {
        #[test]
        fn lines_round_trip(time in any::<i64>().prop_filter("not MIN", |t| *t != i64::MIN), event in arb_event()) {
            let e = LogEntry { time, event };
            let line = e.to_line();
            prop_assert_eq!(LogEntry::parse(line.as_bytes()).expect("parses"), e);
        }

        #[test]
        fn parse_is_total_and_canonical(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(e) = LogEntry::parse(&bytes) {
                let line = e.to_line();
                prop_assert_eq!(line.as_bytes(), &bytes[..]);
            }
        }
    }

    #[test]
    fn non_canonical_spellings_are_refused() {
        let good = LogEntry {
            time: 5,
            event: Event::Timestamp {
                version: 9,
                snapshot: 3,
            },
        }
        .to_line();
        assert!(LogEntry::parse(good.as_bytes()).is_ok());
        for bad in [
            good.replace(" 5 ", " 05 "),
            good.replace(" 5 ", " -0 "),
            good.replace("version=9", "version=09"),
            good.replace(" version", "  version"),
            format!("{good} "),
            format!("{good} extra=1"),
            good.replace("timestamp", "timestampx"),
            good.replace("tinycdn-log-v1", "tinycdn-log-v2"),
        ] {
            assert!(LogEntry::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let upper = format!(
            "tinycdn-log-v1 1 snapshot version=1 hash={}",
            "A".repeat(64)
        );
        assert!(LogEntry::parse(upper.as_bytes()).is_err());
    }
}
