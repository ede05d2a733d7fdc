//! Reading files out of a volume version, verified chunk by chunk.

use std::io::Write;

use tinycdn_core::manifest::{Entry, EntryKind, FileContent, Manifest};
use tinycdn_core::names::{resolve_link_target, VolumePath};
use tinycdn_core::FileId;
use tinycdn_store::Store;

use crate::VolumeError;

/// Most symlinks followed when resolving a path (as Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// A regular file of a manifest and which object holds it.
#[derive(Debug, Clone, Copy)]
pub struct FileRef<'m> {
    /// The file's content description.
    pub content: &'m FileContent,
    /// Whether it is executable (kept as a separate 0555 object).
    pub exec: bool,
}

impl<'m> FileRef<'m> {
    /// The file of an entry, if the entry is a regular file.
    #[must_use]
    pub fn of(entry: &'m Entry) -> Option<Self> {
        entry.file().map(|content| Self {
            content,
            exec: entry.mode & 0o111 != 0,
        })
    }

    /// The store key of the object holding this file.
    #[must_use]
    pub fn object_key(&self) -> String {
        self.key().to_string()
    }

    /// The store [`Key`](tinycdn_store::Key) of the object holding this file.
    #[must_use]
    pub fn key(&self) -> tinycdn_store::Key {
        tinycdn_store::Key::Object {
            id: self.content.hash,
            exec: self.exec,
        }
    }
}

/// Finds the regular file at `path`, following symlinks inside the volume.
///
/// # Errors
/// [`VolumeError::NoSuchFile`] when the path is missing, a directory, or a link loop.
pub fn find_file<'m>(
    manifest: &'m Manifest,
    path: &str,
    reference: &str,
) -> Result<FileRef<'m>, VolumeError> {
    let missing = |why: &str| VolumeError::NoSuchFile {
        path: path.to_owned(),
        reference: reference.to_owned(),
        why: why.to_owned(),
    };
    let mut current = VolumePath::new(path.trim_start_matches('/'))?;
    for _ in 0..=MAX_LINKS {
        let entry = manifest.find(current.as_str()).ok_or_else(|| missing(""))?;
        match &entry.kind {
            EntryKind::File(_) => return FileRef::of(entry).ok_or_else(|| missing("")),
            EntryKind::Dir => return Err(missing(" (it is a directory)")),
            EntryKind::Symlink { target } => {
                let resolved = resolve_link_target(&entry.path, target)?;
                if resolved.is_empty() {
                    return Err(missing(" (it links to the volume root)"));
                }
                current = VolumePath::new(&resolved)?;
            }
        }
    }
    Err(missing(" (too many levels of symbolic links)"))
}

/// Writes a file's bytes to `out`, verifying each chunk before any of its bytes are written.
///
/// # Errors
/// Missing or corrupt data (nothing of a bad chunk is written), write errors.
pub fn copy_file(
    store: &Store,
    file: FileRef<'_>,
    reference: &str,
    out: &mut dyn Write,
) -> Result<u64, VolumeError> {
    let mut reader = FileReader::new(store, file);
    let mut written = 0u64;
    while let Some(chunk) = reader.next_chunk().map_err(|e| VolumeError::Damaged {
        reference: reference.to_owned(),
        why: e.to_string(),
    })? {
        out.write_all(&chunk).map_err(|source| VolumeError::Io {
            op: "write",
            path: "output".into(),
            source,
        })?;
        written += chunk.len() as u64;
    }
    Ok(written)
}

/// Reads a file chunk by chunk from its object, verifying every chunk before handing out any of its
/// bytes, and the whole-file hash before reporting the end.
#[derive(Debug)]
pub struct FileReader<'a> {
    store: &'a Store,
    file: FileRef<'a>,
    next: usize,
    offset: u64,
    current: Vec<u8>,
    pos: usize,
    hasher: blake3::Hasher,
}

impl<'a> FileReader<'a> {
    /// Starts reading `file`.
    #[must_use]
    pub fn new(store: &'a Store, file: FileRef<'a>) -> Self {
        Self {
            store,
            file,
            next: 0,
            offset: 0,
            current: Vec::new(),
            pos: 0,
            hasher: blake3::Hasher::new(),
        }
    }

    /// The next verified chunk, or `None` at the end (after checking the whole-file hash).
    ///
    /// # Errors
    /// Missing, short or corrupt data.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, tinycdn_store::StoreError> {
        let content = self.file.content;
        let Some(c) = content.chunks.get(self.next) else {
            if FileId::from_bytes(*self.hasher.finalize().as_bytes()) != content.hash {
                return Err(tinycdn_store::StoreError::Corrupt {
                    key: self.file.object_key(),
                    actual: "chunks that do not add up to the file's hash".into(),
                });
            }
            return Ok(None);
        };
        let bytes =
            self.store
                .read_chunk(&content.hash, self.file.exec, self.offset, &c.id, c.len)?;
        self.hasher.update(&bytes);
        self.next += 1;
        self.offset += u64::from(c.len);
        Ok(Some(bytes))
    }
}

impl std::io::Read for FileReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            match self.next_chunk() {
                Ok(Some(bytes)) => {
                    self.current = bytes;
                    self.pos = 0;
                }
                Ok(None) => return Ok(0),
                Err(e) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        e.to_string(),
                    ))
                }
            }
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
