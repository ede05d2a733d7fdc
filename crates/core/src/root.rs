//! The trust root, after The Update Framework's root role: which keys exist, which of them sign
//! the root itself, which sign content (manifests, tags, delta indexes: the *targets* role) and
//! which sign the snapshot of all current tags (the *snapshot* role), which sign the
//! short-lived timestamp that names the newest snapshot (the *timestamp* role, an online key),
//! how many must agree for each (thresholds, so that one stolen key is not enough), until when the
//! root may be used, and how it hands over to its successor.
//!
//! A root is replaced, never edited: version N+1 is accepted only when a threshold of version N's
//! root keys *and* a threshold of its own root keys signed it, so a key that leaves the root role
//! (revoked) can no longer sign anything, and an attacker with fewer keys than the threshold
//! cannot rotate the root to keys of their own.
//!
//! # Encoding of the signed body
//! ```text
//! magic "TCDNROOT", u16 format 2, u64 version, i64 expires (Unix seconds),
//! u16 key count, then 32-byte Ed25519 public keys (sorted by key id, no repeats),
//! the root, targets, snapshot and timestamp roles, each: u16 threshold, u16 count, 32-byte key ids (sorted)
//! ```
//! Signatures are a [`SignatureSet`] over the BLAKE3 of the body, context [`ROOT_CONTEXT`].

use crate::encoding::{Reader, Writer};
use crate::sign::{KeyRing, PublicKey, SecretKey, SignatureSet};
use crate::{DecodeError, KeyId, SignatureError};

const MAGIC: &[u8; 8] = b"TCDNROOT";
const FORMAT: u16 = 2;
const WHAT: &str = "trust root";
/// Signature context of trust roots.
pub const ROOT_CONTEXT: &str = "tinycdn root v1";

/// Who may sign for one role, and how many must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// The keys of the role, by id (sorted).
    pub keys: Vec<KeyId>,
    /// Distinct keys that must sign.
    pub threshold: u16,
}

/// A trust root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// Starts at 1; each rotation adds 1.
    pub version: u64,
    /// After this (Unix seconds) the root is not used for new fetches.
    pub expires: i64,
    /// Every key the roles name (sorted by id).
    pub keys: Vec<PublicKey>,
    /// Signs roots.
    pub root: Role,
    /// Signs manifests, tags and delta indexes.
    pub targets: Role,
    /// Signs snapshots (which tags are current).
    pub snapshot: Role,
    /// Signs timestamps (which snapshot is the newest, for a short while).
    pub timestamp: Role,
}

/// Why a root is refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RootError {
    /// Not a valid encoding.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Signatures fail.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// A role is unsatisfiable or names an unknown key.
    #[error("the {role} role {why}")]
    BadRole {
        /// Which role.
        role: &'static str,
        /// What is wrong.
        why: String,
    },
    /// A node that has seen a newer root was handed an older one (which would restore revoked
    /// keys).
    #[error("the trust root given is version {offered}, but this node already used version {stored}: refusing to go back to older keys")]
    Rollback {
        /// The newest version the node has used.
        stored: u64,
        /// The version given.
        offered: u64,
    },
    /// The root has expired: it is not used for new fetches.
    #[error("trust root version {version} expired at {at} (Unix seconds); get a current one from the publisher (`tinycdn trust rotate` makes one, `tinycdn trust publish` puts it where nodes find it)")]
    Expired {
        /// The root's version.
        version: u64,
        /// When it expired, Unix seconds.
        at: i64,
    },
    /// A rotation skipped or repeated a version.
    #[error(
        "root version {got} cannot follow version {current}: rotations go one version at a time"
    )]
    NotNext {
        /// The trusted version.
        current: u64,
        /// The offered version.
        got: u64,
    },
}

impl Root {
    /// A root with one key holding every role (threshold 1).
    #[must_use]
    pub fn single(key: &PublicKey, expires: i64) -> Self {
        let role = Role {
            keys: vec![key.id()],
            threshold: 1,
        };
        Self {
            version: 1,
            expires,
            keys: vec![key.clone()],
            root: role.clone(),
            targets: role.clone(),
            snapshot: role.clone(),
            timestamp: role,
        }
    }

    fn body(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(MAGIC);
        w.u16(FORMAT);
        w.u64(self.version);
        w.i64(self.expires);
        w.u16(u16::try_from(self.keys.len()).unwrap_or(u16::MAX));
        for k in &self.keys {
            w.bytes(&k.to_bytes());
        }
        for (_, role) in self.roles() {
            w.u16(role.threshold);
            w.u16(u16::try_from(role.keys.len()).unwrap_or(u16::MAX));
            for id in &role.keys {
                w.bytes(id.as_bytes());
            }
        }
        w.finish()
    }

    /// Puts keys and role members in canonical order and checks the roles are satisfiable.
    ///
    /// # Errors
    /// [`RootError::BadRole`].
    pub fn normalize(mut self) -> Result<Self, RootError> {
        self.keys.sort_by_key(PublicKey::id);
        self.keys.dedup_by_key(|k| k.id());
        for role in [
            &mut self.root,
            &mut self.targets,
            &mut self.snapshot,
            &mut self.timestamp,
        ] {
            role.keys.sort();
            role.keys.dedup();
        }
        self.check()?;
        Ok(self)
    }

    fn check(&self) -> Result<(), RootError> {
        for (name, role) in self.roles() {
            let bad = |why: String| RootError::BadRole { role: name, why };
            if role.threshold == 0 {
                return Err(bad("has a threshold of 0".into()));
            }
            if usize::from(role.threshold) > role.keys.len() {
                return Err(bad(format!(
                    "needs {} signatures but has only {} keys",
                    role.threshold,
                    role.keys.len()
                )));
            }
            if let Some(id) = role
                .keys
                .iter()
                .find(|id| !self.keys.iter().any(|k| k.id() == **id))
            {
                return Err(bad(format!(
                    "names key {} that the root does not list",
                    id.short()
                )));
            }
        }
        Ok(())
    }

    /// The roles with their names, in encoding order.
    #[must_use]
    pub fn roles(&self) -> [(&'static str, &Role); 4] {
        [
            ("root", &self.root),
            ("targets", &self.targets),
            ("snapshot", &self.snapshot),
            ("timestamp", &self.timestamp),
        ]
    }

    fn ring(&self, role: &Role) -> KeyRing {
        KeyRing::new(
            self.keys
                .iter()
                .filter(|k| role.keys.contains(&k.id()))
                .cloned()
                .collect(),
            usize::from(role.threshold),
        )
    }

    /// The keys and threshold that sign content (manifests, tags, delta indexes).
    #[must_use]
    pub fn targets_ring(&self) -> KeyRing {
        self.ring(&self.targets)
    }

    /// The keys and threshold that sign snapshots.
    #[must_use]
    pub fn snapshot_ring(&self) -> KeyRing {
        self.ring(&self.snapshot)
    }

    /// The keys and threshold that sign timestamps.
    #[must_use]
    pub fn timestamp_ring(&self) -> KeyRing {
        self.ring(&self.timestamp)
    }

    /// The keys and threshold that sign roots.
    #[must_use]
    pub fn root_ring(&self) -> KeyRing {
        self.ring(&self.root)
    }

    /// Whether the root has expired at `now` (Unix seconds).
    #[must_use]
    pub fn expired(&self, now: i64) -> bool {
        now >= self.expires
    }

    /// The BLAKE3 of the body: what signers sign.
    #[must_use]
    pub fn signing_hash(&self) -> [u8; 32] {
        *blake3::hash(&self.body()).as_bytes()
    }
}

/// A root with its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRoot {
    /// The root.
    pub root: Root,
    /// Who signed it.
    pub signatures: SignatureSet,
}

impl SignedRoot {
    /// Adds `key`'s signature (offline signing: anyone holding a root key can add theirs).
    pub fn sign(&mut self, key: &SecretKey) {
        let hash = self.root.signing_hash();
        self.signatures.add(key.sign(ROOT_CONTEXT, &hash));
    }

    /// Canonical bytes: the body, then u32 length and the signature set.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        self.signatures.appended_to(self.root.body())
    }

    /// Decodes canonical bytes (signatures not checked).
    ///
    /// # Errors
    /// A malformed or non-canonical encoding, or unsatisfiable roles.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RootError> {
        let mut r = Reader::new(WHAT, bytes);
        r.header(MAGIC, FORMAT)?;
        let version = r.u64("version")?;
        let expires = r.i64("expires")?;
        let n = usize::from(r.u16("key count")?);
        let mut keys: Vec<PublicKey> = Vec::with_capacity(n.min(r.remaining() / 32));
        for _ in 0..n {
            let k = PublicKey::from_bytes(&r.array("key")?)?;
            if keys.last().is_some_and(|p| p.id() >= k.id()) {
                return Err(r
                    .invalid("keys", "not sorted by key id, or repeated")
                    .into());
            }
            keys.push(k);
        }
        let role = |r: &mut Reader<'_>| -> Result<Role, DecodeError> {
            let threshold = r.u16("threshold")?;
            let n = usize::from(r.u16("role key count")?);
            let mut ids: Vec<KeyId> = Vec::with_capacity(n.min(r.remaining() / 32));
            for _ in 0..n {
                let id = KeyId::from_bytes(r.array("role key")?);
                if ids.last().is_some_and(|p| *p >= id) {
                    return Err(r.invalid("role keys", "not sorted, or repeated"));
                }
                ids.push(id);
            }
            Ok(Role {
                keys: ids,
                threshold,
            })
        };
        let root_role = role(&mut r)?;
        let targets = role(&mut r)?;
        let snapshot = role(&mut r)?;
        let timestamp = role(&mut r)?;
        let signatures = SignatureSet::read_appended(&mut r)?;
        r.finish()?;
        let root = Root {
            version,
            expires,
            keys,
            root: root_role,
            targets,
            snapshot,
            timestamp,
        };
        root.check()?;
        Ok(Self { root, signatures })
    }

    /// Checks that a threshold of this root's own root keys signed it (a trust anchor must be
    /// self-consistent).
    ///
    /// # Errors
    /// [`RootError::Signature`].
    pub fn verify_self(&self) -> Result<(), RootError> {
        self.root.root_ring().verify(
            &self.signatures,
            ROOT_CONTEXT,
            &self.root.signing_hash(),
            "trust root",
        )?;
        Ok(())
    }

    /// Follows published rotations from this root: `published(v)` gives the bytes published as
    /// version `v`, if any. Each is accepted only as a valid successor of the one before; the walk
    /// stops at the first version not published (or after `limit` steps).
    ///
    /// # Errors
    /// A published version that does not decode or is not a valid successor.
    pub fn follow(
        self,
        limit: u32,
        mut published: impl FnMut(u64) -> Option<Vec<u8>>,
    ) -> Result<SignedRoot, RootError> {
        let mut current = self;
        for _ in 0..limit {
            let Some(bytes) = published(current.root.version.saturating_add(1)) else {
                break;
            };
            let next = SignedRoot::from_bytes(&bytes)?;
            current.verify_successor(&next)?;
            current = next;
        }
        Ok(current)
    }

    /// Refuses a root that has expired at `now` (Unix seconds).
    ///
    /// # Errors
    /// [`RootError::Expired`].
    pub fn check_fresh(&self, now: i64) -> Result<(), RootError> {
        if self.root.expired(now) {
            return Err(RootError::Expired {
                version: self.root.version,
                at: self.root.expires,
            });
        }
        Ok(())
    }

    /// Checks that this root may be used by a node that has already used `seen`: not an older
    /// version.
    ///
    /// # Errors
    /// [`RootError::Rollback`].
    pub fn check_not_older(&self, seen: &SignedRoot) -> Result<(), RootError> {
        if seen.root.version > self.root.version {
            return Err(RootError::Rollback {
                stored: seen.root.version,
                offered: self.root.version,
            });
        }
        Ok(())
    }

    /// Checks that `next` may replace this root: the next version, signed by a threshold of this
    /// root's root keys and by a threshold of its own.
    ///
    /// # Errors
    /// [`RootError::NotNext`] or [`RootError::Signature`].
    pub fn verify_successor(&self, next: &SignedRoot) -> Result<(), RootError> {
        if next.root.version != self.root.version.saturating_add(1) {
            return Err(RootError::NotNext {
                current: self.root.version,
                got: next.root.version,
            });
        }
        self.root.root_ring().verify(
            &next.signatures,
            ROOT_CONTEXT,
            &next.root.signing_hash(),
            "new trust root (by the current root keys)",
        )?;
        next.verify_self()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed([n; 32])
    }

    fn signed(root: Root, signers: &[&SecretKey]) -> SignedRoot {
        let mut s = SignedRoot {
            root: root.normalize().expect("valid"),
            signatures: SignatureSet::default(),
        };
        for k in signers {
            s.sign(k);
        }
        s
    }

    #[test]
    fn round_trips_and_verifies_itself() {
        let s = signed(Root::single(&key(1).public(), 2_000_000_000), &[&key(1)]);
        let back = SignedRoot::from_bytes(&s.to_bytes()).expect("decodes");
        assert_eq!(back, s);
        back.verify_self().expect("self-signed");
        assert_eq!(back.root.targets_ring().keys(), &[key(1).public()]);
        assert!(back.root.expired(2_000_000_000));
        assert!(!back.root.expired(1_999_999_999));
        let unsigned = signed(Root::single(&key(1).public(), 1), &[&key(2)]);
        assert!(unsigned.verify_self().is_err());
    }

    #[test]
    fn rotation_needs_the_old_and_the_new_thresholds() {
        let (a, b, c) = (key(1), key(2), key(3));
        let v1 = signed(
            Root {
                version: 1,
                expires: i64::MAX,
                keys: vec![a.public(), b.public()],
                root: Role {
                    keys: vec![a.public().id(), b.public().id()],
                    threshold: 2,
                },
                targets: Role {
                    keys: vec![a.public().id()],
                    threshold: 1,
                },
                snapshot: Role {
                    keys: vec![a.public().id()],
                    threshold: 1,
                },
                timestamp: Role {
                    keys: vec![a.public().id()],
                    threshold: 1,
                },
            },
            &[&a, &b],
        );
        // Version 2 drops b (revoked) and adds c.
        let next = Root {
            version: 2,
            expires: i64::MAX,
            keys: vec![a.public(), c.public()],
            root: Role {
                keys: vec![a.public().id(), c.public().id()],
                threshold: 2,
            },
            targets: Role {
                keys: vec![c.public().id()],
                threshold: 1,
            },
            snapshot: Role {
                keys: vec![c.public().id()],
                threshold: 1,
            },
            timestamp: Role {
                keys: vec![c.public().id()],
                threshold: 1,
            },
        };
        // One old root key is below the old threshold (a stolen key cannot rotate the root).
        let below = signed(next.clone(), &[&a, &c]);
        assert!(matches!(
            v1.verify_successor(&below),
            Err(RootError::Signature(SignatureError::BelowThreshold { .. }))
        ));
        // Old threshold but not the new one's own.
        let half = signed(next.clone(), &[&a, &b]);
        assert!(v1.verify_successor(&half).is_err());
        let v2 = signed(next.clone(), &[&a, &b, &c]);
        v1.verify_successor(&v2).expect("rotated");
        // The revoked key no longer signs content.
        assert!(!v2.root.targets_ring().keys().contains(&b.public()));
        // Following published versions: v2 is reached from v1; a bogus v3 stops the walk.
        let published = |v: u64| match v {
            2 => Some(v2.to_bytes()),
            3 => Some(v1.to_bytes()),
            _ => None,
        };
        assert!(matches!(
            v1.clone().follow(10, published),
            Err(RootError::NotNext { current: 2, got: 1 })
        ));
        let only_v2 = |v: u64| (v == 2).then(|| v2.to_bytes());
        assert_eq!(v1.clone().follow(10, only_v2).expect("walked"), v2);
        assert_eq!(v1.clone().follow(0, only_v2).expect("no step"), v1);
        // Skipping a version is refused.
        let mut v3 = next;
        v3.version = 3;
        assert!(matches!(
            v1.verify_successor(&signed(v3, &[&a, &b, &c])),
            Err(RootError::NotNext { .. })
        ));
    }

    #[test]
    fn unsatisfiable_roles_are_refused() {
        let mut r = Root::single(&key(1).public(), 1);
        r.targets.threshold = 2;
        assert!(matches!(r.normalize(), Err(RootError::BadRole { .. })));
        let mut r = Root::single(&key(1).public(), 1);
        r.root.keys.push(key(2).public().id());
        assert!(r.normalize().is_err(), "a role key the root does not list");
    }
}
