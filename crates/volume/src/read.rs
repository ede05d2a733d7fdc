//! Reading files out of a volume version, verified chunk by chunk.

use std::io::Write;

use tinycdn_core::manifest::{EntryKind, FileContent, Manifest};
use tinycdn_core::names::{resolve_link_target, VolumePath};
use tinycdn_core::FileId;
use tinycdn_store::Store;

use crate::VolumeError;

/// Most symlinks followed when resolving a path (as Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// Finds the regular file at `path`, following symlinks inside the volume.
///
/// # Errors
/// [`VolumeError::NoSuchFile`] when the path is missing, a directory, or a link loop.
pub fn find_file<'m>(
    manifest: &'m Manifest,
    path: &str,
    reference: &str,
) -> Result<&'m FileContent, VolumeError> {
    let missing = |why: &str| VolumeError::NoSuchFile {
        path: path.to_owned(),
        reference: reference.to_owned(),
        why: why.to_owned(),
    };
    let mut current = VolumePath::new(path.trim_start_matches('/'))?;
    for _ in 0..=MAX_LINKS {
        let entry = manifest.find(current.as_str()).ok_or_else(|| missing(""))?;
        match &entry.kind {
            EntryKind::File(f) => return Ok(f),
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

/// Writes a file's bytes to `out`, verifying each chunk before any of its bytes are written and the
/// whole-file hash at the end.
///
/// # Errors
/// Missing or corrupt chunks (nothing of a bad chunk is written), write errors.
pub fn copy_file(
    store: &Store,
    file: &FileContent,
    reference: &str,
    out: &mut dyn Write,
) -> Result<u64, VolumeError> {
    let mut hasher = blake3::Hasher::new();
    let mut written = 0u64;
    for c in &file.chunks {
        let bytes = store.read_chunk(&c.id).map_err(|e| VolumeError::Damaged {
            reference: reference.to_owned(),
            why: e.to_string(),
        })?;
        hasher.update(&bytes);
        out.write_all(&bytes).map_err(|source| VolumeError::Io {
            op: "write",
            path: "output".into(),
            source,
        })?;
        written += bytes.len() as u64;
    }
    if FileId::from_bytes(*hasher.finalize().as_bytes()) != file.hash {
        return Err(VolumeError::Damaged {
            reference: reference.to_owned(),
            why: format!(
                "chunks of a {}-byte file do not add up to its hash",
                file.size
            ),
        });
    }
    Ok(written)
}

/// Reads a file's bytes chunk by chunk from the store, verifying every chunk before handing out any
/// of its bytes, and the whole-file hash before reporting the end.
#[derive(Debug)]
pub struct FileReader<'a> {
    store: &'a Store,
    file: &'a FileContent,
    next: usize,
    current: Vec<u8>,
    pos: usize,
    hasher: blake3::Hasher,
}

impl<'a> FileReader<'a> {
    /// Starts reading `file`.
    #[must_use]
    pub fn new(store: &'a Store, file: &'a FileContent) -> Self {
        Self {
            store,
            file,
            next: 0,
            current: Vec::new(),
            pos: 0,
            hasher: blake3::Hasher::new(),
        }
    }
}

impl std::io::Read for FileReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            let Some(c) = self.file.chunks.get(self.next) else {
                if FileId::from_bytes(*self.hasher.finalize().as_bytes()) != self.file.hash {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the chunks do not add up to the file's hash",
                    ));
                }
                return Ok(0);
            };
            self.current = self
                .store
                .read_chunk(&c.id)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            self.hasher.update(&self.current);
            self.pos = 0;
            self.next += 1;
        }
        let n = out.len().min(self.current.len() - self.pos);
        out[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
