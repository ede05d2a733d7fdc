//! Pulling from a real origin on 127.0.0.1 into local stores.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tinycdn_core::chunking::ChunkParams;
use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::sign::SecretKey;
use tinycdn_fetch::Upstreams;
use tinycdn_server::testing::start_origin;
use tinycdn_store::{Durability, Store};
use tinycdn_sync::{pull, PullError, PullReport};
use tinycdn_volume::fsck::fsck;
use tinycdn_volume::publish::{publish, PublishOptions};
use tinycdn_volume::trust::Trust;
use tinycdn_volume::NoProgress;

const KEY: [u8; 32] = [8; 32];
const CHUNKS: ChunkParams = ChunkParams {
    min: 16 << 10,
    avg: 64 << 10,
    max: 256 << 10,
};

fn publish_tree(store: &Store, src: &Path, created: i64) -> String {
    publish(
        store,
        &PublishOptions {
            source: src,
            volume: VolumeName::new("site").expect("valid"),
            tag: Some(TagName::new("stable").expect("valid")),
            key: &SecretKey::from_seed(KEY),
            created,
            chunking: CHUNKS,
            deltas: Default::default(),
            overlay: None,
            freshness: None,
        },
        &NoProgress,
    )
    .expect("publish")
    .version
    .to_hex()
}

fn trust() -> Trust {
    Trust::from_keys(vec![SecretKey::from_seed(KEY).public()])
}

async fn pull_into(
    local: &Arc<Store>,
    origin: &str,
    trust: &Trust,
) -> Result<PullReport, PullError> {
    let ups =
        Arc::new(Upstreams::new(&[origin.to_owned()], Duration::from_secs(5)).expect("upstreams"));
    pull(
        local.clone(),
        ups,
        trust,
        &VolumeName::new("site").expect("valid"),
        "stable",
        4,
        &NoProgress,
    )
    .await
}

fn read_file(store: &Store, path: &str) -> Vec<u8> {
    let r: tinycdn_volume::reference::Reference = "site@stable".parse().expect("ref");
    let v = r.open(store, &trust()).expect("open");
    let f = tinycdn_volume::read::find_file(&v.manifest, path, "site@stable").expect("file");
    let mut out = Vec::new();
    tinycdn_volume::read::copy_file(store, f, "site@stable", &mut out).expect("read");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_only_what_changed_and_nothing_when_current() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let clip = std::fs::read(tinycdn_store::testing::sample_media().join("video/bigbuckbunny.mp4"))
        .expect("clip");
    std::fs::write(src.join("intro.mp4"), &clip).expect("write");
    std::fs::write(src.join("app.css"), "body { margin: 0 }\n").expect("write");
    let origin_store = Store::init(&dir.path().join("origin")).expect("init");
    publish_tree(&origin_store, &src, 1);
    let origin = start_origin(&dir.path().join("origin")).await;

    let local = Arc::new(Store::init(&dir.path().join("local")).expect("init"));
    let first = pull_into(&local, &origin, &trust()).await.expect("pull");
    assert!(
        first.bytes_transferred >= first.volume_bytes,
        "a first pull moves everything"
    );
    assert_eq!(read_file(&local, "intro.mp4"), clip);
    assert!(fsck(&local, &trust(), &NoProgress)
        .expect("fsck")
        .is_clean());

    // The same version again: only the tag moves.
    let again = pull_into(&local, &origin, &trust()).await.expect("pull");
    assert!(again.already_had);
    assert!(again.bytes_transferred < 1024, "{again:?}");

    // A new version with the clip edited in the middle: only chunks near the edit move.
    let mut edited = clip.clone();
    let mid = edited.len() / 2;
    edited.splice(mid..mid, *b"an edit in the middle");
    std::fs::write(src.join("intro.mp4"), &edited).expect("write");
    publish_tree(&origin_store, &src, 2);
    let second = pull_into(&local, &origin, &trust()).await.expect("pull");
    assert_eq!(second.number, 2);
    assert!(
        second.bytes_transferred < (clip.len() as u64) / 3,
        "an edit moved {} of {} bytes",
        second.bytes_transferred,
        clip.len()
    );
    // The unchanged chunks come from the store, or the whole file from a delta (an insertion is
    // a few dozen bytes of delta, less than the chunks around it).
    assert!(
        second.bytes_from_local_chunks > (clip.len() as u64) / 2
            || second.bytes_from_deltas == clip.len() as u64 + 21,
        "{second:?}"
    );
    assert_eq!(read_file(&local, "intro.mp4"), edited);
    assert!(fsck(&local, &trust(), &NoProgress)
        .expect("fsck")
        .is_clean());
    assert!(
        local
            .raw_backend()
            .list("staging")
            .expect("list")
            .is_empty(),
        "staging is cleared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_pull_resumes_from_staged_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let clip = std::fs::read(tinycdn_store::testing::sample_media().join("video/bigbuckbunny.mp4"))
        .expect("clip");
    std::fs::write(src.join("intro.mp4"), &clip).expect("write");
    let origin_store = Store::init(&dir.path().join("origin")).expect("init");
    let version = publish_tree(&origin_store, &src, 1);
    let origin = start_origin(&dir.path().join("origin")).await;
    // What an interrupted pull leaves: the first half of the clip's chunks, verified, staged.
    let (m, _) = origin_store
        .read_manifest(&version.parse().expect("id"))
        .expect("manifest");
    let f = m.find("intro.mp4").and_then(|e| e.file()).expect("clip");
    let local = Arc::new(Store::init(&dir.path().join("local")).expect("init"));
    let half = f.chunks.len() / 2;
    let mut staged = 0u64;
    for (offset, c) in f.chunk_offsets().take(half) {
        let start = usize::try_from(offset).expect("offset");
        let bytes = &clip[start..start + c.len as usize];
        let hex = c.id.to_hex();
        local
            .raw_backend()
            .write(
                &format!("staging/{}/{hex}", &hex[..2]),
                bytes,
                Durability::AtBarrier,
            )
            .expect("stage");
        staged += u64::from(c.len);
    }
    let r = pull_into(&local, &origin, &trust()).await.expect("pull");
    assert_eq!(r.bytes_from_staging, staged);
    assert!(
        r.bytes_transferred < clip.len() as u64 - staged + 64 * 1024,
        "{r:?}"
    );
    assert_eq!(read_file(&local, "intro.mp4"), clip);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_or_conflicting_versions_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("a.txt"), "hello\n").expect("write");
    let origin_store = Store::init(&dir.path().join("origin")).expect("init");
    publish_tree(&origin_store, &src, 1);
    let origin = start_origin(&dir.path().join("origin")).await;
    let local = Arc::new(Store::init(&dir.path().join("local")).expect("init"));
    let other = Trust::from_keys(vec![SecretKey::from_seed([1; 32]).public()]);
    let err = pull_into(&local, &origin, &other)
        .await
        .expect_err("untrusted");
    // The error says why: the signer is not trusted (not only that every mirror failed).
    assert!(
        matches!(
            err,
            PullError::Signature(tinycdn_core::SignatureError::Untrusted { .. })
        ),
        "{err}"
    );
    assert!(
        local.volumes().expect("volumes").is_empty(),
        "nothing was kept"
    );
    // A different version 1 of the same volume already in the local store.
    let src2 = dir.path().join("src2");
    std::fs::create_dir_all(&src2).expect("mkdir");
    std::fs::write(src2.join("b.txt"), "other\n").expect("write");
    publish_tree(&local, &src2, 1);
    let err = pull_into(&local, &origin, &trust())
        .await
        .expect_err("conflict");
    assert!(matches!(err, PullError::Conflict { .. }), "{err}");
}

/// Deterministic bytes that compress poorly, like machine code.
fn binary(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// A rebuild's edits: one byte changed every 3000 bytes, as relinking shifts addresses; every
/// content-defined chunk changes.
fn recompiled(old: &[u8]) -> Vec<u8> {
    let mut new = old.to_vec();
    for i in (0..new.len()).step_by(3000) {
        new[i] = new[i].wrapping_add(1);
    }
    new
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scattered_edits_travel_as_a_verified_delta_and_bad_deltas_fall_back_to_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let old = binary(1 << 20, 3);
    std::fs::write(src.join("libapp.so"), &old).expect("write");
    std::fs::write(src.join("notes.txt"), "version 1\n").expect("write");
    let origin_dir = dir.path().join("origin");
    let origin_store = Store::init(&origin_dir).expect("init");
    publish_tree(&origin_store, &src, 1);
    let origin = start_origin(&origin_dir).await;
    // Three nodes holding version 1.
    let nodes: Vec<Arc<Store>> = (0..3)
        .map(|i| Arc::new(Store::init(&dir.path().join(format!("node{i}"))).expect("init")))
        .collect();
    for n in &nodes {
        pull_into(n, &origin, &trust()).await.expect("pull v1");
    }
    // Version 2: the library rebuilt (every chunk differs), the notes renamed and edited.
    let new = recompiled(&old);
    std::fs::write(src.join("libapp.so"), &new).expect("write");
    std::fs::remove_file(src.join("notes.txt")).expect("rm");
    std::fs::write(src.join("NOTES.txt"), "version 2\n").expect("write");
    let published = publish(
        &origin_store,
        &PublishOptions {
            source: &src,
            volume: VolumeName::new("site").expect("valid"),
            tag: Some(TagName::new("stable").expect("valid")),
            key: &SecretKey::from_seed(KEY),
            created: 2,
            chunking: CHUNKS,
            deltas: Default::default(),
            overlay: None,
            freshness: None,
        },
        &NoProgress,
    )
    .expect("publish v2");
    assert_eq!(published.deltas.kept, 1, "{:?}", published.deltas);
    assert!(published.deltas.delta_bytes < (new.len() as u64) / 20);
    let index = origin_store
        .read_delta_index(&published.version)
        .expect("read")
        .expect("an index");
    assert!(index.verify(trust().ring()).is_ok());
    let entry = index.index.entries[0];

    // A node holding version 1 fetches the delta, not the chunks.
    let r = pull_into(&nodes[0], &origin, &trust()).await.expect("pull");
    assert_eq!((r.deltas_applied, r.deltas_failed), (1, 0), "{r:?}");
    assert_eq!(
        r.chunks_fetched, 1,
        "only the small new file's chunk: {r:?}"
    );
    assert!(
        r.bytes_transferred < (new.len() as u64) / 10,
        "moved {} bytes for a {} byte file",
        r.bytes_transferred,
        new.len()
    );
    assert_eq!(read_file(&nodes[0], "libapp.so"), new);

    // The origin's delta replaced by a truncated copy, then by a delta from another base to the
    // same target: neither passes the signed hash, and the file comes as chunks.
    let key = Store::delta_key(&entry.base, &entry.target);
    let path = origin_dir.join(&key);
    let good = std::fs::read(&path).expect("delta");
    let other_base = tinycdn_delta::create(
        &binary(1 << 20, 9),
        &new,
        &[tinycdn_delta::Method::ZstdPatchFrom],
    )
    .expect("create")
    .delta
    .to_bytes();
    for (node, bad) in nodes[1..]
        .iter()
        .zip([good[..good.len() / 2].to_vec(), other_base])
    {
        std::fs::remove_file(&path).expect("rm");
        std::fs::write(&path, &bad).expect("write");
        let r = pull_into(node, &origin, &trust()).await.expect("pull");
        assert_eq!((r.deltas_applied, r.deltas_failed), (0, 1), "{r:?}");
        assert!(r.chunks_fetched > 1);
        assert_eq!(read_file(node, "libapp.so"), new);
        assert!(fsck(node, &trust(), &NoProgress).expect("fsck").is_clean());
        assert!(node.raw_backend().list("staging").expect("list").is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_serving_an_older_tag_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("a.txt"), "one\n").expect("write");
    // A stale mirror with version 1 only, and the origin with version 2.
    let stale_store = Store::init(&dir.path().join("stale")).expect("init");
    publish_tree(&stale_store, &src, 1);
    let origin_store = Store::init(&dir.path().join("origin")).expect("init");
    publish_tree(&origin_store, &src, 1);
    std::fs::write(src.join("a.txt"), "two\n").expect("write");
    publish_tree(&origin_store, &src, 2);
    let stale = start_origin(&dir.path().join("stale")).await;
    let origin = start_origin(&dir.path().join("origin")).await;
    let local = Arc::new(Store::init(&dir.path().join("local")).expect("init"));
    assert_eq!(
        pull_into(&local, &origin, &trust())
            .await
            .expect("pull")
            .number,
        2
    );
    let err = pull_into(&local, &stale, &trust())
        .await
        .expect_err("rollback");
    assert!(
        matches!(
            err,
            PullError::Rollback {
                local: 2,
                offered: 1,
                ..
            }
        ),
        "{err}"
    );
    let tag = local
        .read_tag(
            &tinycdn_core::names::VolumeName::new("site").expect("volume name"),
            &tinycdn_core::names::TagName::new("stable").expect("tag name"),
        )
        .expect("read")
        .expect("tag");
    assert_eq!(tag.record.number, 2, "the tag did not move back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_mid_pull_keeps_nothing_half_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    // 6 MiB of incompressible media against a 3 MiB filesystem.
    for i in 0..3u64 {
        std::fs::write(src.join(format!("clip{i}.mp4")), binary(2 << 20, 11 + i)).expect("write");
    }
    let origin_store = Store::init(&dir.path().join("origin")).expect("init");
    publish_tree(&origin_store, &src, 1);
    let origin = start_origin(&dir.path().join("origin")).await;
    let mnt = dir.path().join("small");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    let Some(_tmpfs) = tinycdn_store::testing::Tmpfs::mount(&mnt, "3m") else {
        return;
    };
    let local = Arc::new(Store::init(&mnt.join("store")).expect("init"));
    let err = pull_into(&local, &origin, &trust())
        .await
        .expect_err("no space");
    assert!(
        err.to_string().contains("space")
            || matches!(err, PullError::Store(_) | PullError::Rebuild(_)),
        "{err}"
    );
    assert!(
        local.volumes().expect("volumes").is_empty(),
        "no version is visible"
    );
    assert!(local
        .read_tag(
            &tinycdn_core::names::VolumeName::new("site").expect("volume name"),
            &tinycdn_core::names::TagName::new("stable").expect("tag name")
        )
        .expect("read")
        .is_none());
    assert!(fsck(&local, &trust(), &NoProgress)
        .expect("fsck")
        .is_clean());
}

/// Pulls `site@stable` with `bad` ranked before `good` and checks that nothing changed: version
/// 2 with `lib.so` equal to `expected`, the liar caught, fsck clean (not one unverified byte:
/// every object, manifest and tag checks out) and nothing left staged.
async fn pull_past_a_liar(
    node: &Arc<Store>,
    bad: &str,
    good: &str,
    trust: &Trust,
    what: &str,
    expected: &[u8],
) {
    let ups = Arc::new(
        Upstreams::new(&[bad.to_owned(), good.to_owned()], Duration::from_secs(1)).expect("ups"),
    );
    let r = pull(
        node.clone(),
        ups.clone(),
        trust,
        &VolumeName::new("site").expect("valid"),
        "stable",
        4,
        &NoProgress,
    )
    .await
    .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(r.number, 2, "{what}");
    assert_eq!(read_file(node, "lib.so"), expected, "{what}");
    let liar = &ups.mirrors()[0];
    assert!(
        liar.lies() > 0 || !liar.is_healthy(),
        "{what}: the bad mirror was not caught"
    );
    assert!(
        fsck(node, trust, &NoProgress).expect("fsck").is_clean(),
        "{what}"
    );
    assert!(node.raw_backend().list("staging").expect("list").is_empty());
}

/// Hostile mirrors ranked before an honest one (slowed down so the liars are tried first): wrong
/// bytes, truncated, endless, stalled and dripping answers, a stale mirror with an older validly signed
/// tag, a mirror whose content an unknown key signed. Every pull still succeeds from the honest
/// mirror, the liar is caught, and the store holds only verified bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_mirrors_next_to_a_good_one_change_nothing() {
    use tinycdn_server::testing::{hostile_mirror, slow_proxy, Lie};
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let lib = binary(400_000, 21);
    std::fs::write(src.join("lib.so"), &lib).expect("write");
    // The stale mirror holds version 1 only; the impostor the same tree signed by another key.
    let stale_store = Store::init(&dir.path().join("stale")).expect("init");
    publish_tree(&stale_store, &src, 1);
    let impostor_store = Store::init(&dir.path().join("impostor")).expect("init");
    publish(
        &impostor_store,
        &PublishOptions {
            source: &src,
            volume: VolumeName::new("site").expect("valid"),
            tag: Some(TagName::new("stable").expect("valid")),
            key: &SecretKey::from_seed([66; 32]),
            created: 9,
            chunking: CHUNKS,
            deltas: Default::default(),
            overlay: None,
            freshness: None,
        },
        &NoProgress,
    )
    .expect("publish");
    let origin_store = Store::init(&dir.path().join("origin")).expect("init");
    publish_tree(&origin_store, &src, 1);
    let new = recompiled(&lib);
    std::fs::write(src.join("lib.so"), &new).expect("write");
    publish_tree(&origin_store, &src, 2);
    let origin = start_origin(&dir.path().join("origin")).await;
    let good = slow_proxy(&origin, Duration::from_millis(30)).await;
    let stale = start_origin(&dir.path().join("stale")).await;
    let impostor = start_origin(&dir.path().join("impostor")).await;

    let mut bad_mirrors = Vec::new();
    for lie in [
        Lie::WrongBytes,
        Lie::Truncated,
        Lie::Oversized,
        Lie::Stall,
        Lie::Drip,
    ] {
        bad_mirrors.push((format!("{lie:?}"), hostile_mirror(lie).await));
    }
    bad_mirrors.push(("unknown signer".into(), impostor));
    for (i, (what, bad)) in bad_mirrors.iter().enumerate() {
        let node = Arc::new(Store::init(&dir.path().join(format!("node{i}"))).expect("init"));
        pull_past_a_liar(&node, bad, &good, &trust(), what, &new).await;
    }

    // A node that has seen version 2: the stale mirror's older tag is refused, the good one used.
    let node = Arc::new(Store::init(&dir.path().join("seen")).expect("init"));
    pull_into(&node, &origin, &trust()).await.expect("pull v2");
    let ups = Arc::new(
        Upstreams::new(&[stale.clone(), good.clone()], Duration::from_secs(1)).expect("ups"),
    );
    let r = pull(
        node.clone(),
        ups.clone(),
        &trust(),
        &VolumeName::new("site").expect("valid"),
        "stable",
        4,
        &NoProgress,
    )
    .await
    .expect("the good mirror answers");
    assert_eq!((r.number, r.already_had), (2, true));
    assert!(ups.mirrors()[0].lies() > 0, "the stale tag counts as a lie");
    // With only the stale mirror, the error names the rollback.
    let only_stale = pull_into(&node, &stale, &trust())
        .await
        .expect_err("rollback");
    assert!(
        matches!(only_stale, PullError::Rollback { .. }),
        "{only_stale}"
    );
}

/// Under a trust root, hostile mirrors ranked before an honest one — real origins serving old,
/// expired, mixed or foreign-signed metadata, and byte-level liars — change nothing: every pull
/// gets version 2 from the honest mirror, the liar is caught, the store holds only verified
/// bytes. A node that has seen version 2, offered only the stale mirror, refuses it (rollback).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_mirrors_under_a_trust_root_change_nothing() {
    use tinycdn_server::testing::{
        hostile_mirror, metadata_liars, single_key_root, slow_proxy, Lie,
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (v1, v2) = (dir.path().join("v1"), dir.path().join("v2"));
    let lib = binary(400_000, 31);
    let new = recompiled(&lib);
    for (d, bytes) in [(&v1, &lib), (&v2, &new)] {
        std::fs::create_dir_all(d).expect("mkdir");
        std::fs::write(d.join("lib.so"), bytes).expect("write");
    }
    let key = SecretKey::from_seed(KEY);
    let world = metadata_liars(dir.path(), &v1, &v2, &key, CHUNKS).await;
    let trust = single_key_root(&key, 1);
    let good = slow_proxy(&world.honest, Duration::from_millis(30)).await;
    let mut bad = world.liars.clone();
    for lie in [Lie::WrongBytes, Lie::Oversized, Lie::Drip] {
        bad.push(("byte-level liar", hostile_mirror(lie).await));
    }
    for (i, (what, url)) in bad.iter().enumerate() {
        let node = Arc::new(Store::init(&dir.path().join(format!("node{i}"))).expect("init"));
        pull_past_a_liar(&node, url, &good, &trust, what, &new).await;
        assert_eq!(
            node.raw_backend().read("trust/timestamp").expect("pinned"),
            std::fs::read(world.honest_store.join("timestamp")).expect("honest"),
            "{what}: the honest timestamp is pinned"
        );
    }
    let stale = &world
        .liars
        .iter()
        .find(|(what, _)| *what == "old but signed")
        .expect("stale")
        .1;
    let node = Arc::new(Store::init(&dir.path().join("node-seen")).expect("init"));
    pull_into(&node, &world.honest, &trust).await.expect("v2");
    let err = pull_into(&node, stale, &trust).await.expect_err("rollback");
    assert!(
        matches!(&err, PullError::Snapshot { why } if why.contains("has seen version")),
        "{err}"
    );
}
