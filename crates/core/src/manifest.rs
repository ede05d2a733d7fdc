//! The manifest of a volume version and its canonical encoding.
//!
//! # Encoding (format version 1)
//! All integers little-endian; `str` is a u16 byte length then UTF-8 bytes.
//! ```text
//! magic      8 bytes  "TCDNMAN\n"
//! format     u16      1
//! volume     str      a valid volume name
//! version    u64      1 for the first version, parent's + 1 after
//! parent     u8 flag (0 or 1) then, if 1, 32-byte version id
//! created    i64      Unix seconds
//! chunking   u32 min, u32 avg, u32 max   the FastCDC sizes the files were cut with
//! count      u32      number of entries
//! entries    sorted by path bytes, strictly increasing; every parent directory listed before
//!            its children
//!   path     str      a valid volume path
//!   kind     u8       0 directory, 1 file, 2 symlink
//!   mode     u32      permission bits (<= 0o7777)
//!   file:    u64 size, str media type, 32-byte whole-file BLAKE3,
//!            u32 chunk count, then per chunk 32-byte BLAKE3 and u32 length (> 0);
//!            the lengths add up to the size
//!   symlink: str target, relative and resolving inside the volume
//! ```
//! Decoding is strict: any input that does not re-encode to the same bytes is refused, so a version
//! id names exactly one manifest.

use std::collections::{HashMap, HashSet};

use crate::chunking::ChunkParams;
use crate::encoding::{Reader, Writer};
use crate::names::{resolve_link_target, VolumeName, VolumePath};
use crate::{ChunkId, DecodeError, FileId, VersionId};

/// The magic bytes that start every manifest.
pub const MAGIC: &[u8; 8] = b"TCDNMAN\n";
/// The manifest format version this build writes and reads.
pub const FORMAT: u16 = 1;
const WHAT: &str = "manifest";

/// One chunk of a file: its hash and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkRef {
    /// The chunk's BLAKE3 hash.
    pub id: ChunkId,
    /// The chunk's length in bytes.
    pub len: u32,
}

/// A regular file's content description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    /// Size in bytes.
    pub size: u64,
    /// Media type (`image/jpeg`, ...).
    pub media_type: String,
    /// BLAKE3 of the whole file.
    pub hash: FileId,
    /// The chunks, in order.
    pub chunks: Vec<ChunkRef>,
}

impl FileContent {
    /// The byte offset of each chunk within the file, in order.
    pub fn chunk_offsets(&self) -> impl Iterator<Item = (u64, ChunkRef)> + '_ {
        self.chunks.iter().scan(0u64, |off, c| {
            let start = *off;
            *off += u64::from(c.len);
            Some((start, *c))
        })
    }
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A directory.
    Dir,
    /// A regular file.
    File(FileContent),
    /// A symbolic link with a relative target inside the volume.
    Symlink {
        /// The link target as written.
        target: String,
    },
}

/// One path in a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The path, relative to the volume root.
    pub path: VolumePath,
    /// Permission bits (`0o755`, `0o644`, ...).
    pub mode: u32,
    /// What the path is.
    pub kind: EntryKind,
}

impl Entry {
    /// The file content, for a regular file.
    #[must_use]
    pub fn file(&self) -> Option<&FileContent> {
        match &self.kind {
            EntryKind::File(f) => Some(f),
            _ => None,
        }
    }

    /// A one-word name of the kind: `dir`, `file` or `symlink`.
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            EntryKind::Dir => "dir",
            EntryKind::File(_) => "file",
            EntryKind::Symlink { .. } => "symlink",
        }
    }
}

/// A volume version: everything needed to rebuild the tree from chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The volume's name.
    pub volume: VolumeName,
    /// The version number (1, 2, ...).
    pub version: u64,
    /// The version this one supersedes.
    pub parent: Option<VersionId>,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// The chunk sizes the files were cut with.
    pub chunking: ChunkParams,
    /// Entries sorted by path.
    pub entries: Vec<Entry>,
}

impl Manifest {
    /// Builds a manifest, sorting the entries and checking every rule the decoder checks.
    ///
    /// # Errors
    /// The first rule that the entries break.
    pub fn new(
        volume: VolumeName,
        version: u64,
        parent: Option<VersionId>,
        created: i64,
        chunking: ChunkParams,
        mut entries: Vec<Entry>,
    ) -> Result<Self, DecodeError> {
        entries.sort_by(|a, b| a.path.as_str().as_bytes().cmp(b.path.as_str().as_bytes()));
        let m = Self {
            volume,
            version,
            parent,
            created,
            chunking,
            entries,
        };
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), DecodeError> {
        let invalid = |field, why: String| DecodeError::Invalid {
            what: WHAT,
            field,
            why,
        };
        if self.version == 0 {
            return Err(invalid("version", "versions start at 1".into()));
        }
        if (self.version == 1) != self.parent.is_none() {
            return Err(invalid(
                "parent",
                "version 1 has no parent and every later version has one".into(),
            ));
        }
        let mut dirs: HashSet<&str> = HashSet::new();
        // Sibling names folded to lower case: two that fold alike would be one file on a
        // case-insensitive filesystem, so a checkout there would silently lose one.
        let mut folded: HashMap<(Option<&str>, String), &str> = HashMap::new();
        let mut prev: Option<&str> = None;
        for e in &self.entries {
            let path = e.path.as_str();
            let name = path.rsplit('/').next().unwrap_or(path);
            if let Some(other) = folded.insert((e.path.parent(), name.to_lowercase()), path) {
                return Err(invalid(
                    "entries",
                    format!(
                        "{path:?} and {other:?} differ only in letter case; on a case-insensitive filesystem they would be one file"
                    ),
                ));
            }
            if let Some(p) = prev {
                if p.as_bytes() >= path.as_bytes() {
                    return Err(invalid(
                        "entries",
                        format!("{path:?} is out of order or repeated after {p:?}"),
                    ));
                }
            }
            prev = Some(path);
            if let Some(parent) = e.path.parent() {
                if !dirs.contains(parent) {
                    return Err(invalid(
                        "entries",
                        format!("{path:?} comes before its directory {parent:?}"),
                    ));
                }
            }
            if e.mode > 0o7777 {
                return Err(invalid("mode", format!("{:o} on {path:?}", e.mode)));
            }
            match &e.kind {
                EntryKind::Dir => {
                    dirs.insert(path);
                }
                EntryKind::File(f) => {
                    let sum: u64 = f.chunks.iter().map(|c| u64::from(c.len)).sum();
                    if sum != f.size {
                        return Err(invalid(
                            "chunks",
                            format!(
                                "{path:?} has chunks adding to {sum} bytes but a size of {}",
                                f.size
                            ),
                        ));
                    }
                    if f.chunks.iter().any(|c| c.len == 0) {
                        return Err(invalid("chunks", format!("{path:?} has an empty chunk")));
                    }
                    if f.size == 0 && f.hash != FileId::of(&[]) {
                        return Err(invalid(
                            "hash",
                            format!("{path:?} is empty but has a hash of content"),
                        ));
                    }
                    if f.chunks.len() == 1 && f.chunks[0].id != f.hash.as_chunk() {
                        return Err(invalid(
                            "hash",
                            format!("{path:?} is one chunk but the file and chunk hashes differ"),
                        ));
                    }
                    if f.media_type.is_empty()
                        || f.media_type.len() > 255
                        || !f.media_type.bytes().all(|b| b.is_ascii_graphic())
                    {
                        return Err(invalid(
                            "media type",
                            format!("{:?} on {path:?}", f.media_type),
                        ));
                    }
                }
                EntryKind::Symlink { target } => {
                    resolve_link_target(&e.path, target).map_err(|source| DecodeError::Name {
                        what: WHAT,
                        source: Box::new(source),
                    })?;
                }
            }
        }
        Ok(())
    }

    /// The canonical encoding.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.bytes(MAGIC);
        w.u16(FORMAT);
        w.str16(self.volume.as_str());
        w.u64(self.version);
        match &self.parent {
            None => w.u8(0),
            Some(p) => {
                w.u8(1);
                w.bytes(p.as_bytes());
            }
        }
        w.i64(self.created);
        w.u32(self.chunking.min);
        w.u32(self.chunking.avg);
        w.u32(self.chunking.max);
        w.u32(u32::try_from(self.entries.len()).unwrap_or(u32::MAX));
        for e in &self.entries {
            w.str16(e.path.as_str());
            match &e.kind {
                EntryKind::Dir => {
                    w.u8(0);
                    w.u32(e.mode);
                }
                EntryKind::File(f) => {
                    w.u8(1);
                    w.u32(e.mode);
                    w.u64(f.size);
                    w.str16(&f.media_type);
                    w.bytes(f.hash.as_bytes());
                    w.u32(u32::try_from(f.chunks.len()).unwrap_or(u32::MAX));
                    for c in &f.chunks {
                        w.bytes(c.id.as_bytes());
                        w.u32(c.len);
                    }
                }
                EntryKind::Symlink { target } => {
                    w.u8(2);
                    w.u32(e.mode);
                    w.str16(target);
                }
            }
        }
        w.finish()
    }

    /// The version id: BLAKE3 of the canonical encoding.
    #[must_use]
    pub fn id(&self) -> VersionId {
        VersionId::of(&self.to_bytes())
    }

    /// Decodes canonical manifest bytes, refusing anything that is not canonical or breaks a rule.
    ///
    /// # Errors
    /// What is wrong with the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(WHAT, bytes);
        r.header(MAGIC, FORMAT)?;
        let name = |source| DecodeError::Name {
            what: WHAT,
            source: Box::new(source),
        };
        let volume = VolumeName::new(r.str16("volume")?).map_err(name)?;
        let version = r.u64("version")?;
        let parent = match r.u8("parent flag")? {
            0 => None,
            1 => Some(VersionId::from_bytes(r.array("parent")?)),
            f => return Err(r.invalid("parent flag", format!("{f} is neither 0 nor 1"))),
        };
        let created = r.i64("created")?;
        let chunking = ChunkParams {
            min: r.u32("chunking")?,
            avg: r.u32("chunking")?,
            max: r.u32("chunking")?,
        };
        // The smallest entry is a 1-byte path: 2 + 1 + 1 + 4 bytes.
        let count = r.count("entry count", 8)?;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let path = VolumePath::new(r.str16("path")?).map_err(name)?;
            let kind_byte = r.u8("kind")?;
            let mode = r.u32("mode")?;
            let kind = match kind_byte {
                0 => EntryKind::Dir,
                1 => {
                    let size = r.u64("size")?;
                    let media_type = r.str16("media type")?.to_owned();
                    let hash = FileId::from_bytes(r.array("file hash")?);
                    let n = r.count("chunk count", 36)?;
                    let mut chunks = Vec::with_capacity(n);
                    for _ in 0..n {
                        let id = ChunkId::from_bytes(r.array("chunk id")?);
                        let len = r.u32("chunk length")?;
                        chunks.push(ChunkRef { id, len });
                    }
                    EntryKind::File(FileContent {
                        size,
                        media_type,
                        hash,
                        chunks,
                    })
                }
                2 => EntryKind::Symlink {
                    target: r.str16("symlink target")?.to_owned(),
                },
                k => return Err(r.invalid("kind", format!("{k} is not 0, 1 or 2"))),
            };
            entries.push(Entry { path, mode, kind });
        }
        r.finish()?;
        let m = Self {
            volume,
            version,
            parent,
            created,
            chunking,
            entries,
        };
        m.validate()?;
        Ok(m)
    }

    /// The entry at `path`, if any.
    #[must_use]
    pub fn find(&self, path: &str) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.path.as_str().as_bytes().cmp(path.as_bytes()))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// Regular files with their content.
    pub fn files(&self) -> impl Iterator<Item = (&Entry, &FileContent)> {
        self.entries.iter().filter_map(|e| e.file().map(|f| (e, f)))
    }

    /// Total bytes of all regular files.
    #[must_use]
    pub fn logical_size(&self) -> u64 {
        self.files().map(|(_, f)| f.size).sum()
    }

    /// Every distinct chunk referenced, in first-use order.
    #[must_use]
    pub fn distinct_chunks(&self) -> Vec<ChunkRef> {
        let mut seen = HashSet::new();
        self.files()
            .flat_map(|(_, f)| f.chunks.iter().copied())
            .filter(|c| seen.insert(c.id))
            .collect()
    }

    /// Whether two manifests describe the same tree (ignoring version, parent and time).
    #[must_use]
    pub fn same_tree(&self, other: &Manifest) -> bool {
        self.entries == other.entries && self.chunking == other.chunking
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn sample() -> Manifest {
        let data = b"hello world";
        let file = FileContent {
            size: data.len() as u64,
            media_type: "text/plain".into(),
            hash: FileId::of(data),
            chunks: vec![ChunkRef {
                id: ChunkId::of(data),
                len: 11,
            }],
        };
        let entries = vec![
            Entry {
                path: VolumePath::new("img/a.txt").expect("valid"),
                mode: 0o644,
                kind: EntryKind::File(file),
            },
            Entry {
                path: VolumePath::new("img").expect("valid"),
                mode: 0o755,
                kind: EntryKind::Dir,
            },
            Entry {
                path: VolumePath::new("img/link").expect("valid"),
                mode: 0o777,
                kind: EntryKind::Symlink {
                    target: "a.txt".into(),
                },
            },
        ];
        Manifest::new(
            VolumeName::new("media").expect("valid"),
            1,
            None,
            1_700_000_000,
            ChunkParams::DEFAULT,
            entries,
        )
        .expect("valid manifest")
    }

    #[test]
    fn round_trips_and_sorts() {
        let m = sample();
        assert_eq!(m.entries[0].path.as_str(), "img");
        let bytes = m.to_bytes();
        assert_eq!(Manifest::from_bytes(&bytes).expect("decodes"), m);
        assert_eq!(m.id(), VersionId::of(&bytes));
        assert!(m.find("img/a.txt").is_some());
        assert!(m.find("img/b.txt").is_none());
    }

    #[test]
    fn refuses_trailing_bytes_and_truncation() {
        let mut bytes = sample().to_bytes();
        bytes.push(0);
        assert!(matches!(
            Manifest::from_bytes(&bytes),
            Err(DecodeError::TrailingBytes { .. })
        ));
        let bytes = sample().to_bytes();
        for cut in 0..bytes.len() {
            assert!(Manifest::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn refuses_wrong_sizes_and_orphans() {
        let mut m = sample();
        if let EntryKind::File(f) = &mut m.entries[1].kind {
            f.size += 1;
        }
        assert!(Manifest::from_bytes(&m.to_bytes()).is_err());
        let mut m = sample();
        m.entries.remove(0);
        let err = Manifest::from_bytes(&m.to_bytes()).expect_err("orphan");
        assert!(err.to_string().contains("before its directory"), "{err}");
    }

    #[test]
    fn refuses_sibling_names_that_differ_only_in_case() {
        let mut m = sample();
        let mut twin = m.entries[1].clone();
        twin.path = VolumePath::new("img/A.txt").expect("valid");
        m.entries.insert(1, twin);
        let err = Manifest::from_bytes(&m.to_bytes()).expect_err("case collision");
        assert!(
            err.to_string().contains("differ only in letter case"),
            "{err}"
        );
        // Non-ASCII letters fold too; the same name in different directories is fine.
        let mut m = sample();
        let mut twin = m.entries[1].clone();
        twin.path = VolumePath::new("ÉTÉ.txt").expect("valid");
        let mut other = m.entries[1].clone();
        other.path = VolumePath::new("été.txt").expect("valid");
        m.entries.insert(0, twin);
        m.entries.insert(0, other);
        m.entries
            .sort_by(|a, b| a.path.as_str().cmp(b.path.as_str()));
        assert!(Manifest::from_bytes(&m.to_bytes()).is_err());
        let mut m = sample();
        let mut top = m.entries[1].clone();
        top.path = VolumePath::new("a.txt").expect("valid");
        m.entries.insert(0, top);
        assert!(Manifest::from_bytes(&m.to_bytes()).is_ok());
    }

    #[test]
    fn refuses_escaping_symlink() {
        let mut m = sample();
        m.entries[2].kind = EntryKind::Symlink {
            target: "../../etc/passwd".into(),
        };
        assert!(Manifest::from_bytes(&m.to_bytes()).is_err());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Manifest::from_bytes(&bytes);
        }

        #[test]
        fn any_single_byte_flip_changes_id_or_is_refused(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let m = sample();
            let mut bytes = m.to_bytes();
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            if let Ok(decoded) = Manifest::from_bytes(&bytes) {
                prop_assert_ne!(decoded.id(), m.id());
                prop_assert_eq!(decoded.to_bytes(), bytes);
            }
        }

        #[test]
        fn round_trip_generated(names in proptest::collection::btree_set("[a-z]{1,8}", 0..20), created in any::<i64>(), sizes in proptest::collection::vec(1u32..100_000, 1..5)) {
            let entries: Vec<Entry> = names.iter().map(|n| {
                let chunks: Vec<ChunkRef> = sizes.iter().enumerate().map(|(i, len)| ChunkRef { id: ChunkId::of(&[i as u8]), len: *len }).collect();
                let size = sizes.iter().map(|s| u64::from(*s)).sum();
                let hash = if chunks.len() == 1 { FileId::from_bytes(*chunks[0].id.as_bytes()) } else { FileId::of(n.as_bytes()) };
                Entry { path: VolumePath::new(n).expect("valid"), mode: 0o644, kind: EntryKind::File(FileContent { size, media_type: "image/png".into(), hash, chunks }) }
            }).collect();
            let m = Manifest::new(VolumeName::new("v").expect("valid"), 1, None, created, ChunkParams::DEFAULT, entries).expect("valid");
            let bytes = m.to_bytes();
            let back = Manifest::from_bytes(&bytes).expect("decodes");
            prop_assert_eq!(back.to_bytes(), bytes);
            prop_assert_eq!(back, m);
        }
    }
}
