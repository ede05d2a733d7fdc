//! The fabric's tables in memory, each bounded whatever is asked of the edge: verified
//! manifests (by bytes), the objects they list (by bytes; an object is served at `/o/` while
//! a manifest listing it is known), the deltas verified delta indexes list (by count), and the
//! paths upstream recently answered "not found" (negative caching, by count and for
//! [`NOT_FOUND_TTL`]), so that requests for ids nobody published do not each cost an upstream
//! round trip while the first is fresh.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;
use quick_cache::{OptionsBuilder, Weighter};
use tinycdn_core::manifest::{ChunkRef, FileContent, Manifest};
use tinycdn_core::{FileId, VersionId};

use super::ManifestEntry;

/// Weight of the manifests held (about twice their encoded bytes once decoded, plus the
/// encoded copy and signatures kept to serve them).
pub(super) const MANIFEST_MEMORY: u64 = 256 << 20;
/// Weight of the object records held.
pub(super) const OBJECT_MEMORY: u64 = 128 << 20;
/// Deltas listed at most (about 100 bytes each).
pub(super) const DELTA_ENTRIES: usize = 262_144;
/// Walks of the manifests held for an object not in the table, at most this many a second (an
/// object evicted while its manifest stayed is found again; ids nobody listed cannot make the
/// edge walk without end).
pub(super) const OBJECT_WALKS_PER_SECOND: u32 = 8;
/// "Not found" answers remembered at most ...
pub(super) const NOT_FOUND_ENTRIES: usize = 65_536;
/// ... and for this long: a version published since is seen within it.
pub(super) const NOT_FOUND_TTL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
pub(super) struct ManifestWeight;

impl Weighter<VersionId, ManifestEntry> for ManifestWeight {
    fn weight(&self, _: &VersionId, (_, bytes, sigs): &ManifestEntry) -> u64 {
        3 * bytes.len() as u64 + sigs.len() as u64 + 64
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct ObjectWeight;

impl Weighter<(FileId, bool), Arc<FileContent>> for ObjectWeight {
    fn weight(&self, _: &(FileId, bool), f: &Arc<FileContent>) -> u64 {
        (96 + f.media_type.len() + f.chunks.len() * std::mem::size_of::<ChunkRef>()) as u64
    }
}

/// A cache of one shard: entries as heavy as a large manifest must fit in it whole.
fn one_shard<K, V, W>(weight: u64, items: usize, weighter: W) -> Cache<K, V, W>
where
    K: Eq + std::hash::Hash,
    V: Clone,
    W: Weighter<K, V> + Clone,
{
    let options = OptionsBuilder::new()
        .estimated_items_capacity(items)
        .weight_capacity(weight)
        .shards(1)
        .build()
        .unwrap_or_else(|_| unreachable!("capacities are set"));
    Cache::with_options(options, weighter, Default::default(), Default::default())
}

/// The bounded tables.
#[derive(Debug)]
pub(super) struct Tables {
    pub manifests: Cache<VersionId, ManifestEntry, ManifestWeight>,
    pub objects: Cache<(FileId, bool), Arc<FileContent>, ObjectWeight>,
    /// (base, target) → (delta hash, delta size), from every verified delta index.
    pub deltas: Cache<(FileId, FileId), (FileId, u64)>,
    not_found: Cache<String, Instant>,
    /// The current second's walks for objects: when it began, and how many.
    walks: std::sync::Mutex<(Instant, u32)>,
}

impl Tables {
    pub fn new() -> Self {
        Self::with_bounds(MANIFEST_MEMORY, OBJECT_MEMORY)
    }

    /// Tables bounded at `manifests` and `objects` weight (tests use small ones).
    pub fn with_bounds(manifests: u64, objects: u64) -> Self {
        Self {
            manifests: one_shard(manifests, 1024, ManifestWeight),
            objects: Cache::with_weighter(65_536, objects, ObjectWeight),
            deltas: Cache::new(DELTA_ENTRIES),
            not_found: Cache::new(NOT_FOUND_ENTRIES),
            walks: std::sync::Mutex::new((Instant::now(), 0)),
        }
    }

    /// The object `id` (executable or not) that a manifest held lists: from the table, else
    /// by a walk of the manifests held (rate-limited), which lists that manifest's objects again.
    pub fn object(&self, id: FileId, exec: bool) -> Option<Arc<FileContent>> {
        if let Some(f) = self.objects.get(&(id, exec)) {
            return Some(f);
        }
        if !self.may_walk() {
            return None;
        }
        let lists = |m: &Manifest| {
            m.entries
                .iter()
                .any(|e| e.file().is_some_and(|f| f.hash == id) && (e.mode & 0o111 != 0) == exec)
        };
        let (_, (manifest, _, _)) = self.manifests.iter().find(|(_, (m, _, _))| lists(m))?;
        self.index_objects(&manifest);
        manifest
            .entries
            .iter()
            .filter(|e| (e.mode & 0o111 != 0) == exec)
            .find_map(|e| e.file().filter(|f| f.hash == id))
            .map(|f| Arc::new(f.clone()))
    }

    fn may_walk(&self) -> bool {
        let mut w = self
            .walks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if w.0.elapsed() >= Duration::from_secs(1) {
            *w = (Instant::now(), 0);
        }
        w.1 += 1;
        w.1 <= OBJECT_WALKS_PER_SECOND
    }

    /// Records the objects `manifest` lists (those not already held).
    pub fn index_objects(&self, manifest: &Manifest) {
        for e in &manifest.entries {
            if let Some(f) = e.file() {
                let key = (f.hash, e.mode & 0o111 != 0);
                if self.objects.get(&key).is_none() {
                    self.objects.insert(key, Arc::new(f.clone()));
                }
            }
        }
    }

    /// Whether upstream answered "not found" for `path` within [`NOT_FOUND_TTL`].
    pub fn known_missing(&self, path: &str) -> bool {
        self.not_found
            .get(path)
            .is_some_and(|at| at.elapsed() < NOT_FOUND_TTL)
    }

    pub fn remember_missing(&self, path: &str) {
        self.not_found.insert(path.to_owned(), Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn entry(len: usize) -> ManifestEntry {
        let m = Manifest::new(
            tinycdn_core::names::VolumeName::new("v").expect("valid"),
            1,
            None,
            0,
            tinycdn_core::chunking::ChunkParams::DEFAULT,
            Vec::new(),
        )
        .expect("valid");
        (Arc::new(m), Bytes::from(vec![0; len]), Bytes::new())
    }

    #[test]
    fn manifests_are_bounded_by_bytes_and_a_large_one_still_fits() {
        let t = Tables::with_bounds(10_000, 1000);
        for i in 0..100u8 {
            t.manifests.insert(VersionId::of(&[i]), entry(1000));
        }
        assert!(t.manifests.weight() <= 10_000);
        assert!(t.manifests.len() < 100);
        let big = VersionId::of(b"big");
        t.manifests.insert(big, entry(3000));
        assert!(
            t.manifests.get(&big).is_some(),
            "a heavy manifest is held whole"
        );
    }

    fn with_files(n: u8) -> ManifestEntry {
        use tinycdn_core::manifest::{Entry, EntryKind};
        use tinycdn_core::names::VolumePath;
        let entries = (0..n)
            .map(|i| Entry {
                path: VolumePath::new(&format!("f{i}")).expect("valid"),
                mode: 0o644,
                kind: EntryKind::File(FileContent {
                    size: 1,
                    media_type: "text/plain".into(),
                    hash: FileId::of(&[i]),
                    chunks: vec![ChunkRef {
                        id: tinycdn_core::ChunkId::of(&[i]),
                        len: 1,
                    }],
                }),
            })
            .collect();
        let m = Manifest::new(
            tinycdn_core::names::VolumeName::new("v").expect("valid"),
            1,
            None,
            0,
            tinycdn_core::chunking::ChunkParams::DEFAULT,
            entries,
        )
        .expect("valid");
        (Arc::new(m), Bytes::from(vec![0; 100]), Bytes::new())
    }

    #[test]
    fn an_object_evicted_while_its_manifest_stays_is_found_again_and_walks_are_limited() {
        let t = Tables::new();
        let entry = with_files(50);
        t.index_objects(&entry.0);
        t.manifests.insert(VersionId::of(b"v1"), entry);
        let wanted = FileId::of(&[17]);
        t.objects.remove(&(wanted, false));
        let found = t.object(wanted, false).expect("found by a walk");
        assert_eq!(found.hash, wanted);
        assert!(t.objects.get(&(wanted, false)).is_some(), "listed again");
        assert!(t.object(wanted, true).is_none(), "not as an executable");
        for i in 0..20u8 {
            let _ = t.object(FileId::of(&[200, i]), false);
        }
        t.objects.remove(&(wanted, false));
        assert!(
            t.object(wanted, false).is_none(),
            "no walk left this second: ids nobody listed cannot make the edge walk without end"
        );
    }

    #[test]
    fn a_missing_path_is_remembered_for_a_while() {
        let t = Tables::new();
        assert!(!t.known_missing("/m/x"));
        t.remember_missing("/m/x");
        assert!(t.known_missing("/m/x"));
        assert!(!t.known_missing("/m/y"));
    }
}
