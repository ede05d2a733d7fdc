//! The typed store every caller uses: file objects, manifests, signatures, the version index, tags
//! and the checkout registry, laid out over a [`Backend`]'s flat key space.
//!
//! Files are stored whole, once per distinct content (as OSTree does), so that a checkout can
//! hardlink them and a server can send them with one read; the manifest's chunk list addresses
//! every chunk as a range of its file, so transfers stay chunk-granular and each chunk read is
//! verified against its own hash.
//!
//! ```text
//! tinycdn-store                 marker with the layout version
//! objects/<2 hex>/<64 hex>[.x]  whole files named by their BLAKE3 (0444; `.x`: executable, 0555)
//! manifests/<64 hex>            canonical manifest bytes, named by the version id
//! signatures/<64 hex>           the manifest's signature set
//! versions/<volume>/<20 digits> the version id of that volume's version number
//! tags/<volume>/<tag>           a signed tag record
//! checkouts/<64 hex>            a checkout made from this store (gc keeps what it uses)
//! deltas/<64 hex>/<64 hex>      a binary delta from a base file to a target file (by BLAKE3)
//! delta-indexes/<64 hex>        the signed index of the deltas made for a version
//! snapshot                      the signed snapshot of every current tag
//! timestamp                     the signed timestamp naming the newest snapshot
//! roots/<20 digits>             every published trust root version, for nodes to walk the chain
//! trust/{root,snapshot,timestamp} at a pulling node: the newest of each it accepted (pinned)
//! quarantine/...                objects fsck found damaged
//! tmp/                          temporary files of writes in progress
//! ```
//! Every read of content-addressed data is verified against its name before it is returned.

use std::path::{Path, PathBuf};

use tinycdn_core::delta_index::SignedDeltaIndex;
use tinycdn_core::manifest::Manifest;
use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::root::SignedRoot;
use tinycdn_core::sign::SignatureSet;
use tinycdn_core::snapshot::SignedSnapshot;
use tinycdn_core::tag::SignedTag;
use tinycdn_core::timestamp::SignedTimestamp;
use tinycdn_core::{ChunkId, FileId, VersionId};

use crate::backend::{Backend, Durability};
use crate::key::{Key, Prefix};
use crate::local::LocalBackend;
use crate::StoreError;

const MARKER: &str = "tinycdn-store";
const MARKER_TEXT: &[u8] = b"tinycdn store layout 1\n";

/// A checkout that this store's objects back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRecord {
    /// The symlink the checkout switches (absolute path).
    pub dest: PathBuf,
    /// The volume.
    pub volume: String,
    /// The version it points at.
    pub version: VersionId,
}

impl CheckoutRecord {
    fn key(dest: &Path) -> String {
        use std::os::unix::ffi::OsStrExt;
        Key::Checkout(
            blake3::hash(dest.as_os_str().as_bytes())
                .to_hex()
                .to_string(),
        )
        .to_string()
    }

    fn to_bytes(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        format!(
            "version {}\nvolume {}\ndest {}\n",
            self.version,
            self.volume,
            hex::encode(self.dest.as_os_str().as_bytes())
        )
        .into_bytes()
    }

    fn from_bytes(key: &str, bytes: &[u8]) -> Result<Self, StoreError> {
        use std::os::unix::ffi::OsStringExt;
        let bad = |why: &str| StoreError::Decode {
            key: key.to_owned(),
            source: Box::new(tinycdn_core::DecodeError::Invalid {
                what: "checkout record",
                field: "line",
                why: why.to_owned(),
            }),
        };
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
        let (mut version, mut volume, mut dest) = (None, None, None);
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("version", v)) => {
                    version = Some(v.parse::<VersionId>().map_err(|e| StoreError::Decode {
                        key: key.to_owned(),
                        source: Box::new(e),
                    })?);
                }
                Some(("volume", v)) => volume = Some(v.to_owned()),
                Some(("dest", d)) => {
                    dest = Some(PathBuf::from(std::ffi::OsString::from_vec(
                        hex::decode(d).map_err(|_| bad("dest is not hex"))?,
                    )));
                }
                _ => return Err(bad("unknown line")),
            }
        }
        Ok(Self {
            dest: dest.ok_or_else(|| bad("no dest"))?,
            volume: volume.ok_or_else(|| bad("no volume"))?,
            version: version.ok_or_else(|| bad("no version"))?,
        })
    }
}

/// The store's writer lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct StoreLock {
    /// The locked file, held only so that dropping the guard unlocks it (`None`: no lock needed).
    _file: Option<std::fs::File>,
    /// The lease of a store shared through an object store (`None`: the lock file is enough).
    _lease: Option<Box<dyn crate::backend::Lease>>,
}

/// A tinycdn store over some backend.
#[derive(Debug)]
pub struct Store {
    backend: Box<dyn Backend>,
    root: Option<PathBuf>,
}

impl Store {
    /// Creates a new local store at `path` (the directory may exist if empty).
    ///
    /// # Errors
    /// [`StoreError::NotEmpty`] when `path` holds something else; I/O errors.
    pub fn init(path: &Path) -> Result<Self, StoreError> {
        if path.join(MARKER).exists() {
            return Self::open(path);
        }
        if let Ok(mut entries) = std::fs::read_dir(path) {
            if entries.next().is_some() {
                return Err(StoreError::NotEmpty {
                    path: path.to_owned(),
                });
            }
        }
        let backend = LocalBackend::open(path, true)?;
        backend.write(MARKER, MARKER_TEXT, Durability::Immediate)?;
        Ok(Self {
            backend: Box::new(backend),
            root: Some(path.to_owned()),
        })
    }

    /// Opens an existing local store.
    ///
    /// # Errors
    /// [`StoreError::NotAStore`] when `path` has no store marker.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        match std::fs::read(path.join(MARKER)) {
            Ok(m) if m == MARKER_TEXT => {}
            _ => {
                return Err(StoreError::NotAStore {
                    path: path.to_owned(),
                })
            }
        }
        Ok(Self {
            backend: Box::new(LocalBackend::open(path, false)?),
            root: Some(path.to_owned()),
        })
    }

    /// A store over any backend (tests, object stores).
    #[must_use]
    pub fn with_backend(backend: Box<dyn Backend>) -> Self {
        Self {
            backend,
            root: None,
        }
    }

    /// Opens the store kept in `backend` (an object store), which must hold the store marker.
    ///
    /// # Errors
    /// [`StoreError::NotAStore`] when it does not; I/O errors.
    pub fn open_backend(backend: Box<dyn Backend>) -> Result<Self, StoreError> {
        match backend.read(MARKER) {
            Ok(m) if m == MARKER_TEXT => Ok(Self::with_backend(backend)),
            Ok(_) => Err(StoreError::NotAStore {
                path: backend.describe().into(),
            }),
            Err(e) if e.is_not_found() => Err(StoreError::NotAStore {
                path: backend.describe().into(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Creates a store in `backend` (an object store under a prefix), which must be empty or
    /// already a store.
    ///
    /// # Errors
    /// [`StoreError::NotEmpty`] when the prefix holds other objects; I/O errors.
    pub fn init_backend(backend: Box<dyn Backend>) -> Result<Self, StoreError> {
        match backend.read(MARKER) {
            Ok(m) if m == MARKER_TEXT => return Ok(Self::with_backend(backend)),
            Ok(_) => {
                return Err(StoreError::NotEmpty {
                    path: backend.describe().into(),
                })
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        for top in ["objects", "manifests", "versions", "tags", "log"] {
            if !backend.list(top)?.is_empty() {
                return Err(StoreError::NotEmpty {
                    path: backend.describe().into(),
                });
            }
        }
        backend.write_new(MARKER, MARKER_TEXT)?;
        Ok(Self::with_backend(backend))
    }

    /// Where the store is, for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        self.backend.describe()
    }

    /// The local root directory, for a local store.
    #[must_use]
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// The raw backend, for tests that check the layout itself (feature `testing`): the one
    /// escape hatch past [`Key`]. Nothing else outside this crate reaches the backend, so the
    /// layout has one owner.
    #[cfg(any(test, feature = "testing"))]
    #[must_use]
    pub fn raw_backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    // ---- keys by name: the layout is `Key`'s; nothing else spells a path ----

    /// The bytes stored under `key`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; I/O errors.
    pub fn read_key(&self, key: &Key) -> Result<Vec<u8>, StoreError> {
        self.backend.read(&key.to_string())
    }

    /// The bytes under `key`, or `None` when there are none.
    ///
    /// # Errors
    /// I/O errors.
    pub fn read_key_if_any(&self, key: &Key) -> Result<Option<Vec<u8>>, StoreError> {
        match self.backend.read(&key.to_string()) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `bytes` under `key`, atomically, durable as `durability` says.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_key(
        &self,
        key: &Key,
        bytes: &[u8],
        durability: Durability,
    ) -> Result<(), StoreError> {
        self.backend.write(&key.to_string(), bytes, durability)
    }

    /// The size of what `key` holds, `None` when absent.
    ///
    /// # Errors
    /// I/O errors.
    pub fn key_size(&self, key: &Key) -> Result<Option<u64>, StoreError> {
        self.backend.size(&key.to_string())
    }

    /// Removes `key` (absent is fine).
    ///
    /// # Errors
    /// I/O errors.
    pub fn delete_key(&self, key: &Key) -> Result<(), StoreError> {
        self.backend.delete(&key.to_string())
    }

    /// Every key under a top folder of the layout (names that are no key of this layout, such
    /// as a stray file, are left out).
    ///
    /// # Errors
    /// I/O errors.
    pub fn keys(&self, prefix: Prefix) -> Result<Vec<Key>, StoreError> {
        Ok(self
            .backend
            .list(prefix.as_str())?
            .iter()
            .filter_map(|k| Key::parse(k))
            .collect())
    }

    /// `len` bytes of `key` from `offset`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; I/O errors.
    pub fn read_key_range(
        &self,
        key: &Key,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, StoreError> {
        self.backend.read_range(&key.to_string(), offset, len)
    }

    /// The file holding `key`'s bytes on a local store (for hardlinks and `sendfile`).
    #[must_use]
    pub fn local_path(&self, key: &Key) -> Option<PathBuf> {
        self.backend.local_path(&key.to_string())
    }

    /// Makes every completed bulk write durable.
    ///
    /// # Errors
    /// I/O errors.
    pub fn barrier(&self) -> Result<(), StoreError> {
        self.backend.barrier()
    }

    /// Takes the store's writer lock, waiting for another writer (publish, checkout, gc, fsck) to
    /// finish. Readers need no lock: every object is immutable or replaced atomically.
    ///
    /// # Errors
    /// I/O errors.
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        let Some(root) = &self.root else {
            return Ok(StoreLock {
                _file: None,
                _lease: self.backend.lease()?,
            });
        };
        let path = root.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| StoreError::Io {
                op: "open",
                path: path.clone(),
                source,
            })?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(|e| {
            StoreError::Io {
                op: "lock",
                path,
                source: e.into(),
            }
        })?;
        Ok(StoreLock {
            _file: Some(file),
            _lease: None,
        })
    }

    // ---- file objects ----

    /// The key of a file object: the whole bytes of a file, named by their BLAKE3. Executable files
    /// are kept apart (suffix `.x`, mode 0555) so that hardlinks carry the right mode.
    #[must_use]
    pub fn object_key(id: &FileId, exec: bool) -> String {
        Key::Object { id: *id, exec }.to_string()
    }

    /// The file id and mode class a key names, for keys under `objects/`.
    #[must_use]
    pub fn parse_object_key(key: &str) -> Option<(FileId, bool)> {
        match Key::parse(key)? {
            Key::Object { id, exec } => Some((id, exec)),
            _ => None,
        }
    }

    /// Whether the object is present with the expected size (a cheap check; reads verify fully).
    ///
    /// # Errors
    /// I/O errors.
    pub fn has_object(&self, id: &FileId, exec: bool, size: u64) -> Result<bool, StoreError> {
        Ok(self.backend.size(&Self::object_key(id, exec))? == Some(size))
    }

    fn after_object_write(&self, key: &str, exec: bool) -> Result<(), StoreError> {
        if exec {
            if let Some(path) = self.backend.local_path(key) {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o555)).map_err(
                    |source| StoreError::Io {
                        op: "set permissions of",
                        path,
                        source,
                    },
                )?;
            }
        }
        Ok(())
    }

    /// Stores a whole file held in memory unless an intact-looking copy exists; returns whether it
    /// wrote. The caller hashed the bytes (checked in debug builds).
    ///
    /// # Errors
    /// I/O errors (a full disk among them); nothing partial is left visible.
    pub fn put_object(&self, id: &FileId, exec: bool, bytes: &[u8]) -> Result<bool, StoreError> {
        debug_assert_eq!(FileId::of(bytes), *id);
        if self.has_object(id, exec, bytes.len() as u64)? {
            return Ok(false);
        }
        let key = Self::object_key(id, exec);
        self.backend.write(&key, bytes, Durability::AtBarrier)?;
        self.after_object_write(&key, exec)?;
        Ok(true)
    }

    /// Stores a whole file from a reader. The reader must fail (with an I/O error) unless the bytes
    /// it produced hash to `id`: then nothing is stored.
    ///
    /// # Errors
    /// The reader's error or I/O errors; nothing partial is left visible.
    pub fn put_object_stream(
        &self,
        id: &FileId,
        exec: bool,
        src: &mut dyn std::io::Read,
    ) -> Result<u64, StoreError> {
        let key = Self::object_key(id, exec);
        let n = self
            .backend
            .write_stream(&key, src, Durability::AtBarrier)?;
        self.after_object_write(&key, exec)?;
        Ok(n)
    }

    /// Reads one chunk of a file object (`len` bytes at `offset`) and verifies it against `chunk`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Corrupt`] or I/O errors.
    pub fn read_chunk(
        &self,
        object: &FileId,
        exec: bool,
        offset: u64,
        chunk: &ChunkId,
        len: u32,
    ) -> Result<Vec<u8>, StoreError> {
        let key = Self::object_key(object, exec);
        let bytes = self.backend.read_range(&key, offset, len as usize)?;
        let actual = ChunkId::of(&bytes);
        if actual != *chunk {
            return Err(StoreError::Corrupt {
                key: format!("{key} at byte {offset}"),
                actual: actual.to_hex(),
            });
        }
        Ok(bytes)
    }

    /// Hashes a whole object and says whether it matches its name.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] or I/O errors.
    pub fn verify_object(&self, id: &FileId, exec: bool) -> Result<bool, StoreError> {
        Ok(self.backend.hash(&Self::object_key(id, exec))? == *id.as_bytes())
    }

    /// Every file object key.
    ///
    /// # Errors
    /// I/O errors.
    pub fn object_keys(&self) -> Result<Vec<String>, StoreError> {
        self.backend.list(Prefix::Objects.as_str())
    }

    /// The size of a name [`Store::object_keys`] listed (a stray name included), `None` when
    /// it is gone.
    ///
    /// # Errors
    /// [`StoreError::BadKey`] for a name outside `objects/`; I/O errors.
    pub fn object_key_size(&self, key: &str) -> Result<Option<u64>, StoreError> {
        if !key.starts_with("objects/") {
            return Err(StoreError::BadKey {
                key: key.to_owned(),
            });
        }
        self.backend.size(key)
    }

    // ---- manifests ----

    /// Stores a manifest's canonical bytes and signatures durably; returns its version id.
    ///
    /// # Errors
    /// I/O errors.
    pub fn put_manifest(
        &self,
        manifest_bytes: &[u8],
        signatures: &SignatureSet,
    ) -> Result<VersionId, StoreError> {
        let id = VersionId::of(manifest_bytes);
        self.backend.write(
            &Key::Signatures(id).to_string(),
            &signatures.to_bytes(),
            Durability::Immediate,
        )?;
        self.backend.write(
            &Key::Manifest(id).to_string(),
            manifest_bytes,
            Durability::Immediate,
        )?;
        Ok(id)
    }

    /// Reads a manifest, checking that its bytes hash to `id` and decode canonically.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Corrupt`], [`StoreError::Decode`].
    pub fn read_manifest(&self, id: &VersionId) -> Result<(Manifest, SignatureSet), StoreError> {
        let key = Key::Manifest(*id).to_string();
        let bytes = self.backend.read(&key)?;
        let actual = VersionId::of(&bytes);
        if actual != *id {
            return Err(StoreError::Corrupt {
                key,
                actual: actual.to_hex(),
            });
        }
        let manifest = Manifest::from_bytes(&bytes).map_err(|source| StoreError::Decode {
            key,
            source: Box::new(source),
        })?;
        let sig_key = Key::Signatures(*id).to_string();
        let signatures = match self.backend.read(&sig_key) {
            Ok(b) => SignatureSet::from_bytes(&b).map_err(|source| StoreError::Decode {
                key: sig_key,
                source: Box::new(source),
            })?,
            Err(e) if e.is_not_found() => SignatureSet::default(),
            Err(e) => return Err(e),
        };
        Ok((manifest, signatures))
    }

    /// Every manifest id in the store.
    ///
    /// # Errors
    /// I/O errors.
    pub fn manifest_ids(&self) -> Result<Vec<VersionId>, StoreError> {
        Ok(self
            .backend
            .list("manifests")?
            .iter()
            .filter_map(|k| k.rsplit('/').next()?.parse().ok())
            .collect())
    }

    /// Removes a manifest and its signatures (gc).
    ///
    /// # Errors
    /// I/O errors.
    pub fn delete_manifest(&self, id: &VersionId) -> Result<(), StoreError> {
        self.backend.delete(&Key::Manifest(*id).to_string())?;
        self.backend.delete(&Key::Signatures(*id).to_string())
    }

    // ---- deltas ----

    /// The key of the delta from `base` to `target`.
    #[must_use]
    pub fn delta_key(base: &FileId, target: &FileId) -> String {
        Key::Delta {
            base: *base,
            target: *target,
        }
        .to_string()
    }

    /// Stores a delta's bytes (durable at the next barrier).
    ///
    /// # Errors
    /// I/O errors.
    pub fn put_delta(
        &self,
        base: &FileId,
        target: &FileId,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.backend
            .write(&Self::delta_key(base, target), bytes, Durability::AtBarrier)
    }

    /// Reads a delta, checking it against the hash and size a signed index lists.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], or [`StoreError::Corrupt`] when the bytes differ.
    pub fn read_delta(
        &self,
        base: &FileId,
        target: &FileId,
        expected: &FileId,
    ) -> Result<Vec<u8>, StoreError> {
        let key = Self::delta_key(base, target);
        let bytes = self.backend.read(&key)?;
        let actual = FileId::of(&bytes);
        if actual != *expected {
            return Err(StoreError::Corrupt {
                key,
                actual: actual.to_hex(),
            });
        }
        Ok(bytes)
    }

    /// Stores a version's signed delta index durably.
    ///
    /// # Errors
    /// I/O errors.
    pub fn put_delta_index(&self, index: &SignedDeltaIndex) -> Result<(), StoreError> {
        self.backend.write(
            &Key::DeltaIndex(index.index.version).to_string(),
            &index.to_bytes(),
            Durability::Immediate,
        )
    }

    /// Reads a version's delta index, if it has one (signatures not checked here).
    ///
    /// # Errors
    /// I/O or decode errors.
    pub fn read_delta_index(
        &self,
        version: &VersionId,
    ) -> Result<Option<SignedDeltaIndex>, StoreError> {
        self.read_record(
            &Key::DeltaIndex(*version).to_string(),
            SignedDeltaIndex::from_bytes,
        )
    }

    /// The record under `key` decoded, `None` when absent (signatures not checked here).
    fn read_record<T>(
        &self,
        key: &str,
        decode: impl FnOnce(&[u8]) -> Result<T, tinycdn_core::DecodeError>,
    ) -> Result<Option<T>, StoreError> {
        match self.backend.read(key) {
            Ok(bytes) => decode(&bytes)
                .map(Some)
                .map_err(|source| StoreError::Decode {
                    key: key.to_owned(),
                    source: Box::new(source),
                }),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    // ---- published trust roots ----

    /// The key of a published trust root version.
    #[must_use]
    pub fn root_key(version: u64) -> String {
        Key::Root(version).to_string()
    }

    /// Publishes a trust root version durably (signatures are the caller's to check).
    ///
    /// # Errors
    /// I/O errors.
    pub fn put_root(&self, root: &SignedRoot) -> Result<(), StoreError> {
        self.backend.write(
            &Self::root_key(root.root.version),
            &root.to_bytes(),
            Durability::Immediate,
        )
    }

    /// The bytes of a published trust root version, if the store has it (not decoded or
    /// checked here: see [`SignedRoot::from_bytes`]).
    ///
    /// # Errors
    /// I/O errors.
    pub fn read_root_bytes(&self, version: u64) -> Result<Option<Vec<u8>>, StoreError> {
        match self.backend.read(&Self::root_key(version)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    // ---- snapshot and timestamp ----

    /// Stores the signed timestamp durably.
    ///
    /// # Errors
    /// I/O errors.
    pub fn put_timestamp(&self, timestamp: &SignedTimestamp) -> Result<(), StoreError> {
        self.backend.write(
            &Key::Timestamp.to_string(),
            &timestamp.to_bytes(),
            Durability::Immediate,
        )
    }

    /// The store's timestamp, if it has one (signatures not checked here).
    ///
    /// # Errors
    /// I/O or decode errors.
    pub fn read_timestamp(&self) -> Result<Option<SignedTimestamp>, StoreError> {
        self.read_record(&Key::Timestamp.to_string(), SignedTimestamp::from_bytes)
    }

    /// Stores the signed snapshot of every current tag durably.
    ///
    /// # Errors
    /// I/O errors.
    pub fn put_snapshot(&self, snapshot: &SignedSnapshot) -> Result<(), StoreError> {
        self.backend.write(
            &Key::Snapshot.to_string(),
            &snapshot.to_bytes(),
            Durability::Immediate,
        )
    }

    /// The store's snapshot, if it has one (signatures not checked here).
    ///
    /// # Errors
    /// I/O or decode errors.
    pub fn read_snapshot(&self) -> Result<Option<SignedSnapshot>, StoreError> {
        self.read_record(&Key::Snapshot.to_string(), SignedSnapshot::from_bytes)
    }

    // ---- version index ----

    /// Records that `volume` version `number` is `id` (after the manifest is durable).
    ///
    /// # Errors
    /// I/O errors.
    pub fn put_version(
        &self,
        volume: &VolumeName,
        number: u64,
        id: &VersionId,
    ) -> Result<(), StoreError> {
        let key = Key::Version {
            volume: volume.clone(),
            number,
        }
        .to_string();
        let hex = id.to_hex();
        // Created, never replaced: of two publishers that chose the same number, one wins.
        if self.backend.write_new(&key, hex.as_bytes())? {
            return Ok(());
        }
        match self.backend.read(&key) {
            Ok(existing) if existing == hex.as_bytes() => Ok(()),
            _ => Err(StoreError::Conflict { key }),
        }
    }

    /// Removes a version from the index (gc).
    ///
    /// # Errors
    /// I/O errors.
    pub fn delete_version(&self, volume: &VolumeName, number: u64) -> Result<(), StoreError> {
        self.delete_key(&Key::Version {
            volume: volume.clone(),
            number,
        })
    }

    /// A volume's versions, oldest first.
    ///
    /// # Errors
    /// I/O errors, or an index entry that does not parse.
    pub fn versions(&self, volume: &VolumeName) -> Result<Vec<(u64, VersionId)>, StoreError> {
        let mut out = Vec::new();
        for key in self.backend.list(&Key::versions_of(volume))? {
            let Some(Key::Version { number, .. }) = Key::parse(&key) else {
                continue;
            };
            let bytes = self.backend.read(&key)?;
            let id = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.trim().parse::<VersionId>().ok())
                .ok_or_else(|| StoreError::Decode {
                    key: key.clone(),
                    source: Box::new(tinycdn_core::DecodeError::Invalid {
                        what: "version index",
                        field: "version id",
                        why: "not 64 hex digits".into(),
                    }),
                })?;
            out.push((number, id));
        }
        out.sort_by_key(|(n, _)| *n);
        Ok(out)
    }

    /// Every volume with at least one version.
    ///
    /// # Errors
    /// I/O errors.
    pub fn volumes(&self) -> Result<Vec<VolumeName>, StoreError> {
        let mut out: Vec<VolumeName> = self
            .backend
            .list("versions")?
            .iter()
            .filter_map(|k| match Key::parse(k) {
                Some(Key::Version { volume, .. }) => Some(volume),
                _ => None,
            })
            .collect();
        out.dedup();
        Ok(out)
    }

    // ---- tags ----

    /// Writes a signed tag durably.
    ///
    /// # Errors
    /// I/O errors.
    pub fn put_tag(&self, tag: &SignedTag) -> Result<(), StoreError> {
        self.backend.write(
            &Self::tag_key(&tag.record.volume, &tag.record.tag),
            &tag.to_bytes(),
            Durability::Immediate,
        )
    }

    /// Moves a tag only if it still points where it did when read by
    /// [`Store::read_tag_versioned`] (`expected` its token, `None`: only if it did not exist).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when another publisher moved it in between; I/O errors.
    pub fn put_tag_if(&self, tag: &SignedTag, expected: Option<&str>) -> Result<(), StoreError> {
        self.backend.write_if(
            &Self::tag_key(&tag.record.volume, &tag.record.tag),
            &tag.to_bytes(),
            expected,
        )
    }

    /// Reads a tag with the token [`Store::put_tag_if`] compares against.
    ///
    /// # Errors
    /// I/O or decode errors.
    pub fn read_tag_versioned(
        &self,
        volume: &VolumeName,
        tag: &TagName,
    ) -> Result<Option<(SignedTag, String)>, StoreError> {
        let key = Self::tag_key(volume, tag);
        let Some((bytes, token)) = self.backend.read_versioned(&key)? else {
            return Ok(None);
        };
        let signed = SignedTag::from_bytes(&bytes).map_err(|e| StoreError::Decode {
            key,
            source: Box::new(e),
        })?;
        Ok(Some((signed, token)))
    }

    /// Reads a tag, if it exists.
    ///
    /// # Errors
    /// I/O or decode errors.
    pub fn read_tag(
        &self,
        volume: &VolumeName,
        tag: &TagName,
    ) -> Result<Option<SignedTag>, StoreError> {
        self.read_record(&Self::tag_key(volume, tag), SignedTag::from_bytes)
    }

    fn tag_key(volume: &VolumeName, tag: &TagName) -> String {
        Key::Tag {
            volume: volume.clone(),
            tag: tag.clone(),
        }
        .to_string()
    }

    /// Every tag of a volume.
    ///
    /// # Errors
    /// I/O or decode errors.
    pub fn tags(&self, volume: &VolumeName) -> Result<Vec<SignedTag>, StoreError> {
        let mut out = Vec::new();
        for key in self.backend.list(&Key::tags_of(volume))? {
            // A tag removed between the listing and the read is simply not current.
            if let Some(tag) = self.read_record(&key, SignedTag::from_bytes)? {
                out.push(tag);
            }
        }
        Ok(out)
    }

    // ---- checkouts ----

    /// Records a checkout durably (before it is switched, so gc never removes what it will use).
    ///
    /// # Errors
    /// I/O errors.
    pub fn put_checkout(&self, rec: &CheckoutRecord) -> Result<(), StoreError> {
        self.backend.write(
            &CheckoutRecord::key(&rec.dest),
            &rec.to_bytes(),
            Durability::Immediate,
        )
    }

    /// Every recorded checkout.
    ///
    /// # Errors
    /// I/O or decode errors.
    pub fn checkouts(&self) -> Result<Vec<CheckoutRecord>, StoreError> {
        self.backend
            .list("checkouts")?
            .into_iter()
            .map(|key| {
                let bytes = self.backend.read(&key)?;
                CheckoutRecord::from_bytes(&key, &bytes)
            })
            .collect()
    }

    /// Forgets a checkout.
    ///
    /// # Errors
    /// I/O errors.
    pub fn delete_checkout(&self, dest: &Path) -> Result<(), StoreError> {
        self.backend.delete(&CheckoutRecord::key(dest))
    }

    // ---- damage ----

    /// Moves a damaged object out of the way, under `quarantine/`; returns its new key.
    ///
    /// # Errors
    /// I/O errors.
    pub fn quarantine(&self, key: &str) -> Result<String, StoreError> {
        let to = format!("quarantine/{key}"); // Key::Quarantined of whatever was damaged
        self.backend.rename(key, &to)?;
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryBackend;

    #[test]
    fn chunks_of_objects_verify_on_read() {
        let store = Store::with_backend(Box::new(MemoryBackend::new()));
        let id = FileId::of(b"abcdef");
        assert!(store.put_object(&id, false, b"abcdef").expect("put"));
        assert!(!store.put_object(&id, false, b"abcdef").expect("put again"));
        let chunk = ChunkId::of(b"cde");
        assert_eq!(
            store.read_chunk(&id, false, 2, &chunk, 3).expect("read"),
            b"cde"
        );
        assert!(matches!(
            store.read_chunk(&id, false, 1, &chunk, 3),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(store.verify_object(&id, false).expect("verify"));
        store
            .raw_backend()
            .write(
                &Store::object_key(&id, false),
                b"abcdeX",
                Durability::Immediate,
            )
            .expect("corrupt it");
        assert!(!store.verify_object(&id, false).expect("verify"));
        assert_eq!(
            Store::parse_object_key(&Store::object_key(&id, true)),
            Some((id, true))
        );
    }

    #[test]
    fn checkout_records_round_trip() {
        let store = Store::with_backend(Box::new(MemoryBackend::new()));
        let rec = CheckoutRecord {
            dest: PathBuf::from("/srv/vols/a b\nc"),
            volume: "media".into(),
            version: VersionId::of(b"x"),
        };
        store.put_checkout(&rec).expect("put");
        assert_eq!(store.checkouts().expect("list"), vec![rec.clone()]);
        store.delete_checkout(&rec.dest).expect("delete");
        assert!(store.checkouts().expect("list").is_empty());
    }

    #[test]
    fn init_refuses_non_empty_and_open_refuses_non_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("x"), b"x").expect("write");
        assert!(matches!(
            Store::init(dir.path()),
            Err(StoreError::NotEmpty { .. })
        ));
        assert!(matches!(
            Store::open(dir.path()),
            Err(StoreError::NotAStore { .. })
        ));
        let fresh = dir.path().join("s");
        Store::init(&fresh).expect("init");
        Store::open(&fresh).expect("open");
        Store::init(&fresh).expect("init is idempotent");
    }
}
