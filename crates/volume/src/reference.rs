//! `VOLUME@REF` references: a tag name or an unambiguous prefix of a version hash.

use std::fmt;

use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::tag::SignedTag;
use tinycdn_core::VersionId;
use tinycdn_store::Store;

use crate::trust::{first_signer, OpenedVersion, SignatureReport, Trust};
use crate::VolumeError;

/// Shortest hash prefix accepted.
pub const MIN_PREFIX: usize = 4;

/// A parsed `VOLUME@REF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The volume.
    pub volume: VolumeName,
    /// The tag name or hash prefix.
    pub spec: String,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.volume, self.spec)
    }
}

impl std::str::FromStr for Reference {
    type Err = VolumeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (volume, spec) = s.split_once('@').ok_or_else(|| VolumeError::BadReference {
            reference: s.to_owned(),
        })?;
        // A tag name, or hex digits of a version id: anything else (`vol@@x`) is malformed.
        let hex =
            !spec.is_empty() && spec.len() <= 64 && spec.chars().all(|c| c.is_ascii_hexdigit());
        if spec.is_empty() || (TagName::new(spec).is_err() && !hex) {
            return Err(VolumeError::BadReference {
                reference: s.to_owned(),
            });
        }
        Ok(Self {
            volume: VolumeName::new(volume)?,
            spec: spec.to_owned(),
        })
    }
}

/// A reference resolved to one version.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The version id.
    pub id: VersionId,
    /// The version number.
    pub number: u64,
    /// The tag it was reached through, if any.
    pub tag: Option<SignedTag>,
}

impl Reference {
    /// Finds the version the reference names: a tag of that name first, else a hash prefix.
    ///
    /// # Errors
    /// Unknown or ambiguous references; store errors.
    pub fn resolve(&self, store: &Store) -> Result<Resolved, VolumeError> {
        if let Ok(tag) = TagName::new(&self.spec) {
            if let Some(signed) = store.read_tag(&self.volume, &tag)? {
                return Ok(Resolved {
                    id: signed.record.version,
                    number: signed.record.number,
                    tag: Some(signed),
                });
            }
        }
        let versions = store.versions(&self.volume)?;
        let is_hex =
            self.spec.len() >= MIN_PREFIX && self.spec.chars().all(|c| c.is_ascii_hexdigit());
        if is_hex {
            let hits: Vec<&(u64, VersionId)> = versions
                .iter()
                .filter(|(_, id)| id.matches_prefix(&self.spec))
                .collect();
            match hits.as_slice() {
                [(number, id)] => {
                    return Ok(Resolved {
                        id: *id,
                        number: *number,
                        tag: None,
                    })
                }
                [] => {}
                many => {
                    return Err(VolumeError::Ambiguous {
                        reference: self.to_string(),
                        matches: many
                            .iter()
                            .map(|(n, id)| format!("version {n} ({})", id.short()))
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                }
            }
        }
        let tags: Vec<String> = store
            .tags(&self.volume)?
            .into_iter()
            .map(|t| t.record.tag.to_string())
            .collect();
        let short_hex =
            self.spec.len() < MIN_PREFIX && self.spec.chars().all(|c| c.is_ascii_hexdigit());
        let hint = if versions.is_empty() {
            format!(" (the store has no volume {:?})", self.volume.as_str())
        } else if tags.is_empty() {
            format!(" (the volume has {} versions and no tags)", versions.len())
        } else {
            format!(" (tags: {})", tags.join(", "))
        };
        let hint = if short_hex && !versions.is_empty() {
            format!("{hint}; a version hash prefix needs at least {MIN_PREFIX} hex digits")
        } else {
            hint
        };
        Err(VolumeError::UnknownReference {
            reference: self.to_string(),
            hint,
        })
    }

    /// Resolves and reads the version and checks the signatures of its manifest and of the tag it
    /// was reached through against `trust`, reporting rather than refusing what does not verify.
    ///
    /// # Errors
    /// Resolution and store errors.
    pub fn inspect(&self, store: &Store, trust: &Trust) -> Result<OpenedVersion, VolumeError> {
        let resolved = self.resolve(store)?;
        let (manifest, sigs) = store.read_manifest(&resolved.id)?;
        if manifest.volume != self.volume {
            return Err(VolumeError::Damaged {
                reference: self.to_string(),
                why: format!(
                    "the manifest belongs to volume {:?}",
                    manifest.volume.as_str()
                ),
            });
        }
        let tag = match &resolved.tag {
            Some(t) if !trust.is_empty() => Some(first_signer(t.verify(trust.ring()), "tag")),
            _ => None,
        };
        Ok(OpenedVersion {
            signatures: SignatureReport::check(&resolved.id, &sigs, trust),
            id: resolved.id,
            manifest,
            tag,
        })
    }

    /// Resolves and reads the version, refusing it unless the manifest and the tag it was reached
    /// through are signed by a trusted key (when `trust` names any).
    ///
    /// # Errors
    /// Resolution, store or signature errors.
    pub fn open(&self, store: &Store, trust: &Trust) -> Result<OpenedVersion, VolumeError> {
        let version = self.inspect(store, trust)?;
        if let Some(Err(e)) = &version.tag {
            return Err(e.clone().into());
        }
        version.signatures.require()?;
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        let r: Reference = "site-media@stable".parse().expect("valid");
        assert_eq!(r.volume.as_str(), "site-media");
        assert_eq!(r.spec, "stable");
        assert!("nope".parse::<Reference>().is_err());
        assert!("vol@".parse::<Reference>().is_err());
        assert!("../x@y".parse::<Reference>().is_err());
        assert!(matches!(
            "vol@@x".parse::<Reference>(),
            Err(VolumeError::BadReference { .. })
        ));
        let hex: Reference = "vol@66".parse().expect("a short hex spec may be a tag");
        assert_eq!(hex.spec, "66");
    }
}

/// What [`cosign`] signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The version whose manifest was signed.
    pub version: VersionId,
    /// Whether its delta index was signed too.
    pub delta_index: bool,
    /// Whether the tag the reference named was signed too.
    pub tag: bool,
}

/// Adds `key`'s signature to the manifest of the version `reference` names, to its delta index,
/// and to the tag when the reference is a tag (co-signing for thresholds; offline signing).
///
/// # Errors
/// An unknown reference, store errors.
pub fn cosign(
    store: &Store,
    reference: &Reference,
    key: &tinycdn_core::sign::SecretKey,
) -> Result<Cosigned, VolumeError> {
    let _lock = store.lock()?;
    let resolved = reference.resolve(store)?;
    let id = resolved.id;
    let (manifest, mut sigs) = store.read_manifest(&id)?;
    sigs.add(key.sign(tinycdn_core::sign::MANIFEST_CONTEXT, id.as_bytes()));
    store.put_manifest(&manifest.to_bytes(), &sigs)?;
    let mut done = Cosigned {
        version: id,
        delta_index: false,
        tag: false,
    };
    if let Some(mut index) = store.read_delta_index(&id)? {
        index.cosign(key);
        store.put_delta_index(&index)?;
        done.delta_index = true;
    }
    if let Some(mut tag) = resolved.tag {
        tag.cosign(key);
        store.put_tag(&tag)?;
        done.tag = true;
    }
    crate::log::append(
        store,
        vec![tinycdn_core::log_entry::Event::Sign {
            volume: manifest.volume.to_string(),
            version: *id.as_bytes(),
            signer: *key.public().id().as_bytes(),
        }],
    )?;
    Ok(done)
}
