//! The narrow interface every storage backend implements.
//!
//! Keys are `/`-separated relative names such as `chunks/ab/ab12…` or `tags/media/stable`. Each
//! component is non-empty, never `.` or `..`, and holds no NUL or backslash; [`check_key`] enforces
//! it so a backend never has to.

use std::fmt::Debug;
use std::io::Read;
use std::path::PathBuf;

use crate::StoreError;

/// When a write must be on stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Durable when `write` returns (metadata: manifests, tags, indexes).
    Immediate,
    /// Durable after the next [`Backend::barrier`] (bulk data: chunks). Still atomic: a reader sees
    /// the whole object or none of it.
    AtBarrier,
}

/// An object being written under a key chosen at the end. Dropping it uncommitted discards it.
pub trait PendingWrite: Send {
    /// Appends bytes.
    ///
    /// # Errors
    /// I/O errors (a full disk among them).
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError>;

    /// Makes the object visible under `key`, atomically.
    ///
    /// # Errors
    /// I/O errors; then nothing is visible.
    fn commit(self: Box<Self>, key: &str, durability: Durability) -> Result<(), StoreError>;
}

/// A pending write held in memory and written whole on commit (for backends without temp files).
pub struct BufferedWrite<'a> {
    backend: &'a dyn Backend,
    bytes: Vec<u8>,
}

impl<'a> BufferedWrite<'a> {
    /// A pending write into `backend`.
    #[must_use]
    pub fn new(backend: &'a dyn Backend) -> Self {
        Self {
            backend,
            bytes: Vec::new(),
        }
    }
}

impl PendingWrite for BufferedWrite<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.bytes.extend_from_slice(bytes);
        Ok(())
    }
    fn commit(self: Box<Self>, key: &str, durability: Durability) -> Result<(), StoreError> {
        self.backend.write(key, &self.bytes, durability)
    }
}

/// A flat, synchronous key-value store of immutable or atomically replaced objects.
pub trait Backend: Send + Sync + Debug {
    /// Reads a whole object.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] or an I/O error.
    fn read(&self, key: &str) -> Result<Vec<u8>, StoreError>;

    /// Writes (creates or replaces) an object atomically.
    ///
    /// # Errors
    /// I/O errors, a full disk among them; nothing partial is left visible.
    fn write(&self, key: &str, bytes: &[u8], durability: Durability) -> Result<(), StoreError>;

    /// Starts writing an object whose key is known only when it is complete (content-addressed
    /// data hashed as it streams). Nothing is visible until [`PendingWrite::commit`].
    ///
    /// # Errors
    /// I/O errors.
    fn begin_write(&self) -> Result<Box<dyn PendingWrite + '_>, StoreError>;

    /// Writes an object atomically from a reader, without holding it all in memory where the
    /// backend allows; returns the bytes written.
    ///
    /// # Errors
    /// I/O errors from the reader or the backend; nothing partial is left visible.
    fn write_stream(
        &self,
        key: &str,
        src: &mut dyn Read,
        durability: Durability,
    ) -> Result<u64, StoreError> {
        let mut pending = self.begin_write()?;
        // Large reads keep hashing readers fast (BLAKE3 likes big inputs) and syscalls few.
        let mut buf = vec![0u8; 1 << 20];
        let mut n = 0u64;
        loop {
            let got = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(got) => got,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(StoreError::Io {
                        op: "read source for",
                        path: key.into(),
                        source,
                    })
                }
            };
            pending.write(&buf[..got])?;
            n += got as u64;
        }
        pending.commit(key, durability)?;
        Ok(n)
    }

    /// The BLAKE3 hash of an object's bytes, computed without holding it all in memory where the
    /// backend allows.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] or I/O errors.
    fn hash(&self, key: &str) -> Result<[u8; 32], StoreError> {
        Ok(*blake3::hash(&self.read(key)?).as_bytes())
    }

    /// Reads `len` bytes at `offset` of an object.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], a short object, or I/O errors.
    fn read_range(&self, key: &str, offset: u64, len: usize) -> Result<Vec<u8>, StoreError> {
        let bytes = self.read(key)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        bytes
            .get(start..start.saturating_add(len))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| StoreError::Io {
                op: "read a range of",
                path: key.into(),
                source: std::io::ErrorKind::UnexpectedEof.into(),
            })
    }

    /// The object's size, or `None` if it does not exist.
    ///
    /// # Errors
    /// I/O errors other than absence.
    fn size(&self, key: &str) -> Result<Option<u64>, StoreError>;

    /// Every key that starts with `prefix` followed by `/` (recursively), sorted.
    ///
    /// # Errors
    /// I/O errors.
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;

    /// Removes an object; removing a missing object is not an error.
    ///
    /// # Errors
    /// I/O errors.
    fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// Moves an object to another key atomically (used to quarantine damaged objects).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] or I/O errors.
    fn rename(&self, from: &str, to: &str) -> Result<(), StoreError>;

    /// Makes every completed write durable.
    ///
    /// # Errors
    /// I/O errors.
    fn barrier(&self) -> Result<(), StoreError>;

    /// The object's path on the local filesystem, when the backend keeps objects as plain files
    /// (lets checkouts hardlink instead of copy).
    fn local_path(&self, key: &str) -> Option<PathBuf>;

    /// Creates an object only if `key` holds none; `Ok(false)` (and nothing written) if it does.
    ///
    /// The default reads then writes, which is atomic only where the store's writer lock keeps
    /// other writers out; backends shared by several machines make it one conditional request.
    ///
    /// # Errors
    /// I/O errors.
    fn write_new(&self, key: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        if self.size(key)?.is_some() {
            return Ok(false);
        }
        self.write(key, bytes, Durability::Immediate)?;
        Ok(true)
    }

    /// Reads an object with a token that changes whenever the object is replaced (an `ETag` or a
    /// hash), for [`Backend::write_if`]; `None` if it does not exist.
    ///
    /// # Errors
    /// I/O errors.
    fn read_versioned(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        match self.read(key) {
            Ok(bytes) => {
                let token = blake3::hash(&bytes).to_hex().to_string();
                Ok(Some((bytes, token)))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces an object only if it still holds the version `expected` read by
    /// [`Backend::read_versioned`] (`None`: only if it does not exist), so that of two writers
    /// that read the same version only one wins.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when another writer got there first; I/O errors.
    fn write_if(&self, key: &str, bytes: &[u8], expected: Option<&str>) -> Result<(), StoreError> {
        let current = self.read_versioned(key)?.map(|(_, token)| token);
        if current.as_deref() != expected {
            return Err(StoreError::Conflict {
                key: key.to_owned(),
            });
        }
        self.write(key, bytes, Durability::Immediate)
    }

    /// Takes the store's writer lease where writers on other machines share the backend (an
    /// object store); `None` where the local lock file is enough. The lease is released when the
    /// returned guard is dropped.
    ///
    /// # Errors
    /// I/O errors.
    fn lease(&self) -> Result<Option<Box<dyn Lease>>, StoreError> {
        Ok(None)
    }

    /// Where the backend is, for messages (`s3://bucket/prefix`, a directory).
    fn describe(&self) -> String {
        String::from("the store")
    }
}

/// A held writer lease; dropping it releases the lease.
pub trait Lease: Send + Sync + Debug {}

impl<B: Backend + ?Sized> Backend for std::sync::Arc<B> {
    fn read(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        (**self).read(key)
    }
    fn write(&self, key: &str, bytes: &[u8], d: Durability) -> Result<(), StoreError> {
        (**self).write(key, bytes, d)
    }
    fn begin_write(&self) -> Result<Box<dyn PendingWrite + '_>, StoreError> {
        (**self).begin_write()
    }
    fn hash(&self, key: &str) -> Result<[u8; 32], StoreError> {
        (**self).hash(key)
    }
    fn read_range(&self, key: &str, offset: u64, len: usize) -> Result<Vec<u8>, StoreError> {
        (**self).read_range(key, offset, len)
    }
    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        (**self).size(key)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        (**self).list(prefix)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        (**self).delete(key)
    }
    fn rename(&self, from: &str, to: &str) -> Result<(), StoreError> {
        (**self).rename(from, to)
    }
    fn barrier(&self) -> Result<(), StoreError> {
        (**self).barrier()
    }
    fn local_path(&self, key: &str) -> Option<PathBuf> {
        (**self).local_path(key)
    }
    fn write_new(&self, key: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        (**self).write_new(key, bytes)
    }
    fn read_versioned(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        (**self).read_versioned(key)
    }
    fn write_if(&self, key: &str, bytes: &[u8], expected: Option<&str>) -> Result<(), StoreError> {
        (**self).write_if(key, bytes, expected)
    }
    fn lease(&self) -> Result<Option<Box<dyn Lease>>, StoreError> {
        (**self).lease()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

/// Checks that `key` is a well-formed store key.
///
/// # Errors
/// [`StoreError::BadKey`].
pub fn check_key(key: &str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && !key.contains(['\0', '\\'])
        && key
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadKey {
            key: key.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::check_key;

    #[test]
    fn keys_cannot_escape() {
        assert!(check_key("chunks/ab/cd").is_ok());
        for k in ["", "../x", "a/../b", "/abs", "a//b", "a\\b", "a/./b", "a/"] {
            assert!(check_key(k).is_err(), "{k:?}");
        }
    }
}
