//! An in-memory backend for tests and dry runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::backend::{check_key, Backend, BufferedWrite, Durability, PendingWrite};
use crate::StoreError;

/// Objects in a map; nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryBackend {
    /// An empty backend.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave a half-written map entry, so keep going.
        self.objects
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Backend for MemoryBackend {
    fn read(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        check_key(key)?;
        self.map()
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::NotFound {
                key: key.to_owned(),
            })
    }

    fn write(&self, key: &str, bytes: &[u8], _: Durability) -> Result<(), StoreError> {
        check_key(key)?;
        self.map().insert(key.to_owned(), bytes.to_vec());
        Ok(())
    }

    fn begin_write(&self) -> Result<Box<dyn PendingWrite + '_>, StoreError> {
        Ok(Box::new(BufferedWrite::new(self)))
    }

    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        check_key(key)?;
        Ok(self.map().get(key).map(|v| v.len() as u64))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        check_key(prefix)?;
        let start = format!("{prefix}/");
        Ok(self
            .map()
            .range(start.clone()..)
            .take_while(|(k, _)| k.starts_with(&start))
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        check_key(key)?;
        self.map().remove(key);
        Ok(())
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StoreError> {
        check_key(from)?;
        check_key(to)?;
        let mut map = self.map();
        let v = map.remove(from).ok_or_else(|| StoreError::NotFound {
            key: from.to_owned(),
        })?;
        map.insert(to.to_owned(), v);
        Ok(())
    }

    fn barrier(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn local_path(&self, _: &str) -> Option<PathBuf> {
        None
    }

    fn write_new(&self, key: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        check_key(key)?;
        let mut map = self.map();
        if map.contains_key(key) {
            return Ok(false);
        }
        map.insert(key.to_owned(), bytes.to_vec());
        Ok(true)
    }

    fn write_if(&self, key: &str, bytes: &[u8], expected: Option<&str>) -> Result<(), StoreError> {
        check_key(key)?;
        let mut map = self.map();
        let current = map.get(key).map(|b| blake3::hash(b).to_hex().to_string());
        if current.as_deref() != expected {
            return Err(StoreError::Conflict {
                key: key.to_owned(),
            });
        }
        map.insert(key.to_owned(), bytes.to_vec());
        Ok(())
    }
}
