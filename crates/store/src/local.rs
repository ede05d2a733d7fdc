//! The local filesystem backend: one plain file per object, written atomically.
//!
//! A write goes to a temporary file under `tmp/` (named after the writing process), is synced when
//! the write must be durable now, and is renamed into place; the directory is then synced too. Bulk
//! writes skip the per-file sync and are made durable together by [`Backend::barrier`], which calls
//! `syncfs(2)` once: publish runs one barrier before it writes the manifest that refers to the
//! chunks, so nothing durable ever points at data that is not.
//!
//! Objects are created read-only (0444) so that checkouts can hardlink them.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::{check_key, Backend, Durability, PendingWrite};
use crate::StoreError;

const TMP_DIR: &str = "tmp";

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// Syncs a directory so that renames and creations inside it are durable.
///
/// # Errors
/// I/O errors.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync directory", dir))
}

/// Writes a file outside a store atomically and durably: a temporary file beside it created with
/// `mode`, synced, renamed over `path`, and the directory synced. With `replace` false an existing
/// file is an error.
///
/// # Errors
/// I/O errors (`AlreadyExists` when `replace` is false and the file exists); nothing partial is left.
pub fn write_file_atomic(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    replace: bool,
) -> Result<(), StoreError> {
    if !replace && fs::symlink_metadata(path).is_ok() {
        return Err(io("create", path)(ErrorKind::AlreadyExists.into()));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("sync", &tmp))?;
        fs::rename(&tmp, path).map_err(io("rename into", path))?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Objects as plain files under a root directory.
#[derive(Debug)]
pub struct LocalBackend {
    root: PathBuf,
    tmp: PathBuf,
    counter: AtomicU64,
    nonce: u64,
}

impl LocalBackend {
    /// Opens (and, with `create`, creates) a backend rooted at `root`.
    ///
    /// Removes temporary files left behind by processes that no longer run.
    ///
    /// # Errors
    /// I/O errors.
    pub fn open(root: &Path, create: bool) -> Result<Self, StoreError> {
        let tmp = root.join(TMP_DIR);
        if create {
            fs::create_dir_all(&tmp).map_err(io("create", &tmp))?;
        }
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| StoreError::Io {
            op: "seed temporary names for",
            path: root.to_owned(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let backend = Self {
            root: root.to_owned(),
            tmp,
            counter: AtomicU64::new(0),
            nonce: u64::from_le_bytes(seed),
        };
        backend.remove_orphan_temps()?;
        Ok(backend)
    }

    /// The root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn remove_orphan_temps(&self) -> Result<(), StoreError> {
        let entries = match fs::read_dir(&self.tmp) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("list", &self.tmp)(e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.split('-').next())
                .and_then(|p| p.parse::<i32>().ok());
            let alive = pid
                .and_then(rustix::process::Pid::from_raw)
                .is_some_and(|p| rustix::process::test_kill_process(p).is_ok());
            if !alive {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    fn open_object(&self, key: &str) -> Result<(File, PathBuf), StoreError> {
        let path = self.path(key)?;
        match File::open(&path) {
            Ok(f) => Ok((f, path)),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(StoreError::NotFound {
                key: key.to_owned(),
            }),
            Err(e) => Err(io("open", &path)(e)),
        }
    }

    fn temp_path(&self) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.tmp
            .join(format!("{}-{:016x}-{n}", std::process::id(), self.nonce))
    }

    fn write_temp(&self, tmp: &Path, bytes: &[u8], sync: bool) -> Result<(), StoreError> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(tmp)
            .map_err(io("create", tmp))?;
        f.write_all(bytes).map_err(io("write", tmp))?;
        if sync {
            f.sync_all().map_err(io("sync", tmp))?;
        }
        Ok(())
    }

    fn rename_into_place(&self, tmp: &Path, path: &Path, sync: bool) -> Result<(), StoreError> {
        match fs::rename(tmp, path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let parent = path.parent().unwrap_or(&self.root);
                fs::create_dir_all(parent).map_err(io("create", parent))?;
                if sync {
                    // Make the new directories themselves durable, from the top down.
                    let mut dirs: Vec<&Path> = parent
                        .ancestors()
                        .take_while(|d| d.starts_with(&self.root))
                        .collect();
                    dirs.reverse();
                    for d in dirs {
                        sync_dir(d)?;
                    }
                }
                fs::rename(tmp, path).map_err(io("rename into", path))?;
            }
            Err(e) => return Err(io("rename into", path)(e)),
        }
        if sync {
            sync_dir(path.parent().unwrap_or(&self.root))?;
        }
        Ok(())
    }
}

/// A temporary file under `tmp/`, renamed into place on commit and removed if dropped.
struct LocalPending<'a> {
    backend: &'a LocalBackend,
    tmp: PathBuf,
    file: Option<File>,
}

impl PendingWrite for LocalPending<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        match &mut self.file {
            Some(f) => f.write_all(bytes).map_err(io("write", &self.tmp)),
            None => Ok(()),
        }
    }

    fn commit(mut self: Box<Self>, key: &str, durability: Durability) -> Result<(), StoreError> {
        let path = self.backend.path(key)?;
        let sync = durability == Durability::Immediate;
        if let Some(f) = self.file.take() {
            if sync {
                f.sync_all().map_err(io("sync", &self.tmp))?;
            }
        }
        self.backend.rename_into_place(&self.tmp, &path, sync)?;
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for LocalPending<'_> {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl Backend for LocalBackend {
    fn read(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(key)?;
        fs::read(&path).map_err(|e| {
            if e.kind() == ErrorKind::NotFound {
                StoreError::NotFound {
                    key: key.to_owned(),
                }
            } else {
                io("read", &path)(e)
            }
        })
    }

    fn write(&self, key: &str, bytes: &[u8], durability: Durability) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let tmp = self.temp_path();
        let sync = durability == Durability::Immediate;
        let result = self
            .write_temp(&tmp, bytes, sync)
            .and_then(|()| self.rename_into_place(&tmp, &path, sync));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn begin_write(&self) -> Result<Box<dyn PendingWrite + '_>, StoreError> {
        let tmp = self.temp_path();
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        Ok(Box::new(LocalPending {
            backend: self,
            tmp,
            file: Some(file),
        }))
    }

    fn read_range(&self, key: &str, offset: u64, len: usize) -> Result<Vec<u8>, StoreError> {
        use std::os::unix::fs::FileExt;
        let (file, path) = self.open_object(key)?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset)
            .map_err(io("read a range of", &path))?;
        Ok(buf)
    }

    fn hash(&self, key: &str) -> Result<[u8; 32], StoreError> {
        let (file, path) = self.open_object(key)?;
        let mut hasher = blake3::Hasher::new();
        hasher.update_reader(file).map_err(io("read", &path))?;
        Ok(*hasher.finalize().as_bytes())
    }

    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let path = self.path(key)?;
        match fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("stat", &path)(e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let dir = self.path(prefix)?;
        let mut out = Vec::new();
        let mut stack = vec![(dir, prefix.to_owned())];
        while let Some((dir, key)) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(io("list", &dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(io("list", &dir))?;
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let child = format!("{key}/{name}");
                let ft = entry.file_type().map_err(io("stat", &entry.path()))?;
                if ft.is_dir() {
                    stack.push((entry.path(), child));
                } else {
                    out.push(child);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("delete", &path)(e)),
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let src = self.path(from)?;
        let dst = self.path(to)?;
        if !src.exists() {
            return Err(StoreError::NotFound {
                key: from.to_owned(),
            });
        }
        self.rename_into_place(&src, &dst, true)
    }

    fn barrier(&self) -> Result<(), StoreError> {
        let dir = File::open(&self.root).map_err(io("open", &self.root))?;
        rustix::fs::syncfs(&dir).map_err(|e| StoreError::Io {
            op: "syncfs",
            path: self.root.clone(),
            source: e.into(),
        })
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path(key).ok()
    }

    fn write_new(&self, key: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        let path = self.path(key)?;
        let tmp = self.temp_path();
        let result = (|| {
            self.write_temp(&tmp, bytes, true)?;
            // A hard link never replaces what is there: the creation is atomic.
            let linked = match fs::hard_link(&tmp, &path) {
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    let parent = path.parent().unwrap_or(&self.root);
                    fs::create_dir_all(parent).map_err(io("create", parent))?;
                    fs::hard_link(&tmp, &path)
                }
                other => other,
            };
            match linked {
                Ok(()) => {
                    sync_dir(path.parent().unwrap_or(&self.root))?;
                    Ok(true)
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(io("create", &path)(e)),
            }
        })();
        let _ = fs::remove_file(&tmp);
        result
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_list_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = LocalBackend::open(dir.path(), true).expect("open");
        b.write("chunks/ab/x", b"hello", Durability::AtBarrier)
            .expect("write");
        b.write("tags/v/t", b"1", Durability::Immediate)
            .expect("write");
        b.write("tags/v/t", b"2", Durability::Immediate)
            .expect("replace");
        assert_eq!(b.read("tags/v/t").expect("read"), b"2");
        assert_eq!(b.size("chunks/ab/x").expect("size"), Some(5));
        assert_eq!(b.list("chunks").expect("list"), vec!["chunks/ab/x"]);
        assert!(b.read("nope/x").expect_err("missing").is_not_found());
        b.barrier().expect("barrier");
        b.delete("chunks/ab/x").expect("delete");
        b.delete("chunks/ab/x").expect("delete twice");
        assert_eq!(b.size("chunks/ab/x").expect("size"), None);
        assert!(b.write("../escape", b"x", Durability::Immediate).is_err());
    }

    #[test]
    fn conditional_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = LocalBackend::open(dir.path(), true).expect("open");
        assert!(b.write_new("versions/v/1", b"a").expect("create"));
        assert!(!b.write_new("versions/v/1", b"b").expect("second create"));
        assert_eq!(b.read("versions/v/1").expect("read"), b"a");
        b.write_if("tags/v/t", b"1", None)
            .expect("create if absent");
        let (_, token) = b.read_versioned("tags/v/t").expect("read").expect("exists");
        assert!(matches!(
            b.write_if("tags/v/t", b"x", None),
            Err(StoreError::Conflict { .. })
        ));
        b.write_if("tags/v/t", b"2", Some(&token)).expect("swap");
        assert!(matches!(
            b.write_if("tags/v/t", b"3", Some(&token)),
            Err(StoreError::Conflict { .. })
        ));
        assert_eq!(b.read("tags/v/t").expect("read"), b"2");
        assert!(fs::read_dir(dir.path().join(TMP_DIR))
            .expect("ls")
            .next()
            .is_none());
    }

    #[test]
    fn objects_are_read_only_and_temps_cleaned() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let b = LocalBackend::open(dir.path(), true).expect("open");
        b.write("a/b", b"x", Durability::AtBarrier).expect("write");
        let mode = fs::metadata(dir.path().join("a/b"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o444);
        // A temp file of a process that no longer exists is removed on open.
        let stale = dir.path().join(TMP_DIR).join("999999999-0-0");
        fs::write(&stale, b"partial").expect("write");
        let _ = LocalBackend::open(dir.path(), false).expect("reopen");
        assert!(!stale.exists());
        assert!(fs::read_dir(dir.path().join(TMP_DIR))
            .expect("ls")
            .next()
            .is_none());
    }
}
