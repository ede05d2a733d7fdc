//! The folder a pod mounts: the kubelet's AtomicWriter layout over a verified checkout, so a
//! new version can replace the old one *inside* a mount that a running container already has.
//!
//! ```text
//! <csi dir>/volumes/site-media@stable/     the folder bind-mounted into every pod using it
//!   ...data.tinycdn/<version id>/          read-only version trees (current and previous)
//!   ..data -> ...data.tinycdn/<version id> switched with one rename(2)
//!   index.html -> ..data/index.html        one link per top-level entry
//!   images -> ..data/images
//! ```
//!
//! The trees are `tinycdn_volume::checkout`'s (every object verified before anything is linked,
//! files hardlinked from the store), with `..data` as the checkout's symlink. All links are
//! relative and stay inside the folder, so they resolve inside a container that sees only the
//! mount. A reader with a file open keeps reading it across a switch; the previous tree stays
//! until the next one. Top-level names starting with `..` are the layout's own, as they are the
//! kubelet's: a version with one is refused.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use tinycdn_core::VersionId;
use tinycdn_store::Store;
use tinycdn_volume::trust::OpenedVersion;
use tinycdn_volume::{NoProgress, VolumeError};

/// The link that names the current version.
pub const DATA: &str = "..data";

/// Why a folder could not be switched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// The version has a top-level entry the layout reserves.
    #[error("the version has a top-level entry {0:?}; names starting with '..' are reserved for the mount's own links")]
    Reserved(String),
    /// The checkout failed (damaged objects, I/O).
    #[error(transparent)]
    Checkout(#[from] VolumeError),
    /// A link could not be made or removed.
    #[error("cannot {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> LayoutError + 'a {
    move |source| LayoutError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The version a folder shows now, when it shows one whose tree is there.
#[must_use]
pub fn current(dir: &Path) -> Option<VersionId> {
    let target = fs::read_link(dir.join(DATA)).ok()?;
    let id: VersionId = target.file_name()?.to_str()?.parse().ok()?;
    dir.join(DATA).is_dir().then_some(id)
}

/// The top-level names of a version.
fn top_level(version: &OpenedVersion) -> Vec<&str> {
    version
        .manifest
        .entries
        .iter()
        .map(|e| e.path.as_str())
        .filter(|p| !p.contains('/'))
        .collect()
}

/// Shows `version` in `dir` (made if missing): checks it out as `..data`, then links each
/// top-level entry to `..data/<name>` and removes links to names the version no longer has.
///
/// # Errors
/// [`LayoutError`]; on error the folder still shows what it showed before, complete.
pub fn switch(store: &Store, version: &OpenedVersion, dir: &Path) -> Result<(), LayoutError> {
    let names = top_level(version);
    if let Some(reserved) = names.iter().find(|n| n.starts_with("..")) {
        return Err(LayoutError::Reserved((*reserved).to_owned()));
    }
    fs::create_dir_all(dir).map_err(io("create", dir))?;
    tinycdn_volume::checkout::checkout(store, version, &dir.join(DATA), &NoProgress)?;
    for name in &names {
        let link = dir.join(name);
        let want = Path::new(DATA).join(name);
        if fs::read_link(&link).is_ok_and(|t| t == want) {
            continue;
        }
        let tmp = dir.join(format!("..link-{name}"));
        let _ = fs::remove_file(&tmp);
        symlink(&want, &tmp).map_err(io("link", &tmp))?;
        fs::rename(&tmp, &link).map_err(io("switch", &link))?;
    }
    // Links the new version no longer has; anything not a link into `..data` is not ours.
    for entry in fs::read_dir(dir).map_err(io("list", dir))?.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("..") || names.contains(&name) {
            continue;
        }
        let path = entry.path();
        if fs::read_link(&path).is_ok_and(|t| t.starts_with(DATA)) {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io("remove", &path)(e)),
            }
        }
    }
    Ok(())
}

/// Removes a folder this module made: its links, then its version trees.
///
/// # Errors
/// I/O errors other than the folder being gone.
pub fn remove(dir: &Path) -> Result<(), LayoutError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io("list", dir)(e)),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            fs::remove_file(&path).map_err(io("remove", &path))?;
        }
    }
    tinycdn_volume::checkout::remove_checkout(&dir.join(DATA))?;
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("remove", dir)(e)),
    }
}
