//! The store's transparency log: every change that alters what nodes serve is an entry, the log
//! verifies whole and proves versions, and damage, forks, rollbacks and a full disk are caught.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use tinycdn_core::chunking::ChunkParams;
use tinycdn_core::log_entry::Event;
use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::sign::SecretKey;
use tinycdn_store::testing::FailingBackend;
use tinycdn_store::{MemoryBackend, Store};
use tinycdn_volume::log::{self, LogError};
use tinycdn_volume::publish::{publish, PublishOptions, PublishReport};
use tinycdn_volume::snapshot::Freshness;
use tinycdn_volume::{NoProgress, VolumeError};

fn opts<'a>(src: &'a Path, key: &'a SecretKey, tag: &str) -> PublishOptions<'a> {
    PublishOptions {
        source: src,
        volume: VolumeName::new("media").expect("valid"),
        tag: Some(TagName::new(tag).expect("valid")),
        key,
        created: 1_700_000_000,
        chunking: ChunkParams {
            min: 4096,
            avg: 16384,
            max: 65536,
        },
        deltas: Default::default(),
        overlay: None,
        freshness: Some(Freshness {
            snapshot_expires: 4_000_000_000,
            timestamp_expires: 4_000_000_000,
        }),
    }
}

fn publish_file(store: &Store, key: &SecretKey, body: &[u8]) -> PublishReport {
    let src = tempfile::tempdir().expect("tempdir");
    fs::write(src.path().join("a.txt"), body).expect("write");
    publish(store, &opts(src.path(), key, "stable"), &NoProgress).expect("publish")
}

fn is_log_error(e: &VolumeError) -> bool {
    matches!(e, VolumeError::Log(_))
}

#[test]
fn publishes_tags_snapshots_and_gc_are_entries_and_versions_are_provable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::init(&dir.path().join("store")).expect("init");
    let key = SecretKey::from_seed([3; 32]);
    let v1 = publish_file(&store, &key, b"one");
    let (cp1, note1) = log::checkpoint(&store)
        .expect("read")
        .expect("a checkpoint");
    assert_eq!(cp1.size, 4, "publish, tag, snapshot, timestamp");
    let v2 = publish_file(&store, &key, b"two");
    tinycdn_volume::gc::gc(&store, 1, &NoProgress).expect("gc");

    let (cp, list) = log::entries(&store, 0, 100).expect("entries");
    let kinds: Vec<&str> = list.iter().map(|(_, e)| e.event.kind()).collect();
    assert_eq!(
        kinds,
        [
            "publish",
            "tag",
            "snapshot",
            "timestamp",
            "publish",
            "tag",
            "snapshot",
            "timestamp",
            "gc"
        ]
    );
    let Event::Tag { old, new, .. } = &list[5].1.event else {
        panic!("a tag entry")
    };
    assert_eq!(
        (old.as_ref(), new),
        (Some(v1.version.as_bytes()), v2.version.as_bytes())
    );
    let Event::Gc { version, .. } = &list[8].1.event else {
        panic!("a gc entry")
    };
    assert_eq!(version, v1.version.as_bytes());

    let report = log::verify(&store).expect("verify");
    assert_eq!(
        (report.size, report.unlogged.len()),
        (9, 0),
        "{:?}",
        report.unlogged
    );
    let proof = log::prove(&store, &v2.version).expect("prove");
    assert_eq!((proof.index, proof.checkpoint.size), (4, cp.size));
    // The log extends its older self; the older one does not extend the newer.
    log::check_extends(&store, &note1).expect("consistent");
    let (_, note) = log::checkpoint(&store).expect("read").expect("cp");
    let verifier =
        tinycdn_tlog::LogVerifier::new(&log::verifier_key(&store).expect("k").expect("k"))
            .expect("vkey");
    assert_eq!(verifier.open(&note).expect("open").size, 9);
}

#[test]
fn a_flipped_byte_in_a_tile_or_the_checkpoint_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("store");
    let store = Store::init(&root).expect("init");
    let key = SecretKey::from_seed([3; 32]);
    let v = publish_file(&store, &key, b"one");
    log::verify(&store).expect("clean");

    let tile = root.join("log/tile/0/000");
    let good = fs::read(&tile).expect("tile");
    let mut bad = good.clone();
    bad[40] ^= 1;
    fs::write(&tile, &bad).expect("damage");
    let err = log::verify(&store).expect_err("damaged tile");
    assert!(is_log_error(&err), "{err}");
    assert!(log::prove(&store, &v.version).is_err());
    fs::write(&tile, &good).expect("repair");

    let entries = root.join("log/tile/entries/000");
    let good_entries = fs::read(&entries).expect("bundle");
    let mut bad = good_entries.clone();
    let at = bad.len() - 3;
    bad[at] ^= 1;
    fs::write(&entries, &bad).expect("damage");
    assert!(log::verify(&store).is_err(), "an edited entry");
    fs::write(&entries, &good_entries).expect("repair");

    let cp = root.join("log/checkpoint");
    let note = fs::read_to_string(&cp).expect("note");
    fs::write(&cp, note.replacen("\n4\n", "\n3\n", 1)).expect("forge");
    let err = log::checkpoint(&store).expect_err("forged checkpoint");
    assert!(err.to_string().contains("not signed"), "{err}");
}

#[test]
fn a_fork_or_rollback_does_not_extend() {
    let key = SecretKey::from_seed([3; 32]);
    let a = Store::with_backend(Box::new(MemoryBackend::new()));
    publish_file(&a, &key, b"one");
    let b = Store::with_backend(Box::new(MemoryBackend::new()));
    // Same log key in both: a log operator who shows two views.
    for k in a.raw_backend().list("log").expect("list") {
        b.raw_backend()
            .write(
                &k,
                &a.raw_backend().read(&k).expect("read"),
                tinycdn_store::Durability::Immediate,
            )
            .expect("copy");
    }
    let (_, shared) = log::checkpoint(&a).expect("r").expect("cp");
    publish_file(&a, &key, b"two");
    publish_file(&b, &key, b"three");
    let (_, note_b) = log::checkpoint(&b).expect("r").expect("cp");
    // Both extend the shared prefix...
    log::check_extends(&a, &shared).expect("a extends");
    log::check_extends(&b, &shared).expect("b extends");
    // ...but not each other: same size, other root.
    let err = log::check_extends(&a, &note_b).expect_err("fork");
    assert!(is_log_error(&err), "{err}");
    publish_file(&a, &key, b"four");
    assert!(log::check_extends(&a, &note_b).is_err(), "a longer fork");
    // A rollback: the newer checkpoint against the older log.
    let (_, newest_a) = log::checkpoint(&a).expect("r").expect("cp");
    let err = log::check_extends(&b, &newest_a).expect_err("rollback");
    match err {
        VolumeError::Log(e) => assert!(matches!(*e, LogError::Inconsistent(_)), "{e}"),
        other => panic!("{other}"),
    }
}

#[test]
fn a_full_disk_at_any_log_write_keeps_the_old_checkpoint_and_the_rerun_logs_everything() {
    let key = SecretKey::from_seed([3; 32]);
    let src = tempfile::tempdir().expect("tempdir");
    fs::write(src.path().join("a.txt"), b"one").expect("write");
    for budget in 0..40 {
        let inner: Arc<MemoryBackend> = Arc::new(MemoryBackend::new());
        let failing = Store::with_backend(Box::new(FailingBackend::new(inner.clone(), budget)));
        let done = publish(&failing, &opts(src.path(), &key, "stable"), &NoProgress).is_ok();
        let store = Store::with_backend(Box::new(inner));
        // Whatever was written, the log that is there verifies.
        if let Err(e) = log::verify(&store) {
            panic!("budget {budget}: {e}");
        }
        publish(&store, &opts(src.path(), &key, "stable"), &NoProgress).expect("rerun");
        let report = log::verify(&store).expect("verify");
        assert!(
            report.unlogged.is_empty(),
            "budget {budget}: {:?}",
            report.unlogged
        );
        if done {
            break;
        }
    }
}
