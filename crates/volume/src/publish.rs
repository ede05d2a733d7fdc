//! Publishing a directory as a new signed volume version.
//!
//! The tree is walked in a fixed order; on all cores every regular file is cut into content-defined
//! chunks, hashed chunk by chunk and whole, and stored as one object unless the store already holds
//! those bytes (a file that fits the 4 MiB read buffer is written from it; a larger one is copied in
//! a second read that must hash the same). Only after one durability barrier are the manifest, the version index entry and the
//! tag written, each atomically and durably. A crash at any instant therefore leaves either the old
//! state or the new one, plus at most some unreferenced objects that `gc` removes.

use std::fs::{self, File, Metadata};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tinycdn_core::log_entry::Event;

use rayon::prelude::*;
use tinycdn_core::chunking::{ChunkParams, Chunker};
use tinycdn_core::manifest::{ChunkRef, Entry, EntryKind, FileContent, Manifest};
use tinycdn_core::media_type::media_type;
use tinycdn_core::names::{
    check_not_confusable, resolve_link_target, TagName, VolumeName, VolumePath,
};
use tinycdn_core::sign::{SecretKey, SignatureSet, MANIFEST_CONTEXT};
use tinycdn_core::tag::TagRecord;
use tinycdn_core::{ChunkId, FileId, VersionId};
use tinycdn_store::Store;

use crate::deltas::{make_deltas, DeltaOptions, DeltaReport};
use crate::{Progress, VolumeError};

/// How many times a file that changes while being read is read again before giving up.
const READ_TRIES: u32 = 3;
/// Bytes read from a file at a time (at least twice the largest chunk).
const READ_BUFFER: usize = 4 << 20;

/// What to publish and how.
#[derive(Debug)]
pub struct PublishOptions<'a> {
    /// The directory to publish.
    pub source: &'a Path,
    /// The volume to publish into.
    pub volume: VolumeName,
    /// A tag to point at the result.
    pub tag: Option<TagName>,
    /// The publisher's signing key.
    pub key: &'a SecretKey,
    /// The creation time to record (Unix seconds).
    pub created: i64,
    /// Chunk sizes.
    pub chunking: ChunkParams,
    /// Binary deltas from the parent version.
    pub deltas: DeltaOptions,
    /// When set, the store's snapshot of every tag and the timestamp naming it are re-signed by
    /// `key`, valid until then.
    pub freshness: Option<crate::snapshot::Freshness>,
    /// A second directory whose tree is published at the volume root beside `source`'s (made
    /// files, such as publish-time image variants); a path in both is refused.
    pub overlay: Option<&'a Path>,
}

/// What a publish did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReport {
    /// The version now current (new, or the parent when nothing changed).
    pub version: VersionId,
    /// Its number.
    pub number: u64,
    /// True when the tree equals the latest version and no new version was made.
    pub unchanged: bool,
    /// Regular files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Bytes of all regular files.
    pub logical_bytes: u64,
    /// Chunks the files were cut into (with repeats).
    pub chunks: u64,
    /// File objects written because the store lacked them.
    pub new_objects: u64,
    /// Bytes of those new objects.
    pub new_bytes: u64,
    /// The binary deltas made from the parent version.
    pub deltas: DeltaReport,
}

/// A regular file of the source tree, still to be read.
struct SourceFile {
    path: VolumePath,
    abs: PathBuf,
    mode: u32,
    size: u64,
}

enum Item {
    Dir(Entry),
    Symlink(Entry),
    File(SourceFile),
}

fn item_path(i: &Item) -> &VolumePath {
    match i {
        Item::Dir(e) | Item::Symlink(e) => &e.path,
        Item::File(f) => &f.path,
    }
}

fn source_err(path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError + '_ {
    move |source| VolumeError::Source {
        path: path.to_owned(),
        source,
    }
}

/// Walks the tree in byte order of paths, refusing what a volume cannot hold.
fn walk(root: &Path) -> Result<Vec<Item>, VolumeError> {
    let meta = fs::metadata(root).map_err(source_err(root))?;
    if !meta.is_dir() {
        return Err(VolumeError::Unsupported {
            path: root.to_owned(),
            why: "is not a directory".into(),
        });
    }
    let mut items = Vec::new();
    let mut stack: Vec<(PathBuf, Option<VolumePath>)> = vec![(root.to_owned(), None)];
    while let Some((dir, rel)) = stack.pop() {
        let mut names: Vec<(String, PathBuf)> = Vec::new();
        for entry in fs::read_dir(&dir).map_err(source_err(&dir))? {
            let entry = entry.map_err(source_err(&dir))?;
            let abs = entry.path();
            let name = entry
                .file_name()
                .into_string()
                .map_err(|raw| VolumeError::Unsupported {
                    path: abs.clone(),
                    why: format!("the name {raw:?} is not valid UTF-8"),
                })?;
            names.push((name, abs));
        }
        names.sort();
        let mut subdirs = Vec::new();
        for (name, abs) in names {
            let rel_str = match &rel {
                Some(r) => format!("{r}/{name}"),
                None => name,
            };
            let path = VolumePath::new(&rel_str)?;
            let m = fs::symlink_metadata(&abs).map_err(source_err(&abs))?;
            let mode = m.permissions().mode() & 0o7777;
            let ft = m.file_type();
            if ft.is_dir() {
                items.push(Item::Dir(Entry {
                    path: path.clone(),
                    mode,
                    kind: EntryKind::Dir,
                }));
                subdirs.push((abs, Some(path)));
            } else if ft.is_symlink() {
                let target = fs::read_link(&abs).map_err(source_err(&abs))?;
                let target = target.into_os_string().into_string().map_err(|raw| {
                    VolumeError::Unsupported {
                        path: abs.clone(),
                        why: format!("the symlink target {raw:?} is not valid UTF-8"),
                    }
                })?;
                resolve_link_target(&path, &target)?;
                items.push(Item::Symlink(Entry {
                    path,
                    mode,
                    kind: EntryKind::Symlink { target },
                }));
            } else if ft.is_file() {
                items.push(Item::File(SourceFile {
                    path,
                    abs,
                    mode,
                    size: m.len(),
                }));
            } else {
                use std::os::unix::fs::FileTypeExt;
                let what = if ft.is_socket() {
                    "a socket"
                } else if ft.is_fifo() {
                    "a named pipe (FIFO)"
                } else if ft.is_block_device() {
                    "a block device"
                } else if ft.is_char_device() {
                    "a character device"
                } else {
                    "a special file"
                };
                return Err(VolumeError::Unsupported {
                    path: abs,
                    why: format!("is {what}; volumes hold only files, directories and symlinks"),
                });
            }
        }
        // Reverse so that the stack pops subdirectories in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(items)
}

fn same_file_state(a: &Metadata, b: &Metadata) -> bool {
    a.dev() == b.dev()
        && a.ino() == b.ino()
        && a.len() == b.len()
        && a.mtime() == b.mtime()
        && a.mtime_nsec() == b.mtime_nsec()
        && a.ctime() == b.ctime()
        && a.ctime_nsec() == b.ctime_nsec()
}

/// Counters shared by the workers.
#[derive(Default)]
struct Counters {
    chunks: AtomicU64,
    new_objects: AtomicU64,
    new_bytes: AtomicU64,
}

/// Reads a file again and fails at the end unless its bytes hash to `expected` (the file changed
/// between the two reads); `changed` records that case.
struct VerifyingReader<'a> {
    file: File,
    hasher: blake3::Hasher,
    expected: FileId,
    changed: &'a std::cell::Cell<bool>,
}

impl Read for VerifyingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        if n == 0 {
            if FileId::from_bytes(*self.hasher.finalize().as_bytes()) != self.expected {
                self.changed.set(true);
                return Err(std::io::Error::new(
                    ErrorKind::InvalidData,
                    "the file changed while it was copied",
                ));
            }
        } else {
            self.hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Reads one file once, chunking and hashing it, and stores it as an object unless the store has
/// it. `Ok(None)` means the file changed while it was read.
fn ingest_once(
    store: &Store,
    chunker: &Chunker,
    abs: &Path,
    exec: bool,
    buf: &mut [u8],
    counters: &Counters,
    progress: &dyn Progress,
) -> Result<Option<FileContent>, VolumeError> {
    let before = fs::symlink_metadata(abs).map_err(source_err(abs))?;
    let mut file = File::open(abs).map_err(source_err(abs))?;
    let opened = file.metadata().map_err(source_err(abs))?;
    if !opened.is_file() || !same_file_state(&before, &opened) {
        return Ok(None);
    }
    let mut hasher = blake3::Hasher::new();
    let mut chunks: Vec<ChunkRef> = Vec::new();
    let mut media: Option<String> = None;
    // While nothing was shifted out of the buffer, it holds the whole file from byte 0.
    let mut whole_in_buffer = true;
    let (mut start, mut end, mut eof, mut total) = (0usize, 0usize, false, 0u64);
    loop {
        match chunker.next_chunk_len(&buf[start..end], eof) {
            Some(n) => {
                let chunk = &buf[start..start + n];
                let id = ChunkId::of(chunk);
                // A one-chunk file's hash is its chunk's hash: skip the second pass over it.
                if !(chunks.is_empty() && eof && start + n == end) {
                    hasher.update(chunk);
                }
                counters.chunks.fetch_add(1, Ordering::Relaxed);
                progress.advance(n as u64);
                let len = u32::try_from(n).map_err(|_| VolumeError::Unsupported {
                    path: abs.to_owned(),
                    why: "chunk longer than 4 GiB".into(),
                })?;
                chunks.push(ChunkRef { id, len });
                start += n;
            }
            None if eof => break,
            None => {
                if start > 0 {
                    buf.copy_within(start..end, 0);
                    end -= start;
                    start = 0;
                    whole_in_buffer = false;
                }
                let n = loop {
                    match file.read(&mut buf[end..]) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(e) => return Err(source_err(abs)(e)),
                    }
                };
                if media.is_none() {
                    media = Some(media_type(&abs.to_string_lossy(), &buf[..end + n]));
                }
                if n == 0 {
                    eof = true;
                } else {
                    end += n;
                    total += n as u64;
                }
            }
        }
    }
    let after = file.metadata().map_err(source_err(abs))?;
    let after_path = fs::symlink_metadata(abs).map_err(source_err(abs))?;
    if total != before.len()
        || !same_file_state(&before, &after)
        || !same_file_state(&before, &after_path)
    {
        return Ok(None);
    }
    let hash = match chunks.as_slice() {
        [only] => FileId::from_bytes(*only.id.as_bytes()),
        _ => FileId::from_bytes(*hasher.finalize().as_bytes()),
    };
    let size = total;
    if whole_in_buffer {
        if store.put_object(&hash, exec, &buf[..end])? {
            counters.new_objects.fetch_add(1, Ordering::Relaxed);
            counters.new_bytes.fetch_add(size, Ordering::Relaxed);
        }
    } else if !store.has_object(&hash, exec, size)? {
        // Too large to hold: copy it in a second read that must hash the same. (Streaming it into
        // the store during the first read measured no faster, and wastes a write whenever the store
        // already holds the file.)
        let changed = std::cell::Cell::new(false);
        let mut reader = VerifyingReader {
            file: File::open(abs).map_err(source_err(abs))?,
            hasher: blake3::Hasher::new(),
            expected: hash,
            changed: &changed,
        };
        match store.put_object_stream(&hash, exec, &mut reader) {
            Ok(_) => {
                counters.new_objects.fetch_add(1, Ordering::Relaxed);
                counters.new_bytes.fetch_add(size, Ordering::Relaxed);
            }
            Err(_) if changed.get() => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(FileContent {
        size,
        media_type: media.unwrap_or_else(|| media_type(&abs.to_string_lossy(), &[])),
        hash,
        chunks,
    }))
}

fn ingest(
    store: &Store,
    chunker: &Chunker,
    abs: &Path,
    exec: bool,
    counters: &Counters,
    progress: &dyn Progress,
) -> Result<FileContent, VolumeError> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let cap = READ_BUFFER.max(2 * chunker.params().max as usize);
    BUF.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < cap {
            buf.resize(cap, 0);
        }
        for _ in 0..READ_TRIES {
            if let Some(content) =
                ingest_once(store, chunker, abs, exec, &mut buf, counters, progress)?
            {
                return Ok(content);
            }
        }
        Err(VolumeError::Changing {
            path: abs.to_owned(),
            tries: READ_TRIES,
        })
    })
}

/// The newest version of a volume, if any.
///
/// # Errors
/// Store errors.
pub fn head(store: &Store, volume: &VolumeName) -> Result<Option<(u64, VersionId)>, VolumeError> {
    Ok(store.versions(volume)?.last().copied())
}

/// Publishes `opts.source` as the next version of `opts.volume`.
///
/// # Errors
/// Bad names, unreadable or special files, files that keep changing, store errors (a full disk
/// among them). On error nothing refers to what was written.
pub fn publish(
    store: &Store,
    opts: &PublishOptions<'_>,
    progress: &dyn Progress,
) -> Result<PublishReport, VolumeError> {
    let chunker = Chunker::new(opts.chunking)?;
    let _lock = store.lock()?;
    let parent = head(store, &opts.volume)?;
    let previous = parent
        .map(|(_, id)| store.read_manifest(&id).map(|(m, _)| m))
        .transpose()?;
    if parent.is_none() {
        let existing = store.volumes()?;
        check_not_confusable(
            "volume name",
            opts.volume.as_str(),
            existing.iter().map(VolumeName::as_str),
        )?;
    }
    if let Some(tag) = &opts.tag {
        let tags: Vec<String> = store
            .tags(&opts.volume)?
            .into_iter()
            .map(|t| t.record.tag.to_string())
            .collect();
        check_not_confusable("tag name", tag.as_str(), tags.iter().map(String::as_str))?;
    }

    let mut items = walk(opts.source)?;
    if let Some(extra) = opts.overlay {
        let seen: std::collections::HashSet<String> = items
            .iter()
            .map(|i| item_path(i).as_str().to_owned())
            .collect();
        for i in walk(extra)? {
            if seen.contains(item_path(&i).as_str()) {
                return Err(VolumeError::Unsupported {
                    path: opts.source.join(item_path(&i).as_str()),
                    why: "is also a path of the made files published with the tree".into(),
                });
            }
            items.push(i);
        }
    }
    let mut entries = Vec::with_capacity(items.len());
    let mut files = Vec::new();
    let (mut dirs, mut symlinks) = (0u64, 0u64);
    for item in items {
        match item {
            Item::Dir(e) => {
                dirs += 1;
                entries.push(e);
            }
            Item::Symlink(e) => {
                symlinks += 1;
                entries.push(e);
            }
            Item::File(f) => files.push(f),
        }
    }
    let file_count = files.len() as u64;
    progress.start("publishing", files.iter().map(|f| f.size).sum());
    // Largest first, so one big file does not start last and run alone.
    files.sort_by_key(|f| std::cmp::Reverse(f.size));
    let counters = Counters::default();
    let file_entries: Vec<Entry> = files
        .into_par_iter()
        .map(|f| {
            let exec = f.mode & 0o111 != 0;
            let content = ingest(store, &chunker, &f.abs, exec, &counters, progress)?;
            Ok(Entry {
                path: f.path,
                mode: f.mode,
                kind: EntryKind::File(content),
            })
        })
        .collect::<Result<_, VolumeError>>()?;
    progress.finish();
    // Sizes as read, which may differ from the walk's if a file changed in between.
    let logical: u64 = file_entries
        .iter()
        .filter_map(|e| e.file().map(|f| f.size))
        .sum();
    entries.extend(file_entries);

    let (number, parent_id) = match parent {
        Some((n, id)) => (n + 1, Some(id)),
        None => (1, None),
    };
    let manifest = Manifest::new(
        opts.volume.clone(),
        number,
        parent_id,
        opts.created,
        opts.chunking,
        entries,
    )?;
    let mut report = PublishReport {
        version: VersionId::from_bytes([0; 32]),
        number,
        unchanged: false,
        files: file_count,
        dirs,
        symlinks,
        logical_bytes: logical,
        chunks: counters.chunks.load(Ordering::Relaxed),
        new_objects: counters.new_objects.load(Ordering::Relaxed),
        new_bytes: counters.new_bytes.load(Ordering::Relaxed),
        deltas: DeltaReport::default(),
    };
    if let (Some((n, id)), Some(previous)) = (parent, &previous) {
        if previous.same_tree(&manifest) {
            report.version = id;
            report.number = n;
            report.unchanged = true;
        }
    }
    if !report.unchanged {
        // Every chunk durable before anything refers to it.
        store.barrier()?;
        let bytes = manifest.to_bytes();
        let id = VersionId::of(&bytes);
        let sigs = SignatureSet::single(opts.key.sign(MANIFEST_CONTEXT, id.as_bytes()));
        store.put_manifest(&bytes, &sigs)?;
        store.put_version(&opts.volume, number, &id)?;
        report.version = id;
        // Before the tag moves, so that a node pulling the tag finds the deltas.
        if let (Some((_, parent_id)), Some(previous)) = (parent, &previous) {
            progress.start("making deltas", 0);
            report.deltas = make_deltas(
                store,
                (&parent_id, previous),
                (&id, &manifest),
                opts.key,
                &opts.deltas,
            )?;
            progress.finish();
        }
    }
    // The log records a change before nodes can see it: a crash in between leaves an entry for a
    // tag that did not move yet, which the rerun moves (and records again), never the reverse.
    let mut events = Vec::new();
    if !report.unchanged || crate::log::lookup(store, &report.version)?.is_none() {
        events.push(Event::Publish {
            volume: opts.volume.to_string(),
            number: report.number,
            version: *report.version.as_bytes(),
            signers: vec![*opts.key.public().id().as_bytes()],
        });
    }
    let mut moved = None;
    let mut tag_token = None;
    if let Some(tag) = &opts.tag {
        let (current, token) = store
            .read_tag_versioned(&opts.volume, tag)?
            .map_or((None, None), |(t, token)| (Some(t), Some(token)));
        tag_token = token;
        if current
            .as_ref()
            .is_none_or(|t| t.record.version != report.version)
        {
            events.push(Event::Tag {
                volume: opts.volume.to_string(),
                tag: tag.to_string(),
                old: current.map(|t| *t.record.version.as_bytes()),
                new: *report.version.as_bytes(),
                number: report.number,
            });
            moved = Some(TagRecord {
                volume: opts.volume.clone(),
                tag: tag.clone(),
                version: report.version,
                number: report.number,
                time: opts.created,
            });
        }
    }
    if !events.is_empty() {
        crate::log::append(store, events)?;
    }
    if let Some(record) = moved {
        // Conditional: of two publishers that read the same tag, only one moves it.
        store.put_tag_if(&record.sign(opts.key), tag_token.as_deref())?;
    }
    if let Some(f) = opts.freshness {
        let s = crate::snapshot::make_snapshot(store, opts.key, f.snapshot_expires)?;
        let t = crate::snapshot::make_timestamp(store, opts.key, f.timestamp_expires)?;
        crate::log::append(
            store,
            vec![
                crate::log::snapshot_event(&s),
                crate::log::timestamp_event(&t),
            ],
        )?;
    }
    Ok(report)
}
