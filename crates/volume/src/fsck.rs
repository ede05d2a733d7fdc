//! Verifying every object in a store, quarantining damaged ones, and reporting which versions and
//! tags they break.

use std::collections::{BTreeSet, HashMap, HashSet};

use rayon::prelude::*;
use tinycdn_core::manifest::FileContent;
use tinycdn_core::{FileId, VersionId};
use tinycdn_store::{Key, Store, StoreError};

use crate::trust::{SignatureReport, Trust};
use crate::{Progress, VolumeError};

/// One thing fsck found wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// `corrupt`, `missing`, `chunk-mismatch`, `bad-signature` or `dangling-tag`.
    pub kind: &'static str,
    /// The object, version or tag concerned.
    pub subject: String,
    /// What exactly is wrong.
    pub detail: String,
}

/// What fsck checked and found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FsckReport {
    /// File objects verified.
    pub objects: u64,
    /// Bytes of file objects verified.
    pub bytes: u64,
    /// Manifests verified.
    pub manifests: u64,
    /// Indexed versions checked for completeness.
    pub versions: u64,
    /// Tags checked.
    pub tags: u64,
    /// Objects no indexed version references (left for `gc`).
    pub unreferenced_objects: u64,
    /// What is wrong.
    pub problems: Vec<Problem>,
    /// Keys moved to `quarantine/`.
    pub quarantined: Vec<String>,
}

impl FsckReport {
    /// True when nothing is wrong.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks that every chunk of the manifest's chunk list matches the object's bytes at its offset.
fn chunk_mismatch(store: &Store, file: &FileContent, exec: bool) -> Option<String> {
    for (offset, c) in file.chunk_offsets() {
        if let Err(e) = store.read_chunk(&file.hash, exec, offset, &c.id, c.len) {
            return Some(format!("chunk {} at byte {offset}: {e}", c.id.short()));
        }
    }
    None
}

/// Verifies the whole store: every object against its name, every manifest against its id and
/// signature, every indexed version's files and chunk lists against the objects, every tag.
/// Damaged objects and manifests are moved to `quarantine/`, so nothing serves them again; a
/// re-publish or pull restores them.
///
/// # Errors
/// Store errors that stop the check itself (not damage, which is reported).
pub fn fsck(
    store: &Store,
    trust: &Trust,
    progress: &dyn Progress,
) -> Result<FsckReport, VolumeError> {
    let _lock = store.lock()?;
    let mut report = FsckReport::default();
    let keys = store.object_keys()?;
    let sizes: Vec<u64> = keys
        .iter()
        .map(|k| Ok(store.object_key_size(k)?.unwrap_or(0)))
        .collect::<Result<_, StoreError>>()?;
    report.objects = keys.len() as u64;
    report.bytes = sizes.iter().sum();
    progress.start("verifying objects", report.bytes);
    let verdicts: Vec<Option<String>> = keys
        .par_iter()
        .zip(&sizes)
        .map(|(key, size)| {
            let verdict = match Store::parse_object_key(key) {
                None => Some("the name is not a file hash".to_owned()),
                Some((id, exec)) => match store.verify_object(&id, exec) {
                    Ok(true) => None,
                    Ok(false) => Some("its bytes do not hash to its name".to_owned()),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e),
                },
            };
            progress.advance(*size);
            Ok(verdict)
        })
        .collect::<Result<_, StoreError>>()?;
    progress.finish();
    let mut good: HashSet<(FileId, bool)> = HashSet::new();
    for (key, verdict) in keys.iter().zip(verdicts) {
        match verdict {
            None => {
                if let Some(obj) = Store::parse_object_key(key) {
                    good.insert(obj);
                }
            }
            Some(detail) => {
                report.quarantined.push(store.quarantine(key)?);
                report.problems.push(Problem {
                    kind: "corrupt",
                    subject: key.clone(),
                    detail,
                });
            }
        }
    }

    let mut good_manifests: HashSet<VersionId> = HashSet::new();
    for id in store.manifest_ids()? {
        report.manifests += 1;
        match store.read_manifest(&id) {
            Ok((m, sigs)) => {
                let sig = SignatureReport::check(&id, &sigs, trust);
                if let Err(e) = sig.require() {
                    report.problems.push(Problem {
                        kind: "bad-signature",
                        subject: format!("{}@{}", m.volume, id.short()),
                        detail: e.to_string(),
                    });
                }
                good_manifests.insert(id);
            }
            Err(e @ (StoreError::Corrupt { .. } | StoreError::Decode { .. })) => {
                let key = Key::Manifest(id).to_string();
                report.quarantined.push(store.quarantine(&key)?);
                report.problems.push(Problem {
                    kind: "corrupt",
                    subject: key,
                    detail: e.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        }
    }

    // Files of indexed versions: present, intact, and matching their chunk lists (checked once per
    // distinct object and chunk list).
    let mut referenced: HashSet<(FileId, bool)> = HashSet::new();
    let mut chunk_lists: HashMap<(FileId, bool), FileContent> = HashMap::new();
    for volume in store.volumes()? {
        let versions = store.versions(&volume)?;
        for (number, id) in &versions {
            report.versions += 1;
            let subject = format!("{volume} version {number} ({})", id.short());
            if !good_manifests.contains(id) {
                report.problems.push(Problem {
                    kind: "missing",
                    subject,
                    detail: "its manifest is missing or damaged".into(),
                });
                continue;
            }
            let (m, _) = store.read_manifest(id)?;
            let mut missing = BTreeSet::new();
            for e in &m.entries {
                let Some(f) = crate::read::FileRef::of(e) else {
                    continue;
                };
                let obj = (f.content.hash, f.exec);
                referenced.insert(obj);
                if good.contains(&obj) {
                    chunk_lists.entry(obj).or_insert_with(|| f.content.clone());
                } else {
                    missing.insert(e.path.to_string());
                }
            }
            if !missing.is_empty() {
                report.problems.push(Problem {
                    kind: "missing",
                    subject,
                    detail: format!(
                        "{} files are missing or damaged: {}",
                        missing.len(),
                        missing.into_iter().take(5).collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
        for tag in store.tags(&volume)? {
            report.tags += 1;
            let subject = format!("{volume}@{}", tag.record.tag);
            if !versions.iter().any(|(_, id)| *id == tag.record.version) {
                report.problems.push(Problem {
                    kind: "dangling-tag",
                    subject: subject.clone(),
                    detail: format!(
                        "points at version {} which is not in the store",
                        tag.record.version.short()
                    ),
                });
            }
            if !trust.is_empty() {
                if let Err(e) = tag.verify(trust.ring()) {
                    report.problems.push(Problem {
                        kind: "bad-signature",
                        subject,
                        detail: e.to_string(),
                    });
                }
            }
        }
    }
    let mismatches: Vec<Problem> = chunk_lists
        .par_iter()
        .filter(|(_, f)| f.chunks.len() > 1)
        .filter_map(|((id, exec), f)| {
            chunk_mismatch(store, f, *exec).map(|detail| Problem {
                kind: "chunk-mismatch",
                subject: Store::object_key(id, *exec),
                detail,
            })
        })
        .collect();
    report.problems.extend(mismatches);
    report.unreferenced_objects = good.iter().filter(|o| !referenced.contains(o)).count() as u64;
    Ok(report)
}
