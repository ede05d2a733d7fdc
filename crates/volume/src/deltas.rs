//! Binary deltas made at publish time, for the files whose changes content-defined chunking cannot
//! find (recompiled binaries, rewritten archives, small edits inside one chunk).
//!
//! For each file of the new version that the parent version lacks, the predecessor is the parent's
//! file at the same path or, when the path is new, a file the parent had and the new version
//! dropped (a rename), chosen by shared chunks and then by extension and size. A delta is made when
//! some of the file's chunks are missing from the parent, and kept only when it saves a clear
//! margin over those missing chunk bytes: [`MIN_SAVING`] bytes and [`MIN_SAVING_RATIO`] of them. Files are taken largest saving first, until the CPU
//! budget is spent. The kept deltas and the cost model (method, size, CPU seconds, the chunk bytes
//! each replaces) go into a signed [`DeltaIndex`] for the version.
//!
//! Memory: one file pair at a time; bsdiff+lzma needs about 5× the base plus the target (suffix
//! array of 4 bytes per base byte), so files above [`DeltaOptions::max_file`] (default 256 MiB)
//! get no delta and travel as chunks.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tinycdn_core::delta_index::{DeltaEntry, DeltaIndex};
use tinycdn_core::manifest::{Entry, FileContent, Manifest};
use tinycdn_core::sign::SecretKey;
use tinycdn_core::{ChunkId, FileId, VersionId};
use tinycdn_store::Store;

use crate::read::FileRef;
use crate::VolumeError;

/// A delta is kept only when it saves at least this many bytes over the missing chunks...
pub const MIN_SAVING: u64 = 4096;
/// ...and at least this fraction of them (applying costs the node CPU, keeping costs storage).
pub const MIN_SAVING_RATIO: f64 = 0.005;

/// How publish makes deltas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaOptions {
    /// Make deltas at all.
    pub enabled: bool,
    /// Stop starting new deltas once this much CPU time is spent.
    pub cpu_budget: Duration,
    /// Larger files (base or target) get no delta.
    pub max_file: u64,
}

impl Default for DeltaOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            cpu_budget: Duration::from_secs(300),
            max_file: 256 << 20,
        }
    }
}

/// What delta making did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeltaReport {
    /// Changed files considered (with a predecessor and missing chunks).
    pub candidates: u64,
    /// Deltas kept.
    pub kept: u64,
    /// Deltas made but not kept.
    pub rejected: u64,
    /// Candidates skipped because the CPU budget ran out.
    pub skipped_budget: u64,
    /// Bytes of the kept deltas.
    pub delta_bytes: u64,
    /// Missing chunk bytes the kept deltas replace.
    pub replaced_bytes: u64,
    /// CPU time spent, kept and rejected.
    #[serde(rename = "cpu_seconds", serialize_with = "seconds")]
    pub cpu: Duration,
}

/// A duration as fractional seconds (`cpu_seconds` in `--json`).
fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// CPU time of this process so far.
fn cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

fn extension(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?;
    name.rsplit_once('.').map(|(_, e)| e)
}

/// One file to make a delta for.
struct Pair<'m> {
    base: FileRef<'m>,
    target: FileRef<'m>,
    missing: u64,
}

/// Chooses the predecessor of every changed file.
fn pairs<'m>(parent: &'m Manifest, new: &'m Manifest, max_file: u64) -> Vec<Pair<'m>> {
    let parent_hashes: HashSet<FileId> = parent.files().map(|(_, f)| f.hash).collect();
    let parent_chunks: HashSet<ChunkId> = parent
        .files()
        .flat_map(|(_, f)| f.chunks.iter().map(|c| c.id))
        .collect();
    let by_path: HashMap<&str, &Entry> = parent
        .entries
        .iter()
        .filter(|e| e.file().is_some())
        .map(|e| (e.path.as_str(), e))
        .collect();
    let new_paths: HashSet<&str> = new.entries.iter().map(|e| e.path.as_str()).collect();
    let new_hashes: HashSet<FileId> = new.files().map(|(_, f)| f.hash).collect();
    // Files the new version dropped: candidates for renames.
    let dropped: Vec<&Entry> = parent
        .entries
        .iter()
        .filter(|e| {
            e.file()
                .is_some_and(|f| !new_hashes.contains(&f.hash) && f.size <= max_file)
                && !new_paths.contains(e.path.as_str())
        })
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for e in &new.entries {
        let Some(target) = FileRef::of(e) else {
            continue;
        };
        let t = target.content;
        if t.size == 0
            || t.size > max_file
            || parent_hashes.contains(&t.hash)
            || !seen.insert(t.hash)
        {
            continue;
        }
        let missing: u64 = t
            .chunks
            .iter()
            .filter(|c| !parent_chunks.contains(&c.id))
            .map(|c| u64::from(c.len))
            .sum();
        if missing == 0 {
            continue;
        }
        let same_path = by_path
            .get(e.path.as_str())
            .and_then(|p| FileRef::of(p))
            .filter(|b| b.content.size <= max_file);
        let base = same_path.or_else(|| renamed_from(&dropped, e.path.as_str(), t));
        if let Some(base) = base {
            out.push(Pair {
                base,
                target,
                missing,
            });
        }
    }
    out.sort_by_key(|p| std::cmp::Reverse(p.missing));
    out
}

/// The dropped file most like `target`: most shared chunks, else the same extension and the
/// closest size within a factor of two.
fn renamed_from<'m>(
    dropped: &[&'m Entry],
    path: &str,
    target: &FileContent,
) -> Option<FileRef<'m>> {
    let chunks: HashSet<ChunkId> = target.chunks.iter().map(|c| c.id).collect();
    let shared = |f: &FileContent| f.chunks.iter().filter(|c| chunks.contains(&c.id)).count();
    let by_chunks = dropped
        .iter()
        .filter_map(|e| Some((*e, e.file()?)))
        .map(|(e, f)| (shared(f), e))
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, e)| (*n, std::cmp::Reverse(e.path.as_str())));
    if let Some((_, e)) = by_chunks {
        return FileRef::of(e);
    }
    let ext = extension(path);
    dropped
        .iter()
        .filter(|e| ext.is_some() && extension(e.path.as_str()) == ext)
        .filter_map(|e| Some((*e, e.file()?.size)))
        .filter(|(_, size)| *size <= target.size * 2 && size * 2 >= target.size)
        .min_by_key(|(e, size)| (size.abs_diff(target.size), e.path.as_str()))
        .and_then(|(e, _)| FileRef::of(e))
}

/// Reads a whole object and checks its hash.
fn read_verified(store: &Store, file: &FileRef<'_>) -> Result<Vec<u8>, VolumeError> {
    let key = file.object_key();
    let bytes = store.read_key(&file.key())?;
    let actual = FileId::of(&bytes);
    if actual != file.content.hash {
        return Err(tinycdn_store::StoreError::Corrupt {
            key,
            actual: actual.to_hex(),
        }
        .into());
    }
    Ok(bytes)
}

/// Makes the deltas of `version` (manifest `new`) against `parent`, stores the kept ones and
/// their signed index. The caller holds the store lock and makes the writes durable (barrier)
/// before the index is read by anyone: the index is written last.
///
/// # Errors
/// Store errors, or a damaged object.
pub fn make_deltas(
    store: &Store,
    parent: (&VersionId, &Manifest),
    version: (&VersionId, &Manifest),
    key: &SecretKey,
    opts: &DeltaOptions,
) -> Result<DeltaReport, VolumeError> {
    let mut report = DeltaReport::default();
    if !opts.enabled {
        return Ok(report);
    }
    let todo = pairs(parent.1, version.1, opts.max_file);
    report.candidates = todo.len() as u64;
    let mut index = DeltaIndex {
        version: *version.0,
        parent: *parent.0,
        entries: Vec::new(),
        rejected: 0,
        rejected_cpu_micros: 0,
    };
    for pair in &todo {
        if report.cpu >= opts.cpu_budget {
            report.skipped_budget += 1;
            continue;
        }
        let started = cpu_now();
        let base = read_verified(store, &pair.base)?;
        let target = read_verified(store, &pair.target)?;
        let created = tinycdn_delta::create_auto(&base, &target);
        let cpu = cpu_now().saturating_sub(started);
        report.cpu += cpu;
        let cpu_micros = u64::try_from(cpu.as_micros()).unwrap_or(u64::MAX);
        let (bytes, method) = match created {
            Ok(c) => (c.delta.to_bytes(), c.delta.header.method.code()),
            Err(_) => {
                index.rejected += 1;
                index.rejected_cpu_micros += cpu_micros;
                continue;
            }
        };
        let size = bytes.len() as u64;
        let saving = pair.missing.saturating_sub(size);
        if saving < MIN_SAVING || (saving as f64) < pair.missing as f64 * MIN_SAVING_RATIO {
            index.rejected += 1;
            index.rejected_cpu_micros += cpu_micros;
            continue;
        }
        store.put_delta(&pair.base.content.hash, &pair.target.content.hash, &bytes)?;
        index.entries.push(DeltaEntry {
            base: pair.base.content.hash,
            base_size: pair.base.content.size,
            target: pair.target.content.hash,
            target_size: pair.target.content.size,
            delta: FileId::of(&bytes),
            delta_size: size,
            method,
            replaces: pair.missing,
            cpu_micros,
        });
        report.delta_bytes += size;
        report.replaced_bytes += pair.missing;
    }
    report.kept = index.entries.len() as u64;
    report.rejected = index.rejected;
    if report.kept + report.rejected > 0 {
        store.barrier()?;
        store.put_delta_index(&index.sign(key))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert_eq!(extension("a/b/clip.mp4"), Some("mp4"));
        assert_eq!(extension("a.d/README"), None);
    }
}
