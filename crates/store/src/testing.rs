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
