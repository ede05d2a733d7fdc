//! Verifying every object in a store, quarantining damaged ones, and reporting which versions and
//! tags they break.

use std::collections::{BTreeSet, HashSet};

use rayon::prelude::*;
use tinycdn_core::{ChunkId, FileId, VersionId};
use tinycdn_store::{Store, StoreError};

use crate::trust::{SignatureReport, Trust};
use crate::{Progress, VolumeError};

/// One thing fsck found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `corrupt`, `undecodable`, `missing`, `bad-signature` or `dangling-tag`.
    pub kind: &'static str,
    /// The object, version or tag concerned.
    pub subject: String,
    /// What exactly is wrong.
    pub detail: String,
}

/// What fsck checked and found.
#[derive(Debug, Clone, Default)]
pub struct FsckReport {
    /// Chunks verified.
    pub chunks: u64,
    /// Assembled files verified.
    pub files: u64,
    /// Manifests verified.
    pub manifests: u64,
    /// Indexed versions checked for completeness.
    pub versions: u64,
    /// Tags checked.
    pub tags: u64,
    /// Chunks no indexed version references (left for `gc`).
    pub unreferenced_chunks: u64,
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

/// Returns the keys whose bytes do not hash to the name at the end of the key.
fn bad_objects(
    store: &Store,
    keys: &[String],
    progress: &dyn Progress,
) -> Result<Vec<(String, String)>, VolumeError> {
    let results: Vec<Option<(String, String)>> = keys
        .par_iter()
        .map(|key| {
            let name = key.rsplit('/').next().unwrap_or_default();
            let name = name.strip_suffix(".x").unwrap_or(name);
            let expected: Option<FileId> = name.parse().ok();
            let outcome = match store.backend().hash(key) {
                Ok(actual) => match expected {
                    Some(e) if e.as_bytes() == &actual => None,
                    Some(_) => Some((key.clone(), format!("bytes hash to {}", hex_short(&actual)))),
                    None => Some((key.clone(), "the name is not a hash".to_owned())),
                },
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e),
            };
            progress.advance(1);
            Ok(outcome)
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(results.into_iter().flatten().collect())
}

fn hex_short(bytes: &[u8; 32]) -> String {
    bytes[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// Verifies the whole store. Damaged chunks, assembled files and manifests are moved to
/// `quarantine/` (so nothing serves them again; a re-publish or pull restores them).
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
    let chunk_keys = store.backend().list("chunks")?;
    let file_keys = store.file_keys()?;
    progress.start(
        "verifying objects",
        (chunk_keys.len() + file_keys.len()) as u64,
    );
    let mut bad = bad_objects(store, &chunk_keys, progress)?;
    bad.extend(bad_objects(store, &file_keys, progress)?);
    progress.finish();
    report.chunks = chunk_keys.len() as u64;
    report.files = file_keys.len() as u64;
    let mut bad_chunks: HashSet<ChunkId> = HashSet::new();
    for (key, detail) in bad {
        if let Some(id) = key
            .strip_prefix("chunks/")
            .and_then(|k| k.rsplit('/').next()?.parse().ok())
        {
            bad_chunks.insert(id);
        }
        report.quarantined.push(store.quarantine(&key)?);
        report.problems.push(Problem {
            kind: "corrupt",
            subject: key,
            detail,
        });
    }
    let present: HashSet<ChunkId> = store
        .chunk_ids()?
        .into_iter()
        .filter(|id| !bad_chunks.contains(id))
        .collect();

    let mut good_manifests: HashSet<VersionId> = HashSet::new();
    let mut referenced: HashSet<ChunkId> = HashSet::new();
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
                let key = format!("manifests/{id}");
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
            let missing: BTreeSet<String> = m
                .files()
                .flat_map(|(_, f)| f.chunks.iter())
                .filter(|c| {
                    referenced.insert(c.id);
                    !present.contains(&c.id)
                })
                .map(|c| c.id.short())
                .collect();
            if !missing.is_empty() {
                report.problems.push(Problem {
                    kind: "missing",
                    subject,
                    detail: format!(
                        "{} chunks are missing or damaged: {}",
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
                if let Err(e) = tag.verify(trust.keys()) {
                    report.problems.push(Problem {
                        kind: "bad-signature",
                        subject,
                        detail: e.to_string(),
                    });
                }
            }
        }
    }
    report.unreferenced_chunks =
        present.iter().filter(|id| !referenced.contains(id)).count() as u64;
    Ok(report)
}
