//! Whom a consumer trusts, and what a version's signatures say about it.

use std::path::Path;

use tinycdn_core::manifest::Manifest;
use tinycdn_core::sign::{PublicKey, SignatureSet, MANIFEST_CONTEXT};
use tinycdn_core::{KeyId, SignatureError, VersionId};

use crate::VolumeError;

/// The public keys a consumer accepts signatures from (`--trust FILE`, repeatable).
#[derive(Debug, Clone, Default)]
pub struct Trust {
    keys: Vec<PublicKey>,
}

impl Trust {
    /// Loads public key files (`*.pub`).
    ///
    /// # Errors
    /// A file that cannot be read or is not a public key.
    pub fn load(paths: &[impl AsRef<Path>]) -> Result<Self, VolumeError> {
        let mut keys = Vec::new();
        for p in paths {
            let p = p.as_ref();
            let text = std::fs::read_to_string(p).map_err(|source| VolumeError::Source {
                path: p.to_owned(),
                source,
            })?;
            keys.push(
                PublicKey::from_text(&text).map_err(|e| VolumeError::Unsupported {
                    path: p.to_owned(),
                    why: e.to_string(),
                })?,
            );
        }
        Ok(Self { keys })
    }

    /// Trusts exactly these keys.
    #[must_use]
    pub fn from_keys(keys: Vec<PublicKey>) -> Self {
        Self { keys }
    }

    /// Whether no key is trusted (nothing was asked to be checked).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The trusted keys.
    #[must_use]
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }
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
        let verified = (!trust.is_empty())
            .then(|| signatures.verify(MANIFEST_CONTEXT, id.as_bytes(), trust.keys(), "manifest"));
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
