//! [`ObjectBackend`]: the store's [`Backend`] over any `object_store` store.
//!
//! Every request is one call of the object store's API, retried by its client (5xx, 429,
//! `SlowDown`, connection errors; with backoff, bounded in count and time). Writes are single
//! `PUT`s (atomic by the service's rules); files larger than one part go up as multipart uploads
//! straight to their final key, which become visible only when completed and are aborted on error.
//! Creations and tag moves are conditional requests (`If-None-Match: *`, `If-Match`), so two
//! writers on two machines cannot both win.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload, UpdateVersion};
use tinycdn_store::{
    check_key, Backend, BufferedWrite, Durability, Lease, PendingWrite, StoreError,
};

use crate::bridge::Bridge;
use crate::Options;

/// A store's objects in an object store, under a key prefix.
#[derive(Debug, Clone)]
pub struct ObjectBackend {
    pub(crate) store: Arc<dyn ObjectStore>,
    prefix: Vec<String>,
    url: String,
    pub(crate) bridge: Arc<Bridge>,
    pub(crate) options: Options,
}

/// Parts of a multipart upload in flight at once, per file.
const PARTS_IN_FLIGHT: usize = 4;

impl ObjectBackend {
    /// A backend over `store`, keeping objects under `prefix` (`/`-separated, may be empty);
    /// `url` names it in messages.
    ///
    /// # Errors
    /// The runtime that drives requests could not start.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        url: &str,
        options: Options,
    ) -> Result<Self, std::io::Error> {
        Ok(Self {
            store,
            prefix: prefix
                .split('/')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
            url: url.to_owned(),
            bridge: Arc::new(Bridge::new()?),
            options,
        })
    }

    /// The object store client underneath.
    #[must_use]
    pub fn store_handle(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    pub(crate) fn path(&self, key: &str) -> Result<Path, StoreError> {
        check_key(key)?;
        Ok(Path::from_iter(
            self.prefix.iter().map(String::as_str).chain(key.split('/')),
        ))
    }

    /// The store key of a listed location, `None` if it is outside the prefix or not a key.
    fn key_of(&self, location: &Path) -> Option<String> {
        let parts: Vec<String> = location
            .parts()
            .map(|p| {
                percent_encoding::percent_decode_str(p.as_ref())
                    .decode_utf8()
                    .map(std::borrow::Cow::into_owned)
            })
            .collect::<Result<_, _>>()
            .ok()?;
        let rest = parts.strip_prefix(self.prefix.as_slice())?;
        let key = rest.join("/");
        check_key(&key).ok()?;
        Some(key)
    }

    pub(crate) fn err(&self, op: &'static str, key: &str, e: object_store::Error) -> StoreError {
        match e {
            object_store::Error::NotFound { .. } => StoreError::NotFound {
                key: key.to_owned(),
            },
            object_store::Error::Precondition { .. }
            | object_store::Error::AlreadyExists { .. } => StoreError::Conflict {
                key: key.to_owned(),
            },
            other => StoreError::Remote {
                op,
                key: key.to_owned(),
                store: self.url.clone(),
                source: Box::new(other),
            },
        }
    }

    /// Puts `bytes` with `mode`, returning the new version's token.
    pub(crate) fn put(
        &self,
        key: &str,
        bytes: Bytes,
        mode: PutMode,
    ) -> Result<Result<String, object_store::Error>, StoreError> {
        let path = self.path(key)?;
        let store = self.store.clone();
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        Ok(self
            .bridge
            .run(async move { store.put_opts(&path, PutPayload::from(bytes), opts).await })
            .map(|r| token(r.e_tag, r.version)))
    }

    fn get(&self, key: &str) -> Result<(Bytes, String), StoreError> {
        let path = self.path(key)?;
        let store = self.store.clone();
        self.bridge
            .run(async move {
                let got = store.get(&path).await?;
                let t = token(got.meta.e_tag.clone(), got.meta.version.clone());
                Ok((got.bytes().await?, t))
            })
            .map_err(|e| self.err("read", key, e))
    }

    /// Uploads what `src` yields to `key` as a multipart upload whose first part is `first`.
    fn put_multipart(
        &self,
        key: &str,
        first: Vec<u8>,
        src: &mut dyn Read,
    ) -> Result<u64, StoreError> {
        let path = self.path(key)?;
        let store = self.store.clone();
        let mut upload = self
            .bridge
            .run(async move { store.put_multipart(&path).await })
            .map_err(|e| self.err("start a multipart upload of", key, e))?;
        let mut in_flight = std::collections::VecDeque::new();
        let mut total = 0u64;
        let mut part = first;
        let result = loop {
            total += part.len() as u64;
            in_flight.push_back(
                self.bridge
                    .spawn(upload.put_part(PutPayload::from(std::mem::take(&mut part)))),
            );
            if in_flight.len() >= PARTS_IN_FLIGHT {
                if let Some(Err(e)) = in_flight.pop_front().map(|p| p.wait()) {
                    break Err(self.err("upload a part of", key, e));
                }
            }
            match read_full(src, self.options.part_size, key) {
                Ok(next) if next.is_empty() => break Ok(()),
                Ok(next) => part = next,
                Err(e) => break Err(e),
            }
        };
        let result = result.and_then(|()| {
            in_flight
                .drain(..)
                .map(|p| p.wait())
                .find_map(Result::err)
                .map_or(Ok(()), |e| Err(self.err("upload a part of", key, e)))
        });
        let completed = match result {
            Ok(()) => self
                .bridge
                .run(async move {
                    match upload.complete().await {
                        Ok(_) => Ok(()),
                        Err(e) => {
                            let _ = upload.abort().await;
                            Err(e)
                        }
                    }
                })
                .map_err(|e| self.err("complete the multipart upload of", key, e)),
            Err(e) => {
                // Nothing became visible; abort so the parts are not kept (and billed).
                let _ = self.bridge.run(async move { upload.abort().await });
                Err(e)
            }
        };
        completed.map(|()| total)
    }
}

/// A version token from an `ETag` and a version id, as [`Backend::read_versioned`] returns it.
fn token(e_tag: Option<String>, version: Option<String>) -> String {
    serde_json::json!([e_tag, version]).to_string()
}

pub(crate) fn update_version(token: &str) -> Option<UpdateVersion> {
    let (e_tag, version): (Option<String>, Option<String>) = serde_json::from_str(token).ok()?;
    Some(UpdateVersion { e_tag, version })
}

/// Reads up to `size` bytes (fewer only at the end of `src`).
fn read_full(src: &mut dyn Read, size: usize, key: &str) -> Result<Vec<u8>, StoreError> {
    let mut buf = Vec::with_capacity(size);
    src.take(size as u64)
        .read_to_end(&mut buf)
        .map_err(|source| StoreError::Io {
            op: "read source for",
            path: key.into(),
            source,
        })?;
    Ok(buf)
}

impl Backend for ObjectBackend {
    fn read(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        self.get(key).map(|(b, _)| b.to_vec())
    }

    fn write(&self, key: &str, bytes: &[u8], _: Durability) -> Result<(), StoreError> {
        // An acknowledged PUT is durable: there is no later barrier to wait for.
        self.put(key, Bytes::copy_from_slice(bytes), PutMode::Overwrite)?
            .map(drop)
            .map_err(|e| self.err("write", key, e))
    }

    fn begin_write(&self) -> Result<Box<dyn PendingWrite + '_>, StoreError> {
        Ok(Box::new(BufferedWrite::new(self)))
    }

    fn write_stream(
        &self,
        key: &str,
        src: &mut dyn Read,
        durability: Durability,
    ) -> Result<u64, StoreError> {
        let first = read_full(src, self.options.part_size, key)?;
        if first.len() < self.options.part_size {
            let n = first.len() as u64;
            self.write(key, &first, durability)?;
            return Ok(n);
        }
        self.put_multipart(key, first, src)
    }

    fn hash(&self, key: &str) -> Result<[u8; 32], StoreError> {
        let path = self.path(key)?;
        let store = self.store.clone();
        self.bridge
            .run(async move {
                let mut stream = store.get(&path).await?.into_stream();
                let mut hasher = blake3::Hasher::new();
                while let Some(bytes) = stream.next().await {
                    hasher.update(&bytes?);
                }
                Ok(*hasher.finalize().as_bytes())
            })
            .map_err(|e| self.err("read", key, e))
    }

    fn read_range(&self, key: &str, offset: u64, len: usize) -> Result<Vec<u8>, StoreError> {
        let path = self.path(key)?;
        let store = self.store.clone();
        let end = offset.saturating_add(len as u64);
        let bytes = self
            .bridge
            .run(async move { store.get_range(&path, offset..end).await })
            .map_err(|e| self.err("read a range of", key, e))?;
        if bytes.len() != len {
            return Err(StoreError::Io {
                op: "read a range of",
                path: key.into(),
                source: std::io::ErrorKind::UnexpectedEof.into(),
            });
        }
        Ok(bytes.to_vec())
    }

    fn size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let path = self.path(key)?;
        let store = self.store.clone();
        match self.bridge.run(async move { store.head(&path).await }) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err("look up", key, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let path = self.path(prefix)?;
        let store = self.store.clone();
        let metas = self
            .bridge
            .run(async move {
                let mut out = Vec::new();
                let mut stream = store.list(Some(&path));
                while let Some(meta) = stream.next().await {
                    out.push(meta?.location);
                }
                Ok(out)
            })
            .map_err(|e| self.err("list", prefix, e))?;
        let mut keys: Vec<String> = metas.iter().filter_map(|l| self.key_of(l)).collect();
        keys.sort();
        Ok(keys)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let store = self.store.clone();
        match self.bridge.run(async move { store.delete(&path).await }) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("delete", key, e)),
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let (src, dst) = (self.path(from)?, self.path(to)?);
        let store = self.store.clone();
        // A server-side copy, then the delete: a crash in between leaves both, never neither.
        self.bridge
            .run(async move { store.rename(&src, &dst).await })
            .map_err(|e| self.err("move", from, e))
    }

    fn barrier(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn local_path(&self, _: &str) -> Option<PathBuf> {
        None
    }

    fn write_new(&self, key: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        match self.put(key, Bytes::copy_from_slice(bytes), PutMode::Create)? {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.err("create", key, e)),
        }
    }

    fn read_versioned(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        match self.get(key) {
            Ok((bytes, t)) => Ok(Some((bytes.to_vec(), t))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write_if(&self, key: &str, bytes: &[u8], expected: Option<&str>) -> Result<(), StoreError> {
        let mode = match expected {
            None => PutMode::Create,
            Some(t) => PutMode::Update(update_version(t).ok_or_else(|| StoreError::Conflict {
                key: key.to_owned(),
            })?),
        };
        self.put(key, Bytes::copy_from_slice(bytes), mode)?
            .map(drop)
            .map_err(|e| match e {
                // Deleted since it was read: someone else changed it too.
                object_store::Error::NotFound { .. } => StoreError::Conflict {
                    key: key.to_owned(),
                },
                e => self.err("replace", key, e),
            })
    }

    fn lease(&self) -> Result<Option<Box<dyn Lease>>, StoreError> {
        Ok(Some(Box::new(crate::lease::ObjectLease::acquire(self)?)))
    }

    fn describe(&self) -> String {
        self.url.clone()
    }
}
