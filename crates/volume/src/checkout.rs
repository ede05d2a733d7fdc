//! Materialising a version read-only and switching a destination to it atomically.
//!
//! `DEST` is a symlink to `.<name>.tinycdn/<version id>/` beside it. A version directory is built
//! under a temporary name, made read-only (files 0444 or 0555, directories 0555), synced, renamed
//! into place, recorded in the store, and only then is `DEST` replaced by a new symlink through one
//! `rename(2)`: a reader sees the old tree or the new one, never a mix.
//!
//! Every file object the version needs is verified (hashed whole, on all cores) before anything is
//! linked; then files are hardlinked from the store, so unchanged files cost no copy. Where a link
//! is impossible (another filesystem, a remote store) the bytes are copied, verified chunk by chunk.

use std::collections::HashSet;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tinycdn_core::manifest::EntryKind;
use tinycdn_store::{CheckoutRecord, Store};

use crate::read::{FileReader, FileRef};
use crate::trust::OpenedVersion;
use crate::{Progress, VolumeError};

/// How many version directories a destination keeps: the current one and the one before it, so a
/// container still reading the previous tree keeps working and a rollback is instant.
const KEEP_VERSION_DIRS: usize = 2;

/// What a checkout did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckoutReport {
    /// The destination symlink.
    pub dest: PathBuf,
    /// The directory it now points at.
    pub version_dir: PathBuf,
    /// Regular files in the version.
    pub files: u64,
    /// Files hardlinked from the store.
    pub linked: u64,
    /// Files copied (no hardlink possible).
    pub copied: u64,
    /// True when the version directory already existed and was reused.
    pub reused: bool,
}

/// The directory holding a destination's version directories.
#[must_use]
pub fn versions_dir(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map_or_else(|| "volume".into(), |n| n.to_string_lossy().into_owned());
    dest.with_file_name(format!(".{name}.tinycdn"))
}

fn make_writable(path: &Path) {
    // Best effort, for removing our own read-only trees.
    if let Ok(m) = fs::symlink_metadata(path) {
        if m.is_dir() {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o755));
            if let Ok(entries) = fs::read_dir(path) {
                for e in entries.flatten() {
                    make_writable(&e.path());
                }
            }
        }
    }
}

/// Removes a read-only tree that a checkout made.
fn remove_tree(path: &Path) -> Result<(), VolumeError> {
    make_writable(path);
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(VolumeError::io("remove", path)(e)),
    }
}

/// Removes a checkout: the `dest` symlink, then every version directory beside it. Files a
/// reader holds open stay readable (they are unlinked, not changed); the store's record of
/// the checkout is forgotten by the next gc, which may then collect the version.
///
/// # Errors
/// I/O errors other than the checkout being gone already.
pub fn remove_checkout(dest: &Path) -> Result<(), VolumeError> {
    match fs::remove_file(dest) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(VolumeError::io("remove", dest)(e)),
    }
    remove_tree(&versions_dir(dest))
}

struct Builder<'a> {
    store: &'a Store,
    report: CheckoutReport,
}

impl Builder<'_> {
    fn place_file(&mut self, file: FileRef<'_>, dst: &Path) -> Result<(), VolumeError> {
        if let Some(src) = self.store.local_path(&file.key()) {
            if fs::hard_link(&src, dst).is_ok() {
                self.report.linked += 1;
                return Ok(());
            }
        }
        // No link possible (another filesystem, a remote store): copy verified bytes.
        let mut out = fs::File::create(dst).map_err(VolumeError::io("create", dst))?;
        let mut reader = FileReader::new(self.store, file);
        std::io::copy(&mut reader, &mut out).map_err(VolumeError::io("write", dst))?;
        let perm = if file.exec { 0o555 } else { 0o444 };
        fs::set_permissions(dst, fs::Permissions::from_mode(perm))
            .map_err(VolumeError::io("set permissions of", dst))?;
        self.report.copied += 1;
        Ok(())
    }
}

/// Verifies every object the version needs, on all cores, before anything is linked.
fn verify_objects(
    store: &Store,
    version: &OpenedVersion,
    progress: &dyn Progress,
) -> Result<(), VolumeError> {
    let mut seen = HashSet::new();
    let objects: Vec<(FileRef<'_>, &str)> = version
        .manifest
        .entries
        .iter()
        .filter_map(|e| FileRef::of(e).map(|f| (f, e.path.as_str())))
        .filter(|(f, _)| seen.insert((f.content.hash, f.exec)))
        .collect();
    progress.start(
        "verifying",
        objects.iter().map(|(f, _)| f.content.size).sum(),
    );
    let reference = format!("{}@{}", version.manifest.volume, version.id.short());
    objects.par_iter().try_for_each(|(f, path)| {
        let ok =
            store
                .verify_object(&f.content.hash, f.exec)
                .map_err(|e| VolumeError::Damaged {
                    reference: reference.clone(),
                    why: format!("{path}: {e}"),
                })?;
        progress.advance(f.content.size);
        if ok {
            Ok(())
        } else {
            Err(VolumeError::Damaged {
                reference: reference.clone(),
                why: format!("{path}: object {} is corrupt", f.content.hash.short()),
            })
        }
    })?;
    progress.finish();
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), VolumeError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(VolumeError::io("sync", dir))
}

/// Checks out `version` at `dest` (a symlink, created or atomically replaced).
///
/// # Errors
/// A destination that is not ours to replace, damaged or missing objects (nothing is switched),
/// I/O errors.
pub fn checkout(
    store: &Store,
    version: &OpenedVersion,
    dest: &Path,
    progress: &dyn Progress,
) -> Result<CheckoutReport, VolumeError> {
    let dest = std::path::absolute(dest).map_err(VolumeError::io("resolve", dest))?;
    let parent = dest.parent().ok_or_else(|| VolumeError::Destination {
        path: dest.clone(),
        why: "it has no parent directory".into(),
    })?;
    fs::create_dir_all(parent).map_err(VolumeError::io("create", parent))?;
    let previous = match fs::symlink_metadata(&dest) {
        Ok(m) if m.file_type().is_symlink() => fs::read_link(&dest).ok(),
        Ok(_) => {
            return Err(VolumeError::Destination {
                path: dest.clone(),
                why: "it exists and is not a checkout symlink; remove it or choose another path"
                    .into(),
            })
        }
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(VolumeError::io("inspect", &dest)(e)),
    };
    let vroot = versions_dir(&dest);
    fs::create_dir_all(&vroot).map_err(VolumeError::io("create", &vroot))?;
    let hex = version.id.to_hex();
    let vdir = vroot.join(&hex);
    let manifest = &version.manifest;
    let mut builder = Builder {
        store,
        report: CheckoutReport {
            dest: dest.clone(),
            version_dir: vdir.clone(),
            files: manifest.files().count() as u64,
            linked: 0,
            copied: 0,
            reused: false,
        },
    };

    let _lock = store.lock()?;
    if vdir.is_dir() {
        builder.report.reused = true;
    } else {
        let tmp = vroot.join(format!("{hex}.tmp-{}", std::process::id()));
        remove_tree(&tmp)?;
        fs::create_dir(&tmp).map_err(VolumeError::io("create", &tmp))?;
        // A checkout that fails half-way (a full disk) leaves no half-built tree taking space.
        let built = (|| -> Result<(), VolumeError> {
            verify_objects(store, version, progress)?;
            let mut dirs: Vec<(PathBuf, u32)> = Vec::new();
            for entry in &manifest.entries {
                let dst = tmp.join(entry.path.as_str());
                match &entry.kind {
                    EntryKind::Dir => {
                        fs::create_dir(&dst).map_err(VolumeError::io("create", &dst))?;
                        dirs.push((dst, entry.path.depth() as u32));
                    }
                    EntryKind::Symlink { target } => {
                        symlink(target, &dst).map_err(VolumeError::io("create symlink", &dst))?;
                    }
                    EntryKind::File(_) => {
                        if let Some(f) = FileRef::of(entry) {
                            builder.place_file(f, &dst)?;
                        }
                    }
                }
            }
            dirs.sort_by_key(|(_, depth)| std::cmp::Reverse(*depth));
            for d in dirs.iter().map(|(d, _)| d).chain(std::iter::once(&tmp)) {
                fs::set_permissions(d, fs::Permissions::from_mode(0o555))
                    .map_err(VolumeError::io("set permissions of", d))?;
            }
            let dir = fs::File::open(&tmp).map_err(VolumeError::io("open", &tmp))?;
            rustix::fs::syncfs(&dir).map_err(|e| VolumeError::io("sync", &tmp)(e.into()))?;
            fs::rename(&tmp, &vdir).map_err(VolumeError::io("rename into", &vdir))?;
            Ok(())
        })();
        if let Err(e) = built {
            let _ = remove_tree(&tmp);
            return Err(e);
        }
        sync_dir(&vroot)?;
    }
    store.put_checkout(&CheckoutRecord {
        dest: dest.clone(),
        volume: manifest.volume.to_string(),
        version: version.id,
    })?;

    // The atomic switch.
    let link_target = PathBuf::from(vroot.file_name().unwrap_or_default()).join(&hex);
    let tmp_link = parent.join(format!(
        ".{}.link-{}",
        dest.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_file(&tmp_link);
    symlink(&link_target, &tmp_link).map_err(VolumeError::io("create symlink", &tmp_link))?;
    fs::rename(&tmp_link, &dest).map_err(VolumeError::io("switch", &dest))?;
    sync_dir(parent)?;

    // Keep the current and the previous version directories; remove older ones and stale temps.
    let keep: Vec<String> = std::iter::once(hex)
        .chain(previous.and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())))
        .take(KEEP_VERSION_DIRS)
        .collect();
    if let Ok(entries) = fs::read_dir(&vroot) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) {
                remove_tree(&e.path())?;
            }
        }
    }
    Ok(builder.report)
}
