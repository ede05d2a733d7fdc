//! Whom a consumer trusts, and what a version's signatures say about it.
//!
//! Trust comes either from public key files (`*.pub`: any one of them may sign, the one-key case)
//! or from a trust root file (`trust.json`, see [`tinycdn_core::root`]): keys, roles, thresholds
//! and an expiry, signed by its own root keys. Content (manifests, tags, delta indexes) must be
//! signed by the root's *targets* threshold.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tinycdn_core::manifest::Manifest;
use tinycdn_core::root::{Role, Root, SignedRoot};
use tinycdn_core::sign::{KeyRing, PublicKey, Signature, SignatureSet, MANIFEST_CONTEXT};
use tinycdn_core::{KeyId, SignatureError, VersionId};

use tinycdn_store::Store;

use crate::VolumeError;

/// The public keys a consumer accepts signatures from, and how many must sign (`--trust FILE`,
/// repeatable for `.pub` files; one trust root file).
#[derive(Debug, Clone, Default)]
pub struct Trust {
    ring: KeyRing,
    root: Option<SignedRoot>,
}

/// The JSON form of a trust root file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootFile {
    #[serde(rename = "type")]
    kind: String,
    version: u64,
    /// Unix seconds.
    expires: i64,
    /// Key id → public key (hex).
    keys: BTreeMap<String, String>,
    roles: BTreeMap<String, RoleFile>,
    signatures: Vec<SignatureFile>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    keyids: Vec<String>,
    threshold: u16,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    keyid: String,
    sig: String,
}

const ROOT_TYPE: &str = "tinycdn-root-v2";

/// The JSON text of a trust root file.
#[must_use]
pub fn root_to_json(root: &SignedRoot) -> String {
    let r = &root.root;
    let role = |role: &Role| RoleFile {
        keyids: role.keys.iter().map(KeyId::to_hex).collect(),
        threshold: role.threshold,
    };
    let file = RootFile {
        kind: ROOT_TYPE.into(),
        version: r.version,
        expires: r.expires,
        keys: r
            .keys
            .iter()
            .map(|k| (k.id().to_hex(), hex::encode(k.to_bytes())))
            .collect(),
        roles: [
            ("root".to_owned(), role(&r.root)),
            ("targets".to_owned(), role(&r.targets)),
            ("snapshot".to_owned(), role(&r.snapshot)),
            ("timestamp".to_owned(), role(&r.timestamp)),
        ]
        .into_iter()
        .collect(),
        signatures: root
            .signatures
            .signatures()
            .iter()
            .map(|s| SignatureFile {
                keyid: s.key.to_hex(),
                sig: hex::encode(s.sig),
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
    text.push('\n');
    text
}

/// Most rotations followed at once.
pub const MAX_ROTATIONS: u32 = 1024;

/// The newest root reachable from `root` through the rotations `store` holds (`roots/N`).
///
/// # Errors
/// [`VolumeError::Root`] for a stored rotation that does not verify; store errors.
pub fn follow_stored(store: &Store, root: SignedRoot) -> Result<SignedRoot, VolumeError> {
    let mut failure = None;
    let newest = root.follow(MAX_ROTATIONS, |v| match store.read_root_bytes(v) {
        Ok(b) => b,
        Err(e) => {
            failure = Some(e);
            None
        }
    })?;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(newest),
    }
}

/// Where a store keeps the newest trust root a pull used (pinned: never replaced by an older one).
pub const PINNED_ROOT_KEY: tinycdn_store::Key = tinycdn_store::Key::PinnedRoot;

/// Publishes a trust root in the store (`roots/<version>`, served as `/r/VERSION`) so that nodes
/// holding an older root walk to it by themselves. The root must be signed by its own root
/// threshold and, when the store publishes its predecessor, be a valid successor of it; the same
/// version is never replaced by different bytes. Returns whether the predecessor was published
/// (and checked): without it, nodes on older roots cannot reach this one.
///
/// # Errors
/// [`VolumeError::Root`], [`VolumeError::RootConflict`], store errors.
pub fn publish_root(store: &Store, root: &SignedRoot) -> Result<bool, VolumeError> {
    root.verify_self()?;
    let _lock = store.lock()?;
    let version = root.root.version;
    let bytes = root.to_bytes();
    if let Some(existing) = store.read_root_bytes(version)? {
        if existing != bytes {
            return Err(VolumeError::RootConflict { version });
        }
    }
    let predecessor = match version.checked_sub(1) {
        Some(v) if v > 0 => store.read_root_bytes(v)?,
        _ => None,
    };
    let mut revoked = Vec::new();
    if let Some(prev) = &predecessor {
        let prev = SignedRoot::from_bytes(prev)?;
        prev.verify_successor(root)?;
        let kept: std::collections::HashSet<_> = root.root.keys.iter().map(|k| k.id()).collect();
        revoked = prev
            .root
            .keys
            .iter()
            .map(|k| k.id())
            .filter(|id| !kept.contains(id))
            .map(|id| *id.as_bytes())
            .collect();
    }
    store.put_root(root)?;
    crate::log::append(
        store,
        vec![tinycdn_core::log_entry::Event::Root {
            version,
            hash: *blake3::hash(&bytes).as_bytes(),
            revoked,
        }],
    )?;
    Ok(predecessor.is_some())
}

/// Parses a trust root file (signatures are not checked here).
///
/// # Errors
/// Malformed JSON, keys or roles.
pub fn root_from_json(text: &str) -> Result<SignedRoot, String> {
    let f: RootFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if f.kind != ROOT_TYPE {
        return Err(format!("type is {:?}, not {ROOT_TYPE:?}", f.kind));
    }
    let mut keys = Vec::new();
    for (id, hex_key) in &f.keys {
        let mut b = [0u8; 32];
        hex::decode_to_slice(hex_key, &mut b).map_err(|e| format!("key {id}: {e}"))?;
        let k = PublicKey::from_bytes(&b).map_err(|e| e.to_string())?;
        if k.id().to_hex() != *id {
            return Err(format!(
                "key {id} is listed under the wrong id ({})",
                k.id()
            ));
        }
        keys.push(k);
    }
    let role = |name: &str| -> Result<Role, String> {
        let r = f.roles.get(name).ok_or_else(|| format!("no {name} role"))?;
        Ok(Role {
            keys: r
                .keyids
                .iter()
                .map(|id| id.parse::<KeyId>().map_err(|e| e.to_string()))
                .collect::<Result<_, _>>()?,
            threshold: r.threshold,
        })
    };
    if let Some(extra) = f
        .roles
        .keys()
        .find(|n| !["root", "targets", "snapshot", "timestamp"].contains(&n.as_str()))
    {
        return Err(format!("unknown role {extra:?}"));
    }
    let root = Root {
        version: f.version,
        expires: f.expires,
        keys,
        root: role("root")?,
        targets: role("targets")?,
        snapshot: role("snapshot")?,
        timestamp: role("timestamp")?,
    }
    .normalize()
    .map_err(|e| e.to_string())?;
    let mut signatures = SignatureSet::default();
    for s in &f.signatures {
        let mut sig = [0u8; 64];
        hex::decode_to_slice(&s.sig, &mut sig).map_err(|e| format!("signature: {e}"))?;
        signatures.add(Signature {
            key: s
                .keyid
                .parse()
                .map_err(|e: tinycdn_core::DecodeError| e.to_string())?,
            sig,
        });
    }
    Ok(SignedRoot { root, signatures })
}

/// Reads and checks a trust root file: well formed and signed by its own root threshold.
///
/// # Errors
/// [`VolumeError::Unsupported`] naming what is wrong.
pub fn load_root(path: &Path) -> Result<SignedRoot, VolumeError> {
    let bad = |why: String| VolumeError::Unsupported {
        path: path.to_owned(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|source| VolumeError::Source {
        path: path.to_owned(),
        source,
    })?;
    let root = root_from_json(&text).map_err(|e| bad(format!("is not a valid trust root: {e}")))?;
    root.verify_self()
        .map_err(|e| bad(format!("is not signed by its own root keys: {e}")))?;
    Ok(root)
}

/// Invariant check shared by the `root_json` fuzz target and its corpus replay: parsing arbitrary
/// text as a trust root never panics, and a parsed root survives a write and a re-read unchanged.
///
/// # Panics
/// When a parsed root does not round-trip.
pub fn root_json_invariant(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(root) = root_from_json(text) {
        let again = root_from_json(&root_to_json(&root)).expect("a written root parses");
        assert_eq!(again, root, "trust root JSON does not round-trip");
        let _ = root.verify_self();
    }
}

fn is_root_file(path: &Path, text: &str) -> bool {
    path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{')
}

impl Trust {
    /// Loads public key files (`*.pub`) or one trust root file (`*.json`).
    ///
    /// # Errors
    /// A file that cannot be read, is not a key or a valid self-signed root, or a root mixed with
    /// other files.
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Self, VolumeError> {
        let mut keys = Vec::new();
        let mut root = None;
        for p in paths {
            let p = p.as_ref();
            let text = std::fs::read_to_string(p).map_err(|source| VolumeError::Source {
                path: p.to_owned(),
                source,
            })?;
            if is_root_file(p, &text) {
                if paths.len() > 1 {
                    return Err(VolumeError::Unsupported {
                        path: p.to_owned(),
                        why: "is a trust root, which must be the only --trust".into(),
                    });
                }
                root = Some(load_root(p)?);
                continue;
            }
            keys.push(
                PublicKey::from_text(&text).map_err(|e| VolumeError::Unsupported {
                    path: p.to_owned(),
                    why: e.to_string(),
                })?,
            );
        }
        Ok(match root {
            Some(r) => Self {
                ring: r.root.targets_ring(),
                root: Some(r),
            },
            None => Self::from_keys(keys),
        })
    }

    /// Trusts exactly these keys, any one of which may sign.
    #[must_use]
    pub fn from_keys(keys: Vec<PublicKey>) -> Self {
        Self {
            ring: KeyRing::new(keys, 1),
            root: None,
        }
    }

    /// Trusts what this root's targets role signs.
    #[must_use]
    pub fn from_root(root: SignedRoot) -> Self {
        Self {
            ring: root.root.targets_ring(),
            root: Some(root),
        }
    }

    /// Whether no key is trusted (nothing was asked to be checked).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// The trusted keys and threshold for content.
    #[must_use]
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// The keys and threshold for snapshots: the root's snapshot role, or the content keys when
    /// trust came from `.pub` files.
    #[must_use]
    pub fn snapshot_ring(&self) -> KeyRing {
        self.root
            .as_ref()
            .map_or_else(|| self.ring.clone(), |r| r.root.snapshot_ring())
    }

    /// The keys and threshold for timestamps: the root's timestamp role, or the content keys
    /// when trust came from `.pub` files.
    #[must_use]
    pub fn timestamp_ring(&self) -> KeyRing {
        self.root
            .as_ref()
            .map_or_else(|| self.ring.clone(), |r| r.root.timestamp_ring())
    }

    /// With a trust root: the newest root reachable from it through the rotations this store
    /// holds (`roots/N`, each a valid successor of the one before), which must not be older
    /// than the root the store pinned (a pull reached that one by walking verified rotations;
    /// the older file given would still trust revoked keys).
    ///
    /// # Errors
    /// [`VolumeError::Root`]: a stored rotation that does not verify, or the pinned root is
    /// newer than any reachable one; store errors.
    pub fn followed_in(self, store: &Store) -> Result<Self, VolumeError> {
        let Some(given) = self.root else {
            return Ok(self);
        };
        let newest = follow_stored(store, given)?;
        let pinned = store
            .read_key_if_any(&tinycdn_store::Key::PinnedRoot)?
            .and_then(|b| SignedRoot::from_bytes(&b).ok());
        if let Some(p) = pinned {
            newest.check_not_older(&p)?;
        }
        Ok(Self::from_root(newest))
    }

    /// The trust root, when trust came from one.
    #[must_use]
    pub fn root(&self) -> Option<&SignedRoot> {
        self.root.as_ref()
    }

    /// Refuses a trust root that has expired at `now` (Unix seconds): new fetches must not rely
    /// on it (content already verified and stored stays usable).
    ///
    /// # Errors
    /// [`VolumeError::Expired`].
    pub fn check_fresh(&self, now: i64) -> Result<(), VolumeError> {
        match &self.root {
            Some(r) if r.root.expired(now) => Err(VolumeError::Expired {
                what: format!("trust root version {}", r.root.version),
                at: r.root.expires,
            }),
            _ => Ok(()),
        }
    }
}

/// The first signer of a verified threshold (there is at least one).
pub(crate) fn first_signer(
    r: Result<Vec<KeyId>, SignatureError>,
    what: &'static str,
) -> Result<KeyId, SignatureError> {
    r.and_then(|ks| ks.first().copied().ok_or(SignatureError::Unsigned { what }))
}

/// What the signatures on a version say.
#[derive(Debug, Clone)]
pub struct SignatureReport {
    /// Every key id that signed.
    pub signers: Vec<KeyId>,
    /// `None` when no trust was given; otherwise whether a trusted key's signature verifies.
    pub verified: Option<Result<KeyId, SignatureError>>,
}

impl SignatureReport {
    /// Checks a manifest's signatures against `trust`.
    #[must_use]
    pub fn check(id: &VersionId, signatures: &SignatureSet, trust: &Trust) -> Self {
        let signers = signatures.signatures().iter().map(|s| s.key).collect();
        let verified = (!trust.is_empty()).then(|| {
            first_signer(
                trust
                    .ring()
                    .verify(signatures, MANIFEST_CONTEXT, id.as_bytes(), "manifest"),
                "manifest",
            )
        });
        Self { signers, verified }
    }

    /// Fails unless trust was given and a trusted signature verified; passes when no trust was given.
    ///
    /// # Errors
    /// The signature failure.
    pub fn require(&self) -> Result<(), SignatureError> {
        match &self.verified {
            None | Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e.clone()),
        }
    }
}

/// A version read from the store with what its signatures say.
#[derive(Debug, Clone)]
pub struct OpenedVersion {
    /// The version id.
    pub id: VersionId,
    /// The manifest.
    pub manifest: Manifest,
    /// What the manifest's signatures say.
    pub signatures: SignatureReport,
    /// Whether the tag the version was reached through is signed by a trusted key (`None` when it
    /// was named by hash or no trust was given).
    pub tag: Option<Result<KeyId, SignatureError>>,
}
