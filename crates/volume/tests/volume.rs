//! Volume operations end to end over in-memory and fault-injecting stores.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use tinycdn_core::chunking::ChunkParams;
use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::sign::SecretKey;
use tinycdn_store::testing::FailingBackend;
use tinycdn_store::{Backend, MemoryBackend, Store};
use tinycdn_volume::checkout::checkout;
use tinycdn_volume::fsck::fsck;
use tinycdn_volume::publish::{publish, PublishOptions, PublishReport};
use tinycdn_volume::read::{copy_file, find_file};
use tinycdn_volume::reference::Reference;
use tinycdn_volume::stats::stats;
use tinycdn_volume::trust::Trust;
use tinycdn_volume::{NoProgress, VolumeError};

const SMALL_CHUNKS: ChunkParams = ChunkParams {
    min: 4096,
    avg: 16384,
    max: 65536,
};

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn tree(dir: &Path, seed: u64) {
    fs::create_dir_all(dir.join("img/thumbs")).expect("mkdir");
    fs::create_dir_all(dir.join("clips")).expect("mkdir");
    fs::write(dir.join("img/hero.jpg"), noise(300_000, seed)).expect("write");
    fs::write(dir.join("img/thumbs/a.png"), noise(5_000, seed + 1)).expect("write");
    fs::write(dir.join("img/thumbs/b.png"), noise(5_000, seed + 1)).expect("write");
    fs::write(dir.join("clips/intro.mp4"), noise(1_000_000, seed + 2)).expect("write");
    fs::write(dir.join("empty.txt"), b"").expect("write");
    std::os::unix::fs::symlink("img/hero.jpg", dir.join("hero")).expect("symlink");
}

fn opts<'a>(src: &'a Path, key: &'a SecretKey) -> PublishOptions<'a> {
    PublishOptions {
        source: src,
        volume: VolumeName::new("media").expect("valid"),
        tag: Some(TagName::new("stable").expect("valid")),
        key,
        created: 1_700_000_000,
        chunking: SMALL_CHUNKS,
        deltas: Default::default(),
        overlay: None,
        freshness: None,
    }
}

fn read_back(store: &Store, path: &str) -> Result<Vec<u8>, VolumeError> {
    let r: Reference = "media@stable".parse()?;
    let v = r.open(store, &Trust::default())?;
    let f = find_file(&v.manifest, path, "media@stable")?;
    let mut out = Vec::new();
    copy_file(store, f, "media@stable", &mut out)?;
    Ok(out)
}

fn publish_ok(store: &Store, src: &Path, key: &SecretKey) -> PublishReport {
    publish(store, &opts(src, key), &NoProgress).expect("publish")
}

#[test]
fn publish_and_read_back_with_dedup() {
    let src = tempfile::tempdir().expect("tempdir");
    tree(src.path(), 1);
    let key = SecretKey::from_seed([1; 32]);
    let store = Store::with_backend(Box::new(MemoryBackend::new()));
    let r = publish_ok(&store, src.path(), &key);
    assert_eq!(
        (r.number, r.files, r.symlinks, r.unchanged),
        (1, 5, 1, false)
    );
    // The two identical thumbnails are stored once.
    assert_eq!(r.new_objects, r.files - 1, "{r:?}");
    assert_eq!(
        read_back(&store, "clips/intro.mp4").expect("read"),
        noise(1_000_000, 3)
    );
    assert_eq!(
        read_back(&store, "hero").expect("follows link"),
        noise(300_000, 1)
    );
    assert!(
        read_back(&store, "img").is_err(),
        "a directory is not a file"
    );
    assert!(read_back(&store, "../etc/passwd").is_err());

    let again = publish_ok(&store, src.path(), &key);
    assert!(again.unchanged);
    assert_eq!(again.version, r.version);
    assert_eq!(again.new_objects, 0);

    // An edit in the middle of the clip changes only the chunks near it: the new version's
    // distinct chunks grow by little, though the file is stored whole again.
    let before = stats(&store).expect("stats");
    let mut clip = noise(1_000_000, 3);
    clip.splice(500_000..500_000, *b"EDIT");
    fs::write(src.path().join("clips/intro.mp4"), &clip).expect("write");
    let r2 = publish_ok(&store, src.path(), &key);
    assert_eq!((r2.number, r2.new_objects), (2, 1));
    let after = stats(&store).expect("stats");
    let new_chunk_bytes = after.unique_chunk_bytes - before.unique_chunk_bytes;
    assert!(
        new_chunk_bytes < 200_000,
        "only chunks near the edit are new: {new_chunk_bytes}"
    );
    assert!(after.duplication_factor > 1.0);
    assert_eq!(read_back(&store, "clips/intro.mp4").expect("read"), clip);
}

#[test]
fn same_tree_same_time_same_version_id() {
    let src = tempfile::tempdir().expect("tempdir");
    tree(src.path(), 5);
    let key = SecretKey::from_seed([1; 32]);
    let a = Store::with_backend(Box::new(MemoryBackend::new()));
    let b = Store::with_backend(Box::new(MemoryBackend::new()));
    assert_eq!(
        publish_ok(&a, src.path(), &key).version,
        publish_ok(&b, src.path(), &key).version
    );
}

#[test]
fn disk_full_at_any_write_leaves_a_consistent_store() {
    let src = tempfile::tempdir().expect("tempdir");
    tree(src.path(), 9);
    let key = SecretKey::from_seed([1; 32]);
    // Count the writes a full publish makes.
    let probe = Store::with_backend(Box::new(MemoryBackend::new()));
    publish_ok(&probe, src.path(), &key);
    let writes = probe.raw_backend().list("objects").expect("list").len() + 4;
    for budget in 0..writes as i64 {
        let inner: Arc<MemoryBackend> = Arc::new(MemoryBackend::new());
        let failing = Store::with_backend(Box::new(FailingBackend::new(inner.clone(), budget)));
        let err = publish(&failing, &opts(src.path(), &key), &NoProgress).expect_err("disk full");
        assert!(
            matches!(&err, VolumeError::Store(e) if e.is_disk_full()),
            "budget {budget}: {err}"
        );
        // Nothing that survived refers to missing data.
        let store = Store::with_backend(Box::new(inner));
        let report = fsck(&store, &Trust::default(), &NoProgress).expect("fsck");
        assert!(report.is_clean(), "budget {budget}: {:?}", report.problems);
        // With space again, the publish completes.
        publish_ok(&store, src.path(), &key);
        assert_eq!(
            read_back(&store, "img/hero.jpg").expect("read"),
            noise(300_000, 9)
        );
    }
}

#[test]
fn corrupt_object_is_refused_and_quarantined() {
    let src = tempfile::tempdir().expect("tempdir");
    tree(src.path(), 2);
    let key = SecretKey::from_seed([1; 32]);
    let backend = Arc::new(MemoryBackend::new());
    let store = Store::with_backend(Box::new(backend.clone()));
    publish_ok(&store, src.path(), &key);
    let victim = backend.list("objects").expect("list")[0].clone();
    let mut bytes = backend.read(&victim).expect("read");
    bytes[0] ^= 0xFF;
    backend
        .write(&victim, &bytes, tinycdn_store::Durability::Immediate)
        .expect("corrupt");
    let failures = ["clips/intro.mp4", "img/hero.jpg", "img/thumbs/a.png"]
        .iter()
        .filter(|p| read_back(&store, p).is_err())
        .count();
    assert_eq!(failures, 1, "exactly the file held by the object fails");
    let report = fsck(&store, &Trust::default(), &NoProgress).expect("fsck");
    assert!(!report.is_clean());
    assert_eq!(report.quarantined, vec![format!("quarantine/{victim}")]);
    assert!(report.problems.iter().any(|p| p.kind == "missing"));
    // Re-publishing restores the object.
    publish_ok(&store, src.path(), &key);
    assert!(fsck(&store, &Trust::default(), &NoProgress)
        .expect("fsck")
        .is_clean());
}

#[test]
fn files_larger_than_the_read_buffer_are_copied_verified() {
    // 6 MB does not fit the 4 MiB buffer: it is hashed first, then copied in a second read that
    // must hash the same; a new version with the same size but new bytes is stored anew.
    let src = tempfile::tempdir().expect("tempdir");
    tree(src.path(), 11);
    let big = src.path().join("clips/long.mp4");
    fs::write(&big, noise(6_000_000, 21)).expect("write");
    let key = SecretKey::from_seed([1; 32]);
    let store = Store::with_backend(Box::new(MemoryBackend::new()));
    let r1 = publish_ok(&store, src.path(), &key);
    assert_eq!(
        read_back(&store, "clips/long.mp4").expect("read"),
        noise(6_000_000, 21)
    );
    fs::write(&big, noise(6_000_000, 22)).expect("same size, new bytes");
    let r2 = publish_ok(&store, src.path(), &key);
    assert_eq!((r1.new_objects, r2.new_objects), (5, 1));
    assert_eq!(
        read_back(&store, "clips/long.mp4").expect("read"),
        noise(6_000_000, 22)
    );
    assert!(fsck(&store, &Trust::default(), &NoProgress)
        .expect("fsck")
        .is_clean());
}

/// Appends to a file every time publish reports progress: a writer that is always active while
/// the file is read, deterministically (progress is reported after every chunk).
struct Saboteur(std::path::PathBuf);

impl tinycdn_volume::Progress for Saboteur {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {
        use std::io::Write;
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&self.0)
            .expect("open");
        f.write_all(b"x").expect("append");
    }
    fn finish(&self) {}
}

#[test]
fn a_file_that_keeps_changing_is_refused() {
    // Small files are read from one buffer; large ones are hashed, then copied in a second read.
    for size in [1_000_000, 6_000_000] {
        let src = tempfile::tempdir().expect("tempdir");
        tree(src.path(), 3);
        let path = src.path().join("clips/live.mp4");
        fs::write(&path, noise(size, 7)).expect("write");
        let key = SecretKey::from_seed([1; 32]);
        let store = Store::with_backend(Box::new(MemoryBackend::new()));
        let err = publish(&store, &opts(src.path(), &key), &Saboteur(path))
            .expect_err("the file kept changing");
        assert!(matches!(err, VolumeError::Changing { .. }), "{size}: {err}");
        assert!(
            store.volumes().expect("list").is_empty(),
            "no version was made"
        );
    }
}

#[test]
fn checkout_without_hardlinks_copies_verified_bytes() {
    let src = tempfile::tempdir().expect("tempdir");
    tree(src.path(), 4);
    let key = SecretKey::from_seed([1; 32]);
    let store = Store::with_backend(Box::new(MemoryBackend::new()));
    publish_ok(&store, src.path(), &key);
    let r: Reference = "media@stable".parse().expect("valid");
    let v = r
        .open(&store, &Trust::from_keys(vec![key.public()]))
        .expect("open");
    let out = tempfile::tempdir().expect("tempdir");
    let dest = out.path().join("vol");
    let report = checkout(&store, &v, &dest, &NoProgress).expect("checkout");
    assert_eq!(report.linked, 0);
    assert_eq!(report.copied, 5);
    assert_eq!(
        fs::read(dest.join("clips/intro.mp4")).expect("read"),
        noise(1_000_000, 6)
    );
    assert_eq!(
        fs::read_link(dest.join("hero")).expect("link"),
        Path::new("img/hero.jpg")
    );
    // A wrong trust root refuses to open the version at all.
    let other = SecretKey::from_seed([2; 32]);
    assert!(matches!(
        r.open(&store, &Trust::from_keys(vec![other.public()])),
        Err(VolumeError::Signature(_))
    ));
}

/// Deltas live as long as the version whose index lists them: gc drops the index and the deltas
/// of removed versions, and keeps those of kept ones.
#[test]
fn gc_drops_the_deltas_of_removed_versions_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    tree(&src, 1);
    let store = Store::init(&dir.path().join("store")).expect("init");
    let key = SecretKey::from_seed([4; 32]);
    let mut clip = noise(1_000_000, 3);
    let mut versions = vec![publish_ok(&store, &src, &key)];
    for round in 0..2u8 {
        // Scattered edits: every chunk changes, a delta is tiny.
        for i in (0..clip.len()).step_by(4000) {
            clip[i] = clip[i].wrapping_add(round + 1);
        }
        fs::write(src.join("clips/intro.mp4"), &clip).expect("write");
        let mut o = opts(&src, &key);
        o.created += i64::from(round) + 1;
        let r = publish(&store, &o, &NoProgress).expect("publish");
        assert_eq!(r.deltas.kept, 1, "{:?}", r.deltas);
        versions.push(r);
    }
    let deltas = |s: &Store| s.raw_backend().list("deltas").expect("list");
    assert_eq!(deltas(&store).len(), 2);
    // Keep the newest version only (the tag points at it): version 2's index and delta go.
    tinycdn_volume::gc::gc(&store, 1, &NoProgress).expect("gc");
    assert!(store
        .read_delta_index(&versions[1].version)
        .expect("read")
        .is_none());
    let kept = store
        .read_delta_index(&versions[2].version)
        .expect("read")
        .expect("kept");
    let left = deltas(&store);
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[0],
        Store::delta_key(&kept.index.entries[0].base, &kept.index.entries[0].target)
    );
    // The kept delta's base is a file of the removed version: the delta stays for nodes that
    // still hold that file, and the store itself stays consistent.
    assert!(
        tinycdn_volume::fsck::fsck(&store, &Trust::default(), &NoProgress)
            .expect("fsck")
            .is_clean()
    );
}

/// Trust records a store publishes refuse what cannot be right: a timestamp with no snapshot to
/// name, a root not signed by its own keys, another root under a version already published, and
/// a rotation not signed by its predecessor's root keys. Nothing is written for any of them.
#[test]
fn trust_records_refuse_what_cannot_be_right() {
    use tinycdn_core::root::{Root, RootError, SignedRoot};
    use tinycdn_core::sign::SignatureSet;
    use tinycdn_volume::snapshot::refresh_timestamp;
    use tinycdn_volume::trust::publish_root;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::init(&dir.path().join("store")).expect("init");
    let (a, b) = (SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32]));
    assert!(matches!(
        refresh_timestamp(&store, &a, i64::MAX),
        Err(VolumeError::NoSnapshot)
    ));
    assert!(store.read_timestamp().expect("read").is_none());

    let root = |key: &SecretKey, version: u64, expires: i64, signer: &SecretKey| {
        let mut r = Root::single(&key.public(), expires);
        r.version = version;
        let mut s = SignedRoot {
            root: r.normalize().expect("valid"),
            signatures: SignatureSet::default(),
        };
        s.sign(signer);
        s
    };
    assert!(matches!(
        publish_root(&store, &root(&a, 1, i64::MAX, &b)),
        Err(VolumeError::Root(RootError::Signature(_)))
    ));
    assert!(store.read_root_bytes(1).expect("read").is_none());
    assert!(!publish_root(&store, &root(&a, 1, i64::MAX, &a)).expect("v1"));
    // The same version again, byte for byte, is fine; different bytes are not.
    assert!(!publish_root(&store, &root(&a, 1, i64::MAX, &a)).expect("same v1"));
    assert!(matches!(
        publish_root(&store, &root(&a, 1, 7, &a)),
        Err(VolumeError::RootConflict { version: 1 })
    ));
    // Version 2 held only by b, signed only by b: not a successor of version 1.
    assert!(matches!(
        publish_root(&store, &root(&b, 2, i64::MAX, &b)),
        Err(VolumeError::Root(RootError::Signature(_)))
    ));
    assert!(store.read_root_bytes(2).expect("read").is_none());
    let mut v2 = root(&b, 2, i64::MAX, &b);
    v2.sign(&a);
    assert!(publish_root(&store, &v2).expect("a valid rotation"));
}
