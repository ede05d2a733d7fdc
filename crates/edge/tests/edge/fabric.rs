//! Edges in front of a real origin (and of each other, and of a hostile mirror) on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tinycdn_core::chunking::ChunkParams;
use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::sign::SecretKey;
use tinycdn_edge::{ChunkCache, Edge, Upstreams};
use tinycdn_server::testing::{get, hostile_mirror, single_key_root, slow_proxy, Lie};
use tinycdn_server::{serve, Limits, Origin};
use tinycdn_store::Store;
use tinycdn_volume::publish::{publish, PublishOptions};
use tinycdn_volume::trust::Trust;
use tinycdn_volume::NoProgress;
use tokio::net::TcpListener;

pub(crate) const KEY: [u8; 32] = [5; 32];
/// Small chunks so that the clip spans many of them.
const CHUNKS: ChunkParams = ChunkParams {
    min: 16 << 10,
    avg: 64 << 10,
    max: 256 << 10,
};

pub(crate) struct World {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) clip: Vec<u8>,
    pub(crate) version: String,
    pub(crate) origin: String,
    origin_task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn listen<H: tinycdn_server::Handler>(
    h: Arc<H>,
) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("http://{}", l.local_addr().expect("addr"));
    (addr, tokio::spawn(serve(l, h, Limits::default(), None)))
}

pub(crate) async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("clips")).expect("mkdir");
    let clip = std::fs::read(tinycdn_store::testing::sample_media().join("video/bigbuckbunny.mp4"))
        .expect("clip");
    std::fs::write(src.join("clips/intro.mp4"), &clip).expect("write");
    std::fs::write(src.join("app.css"), "body { margin: 0 }\n".repeat(200)).expect("write");
    let store = Store::init(&dir.path().join("store")).expect("init");
    let r = publish(
        &store,
        &PublishOptions {
            source: &src,
            volume: VolumeName::new("site").expect("valid"),
            tag: Some(TagName::new("stable").expect("valid")),
            key: &SecretKey::from_seed(KEY),
            created: 1,
            chunking: CHUNKS,
            deltas: Default::default(),
            overlay: None,
            freshness: None,
        },
        &NoProgress,
    )
    .expect("publish");
    let (origin, origin_task) = listen(Origin::new(store)).await;
    World {
        dir,
        clip,
        version: r.version.to_hex(),
        origin,
        origin_task,
    }
}

pub(crate) fn trust() -> Trust {
    Trust::from_keys(vec![SecretKey::from_seed(KEY).public()])
}

async fn edge(upstreams: &[String], cache_dir: Option<&Path>, trust: Trust) -> (String, Arc<Edge>) {
    let ups = Upstreams::new(upstreams, Duration::from_secs(2)).expect("upstreams");
    let cache = ChunkCache::new(64 << 20, cache_dir.map(|d| (d, 1 << 30))).expect("cache");
    let e = Edge::new(ups, trust, cache);
    let (addr, _) = listen(e.clone()).await;
    (addr.trim_start_matches("http://").to_owned(), e)
}

fn counter(e: &Edge) -> (u64, u64, u64) {
    let c = &e.cache().counters;
    use std::sync::atomic::Ordering::Relaxed;
    (
        c.memory_hits.load(Relaxed),
        c.disk_hits.load(Relaxed),
        c.misses.load(Relaxed),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_verified_bytes_and_caches_them() {
    let w = world().await;
    let (addr, e) = edge(std::slice::from_ref(&w.origin), None, trust()).await;
    let url = "/v/site@stable/clips/intro.mp4";
    let r = get(&addr, url, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, w.clip);
    assert_eq!(r.header("x-tinycdn-version"), w.version);
    let fetched = e.upstreams().expect("a fabric").fetched_bytes();
    // Again: all from memory, nothing more from upstream.
    let r = get(&addr, url, &[]).await;
    assert_eq!(r.body, w.clip);
    assert_eq!(e.upstreams().expect("a fabric").fetched_bytes(), fetched);
    assert!(counter(&e).0 > 0);
    // Ranges and multipart through the edge, byte for byte.
    let n = w.clip.len();
    let r = get(&addr, url, &[("Range", "bytes=100000-100099")]).await;
    assert_eq!((r.status, &r.body[..]), (206, &w.clip[100_000..100_100]));
    let r = get(&addr, url, &[("Range", "bytes=-7")]).await;
    assert_eq!(r.body, w.clip[n - 7..]);
    let r = get(&addr, url, &[("Range", "bytes=0-1,500000-500001")]).await;
    assert!(r.header("content-type").starts_with("multipart/byteranges"));
    assert_eq!(r.header("content-length"), r.body.len().to_string());
    let etag = r.header("etag").to_owned();
    assert_eq!(
        get(&addr, url, &[("If-None-Match", &etag)]).await.status,
        304
    );
    let pinned = get(
        &addr,
        &format!("/v/site@{}/clips/intro.mp4", w.version),
        &[],
    )
    .await;
    assert_eq!(
        pinned.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    // A compressible file, compressed at the edge when the client accepts it.
    let css = get(
        &addr,
        "/v/site@stable/app.css",
        &[("Accept-Encoding", "br")],
    )
    .await;
    assert_eq!((css.status, css.header("content-encoding")), (200, "br"));
    let mut plain = Vec::new();
    brotli::BrotliDecompress(&mut &css.body[..], &mut plain).expect("brotli");
    assert_eq!(plain, "body { margin: 0 }\n".repeat(200).into_bytes());
    // Hostile paths never reach upstream.
    assert_eq!(get(&addr, "/v/site@stable/%2e%2e/x", &[]).await.status, 400);
    let metrics = String::from_utf8(get(&addr, "/metrics", &[]).await.body).expect("text");
    assert!(tinycdn_telemetry::scrape::value(
        &metrics,
        "tinycdn_cache_chunks_total",
        &[("role", "edge"), ("tier", "memory"), ("result", "hit")]
    )
    .is_some());
    assert!(
        tinycdn_telemetry::scrape::value(
            &metrics,
            "tinycdn_fill_seconds_bucket",
            &[("role", "edge"), ("le", "+Inf")]
        )
        .is_some(),
        "{metrics}"
    );
    drop(w.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_fills_only_the_chunks_it_covers_and_misses_coalesce() {
    let w = world().await;
    let (addr, e) = edge(std::slice::from_ref(&w.origin), None, trust()).await;
    let url = "/v/site@stable/clips/intro.mp4";
    let r = get(&addr, url, &[("Range", "bytes=0-10")]).await;
    assert_eq!(r.body, w.clip[..=10]);
    let fetched = e.upstreams().expect("a fabric").fetched_bytes();
    assert!(
        fetched < 300 << 10,
        "a small range fetched {fetched} bytes: only its chunk and a little read-ahead"
    );
    // Eight concurrent cold readers of the whole clip: each chunk filled once.
    let w2 = world().await;
    let (addr2, e2) = edge(std::slice::from_ref(&w2.origin), None, trust()).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let addr2 = addr2.clone();
        tasks.push(tokio::spawn(async move {
            get(&addr2, "/v/site@stable/clips/intro.mp4", &[])
                .await
                .body
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), w2.clip);
    }
    let fetched = e2.upstreams().expect("a fabric").fetched_bytes() as usize;
    assert!(
        fetched < w2.clip.len() + (64 << 10),
        "each chunk came from upstream once: {fetched} for {}",
        w2.clip.len()
    );
}

/// A TCP proxy in front of `target` that holds every client write for `delay`: it makes an honest
/// mirror measurably slower than a hostile one, so the edge deterministically tries the hostile
/// mirror first.
async fn liar() -> String {
    hostile_mirror(Lie::WrongBytes).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_mirror_is_caught_and_demoted() {
    let w = world().await;
    let bad = liar().await;
    let good = slow_proxy(&w.origin, Duration::from_millis(20)).await;
    let (addr, e) = edge(&[bad.clone(), good], None, trust()).await;
    let r = get(&addr, "/v/site@stable/clips/intro.mp4", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, w.clip, "every byte came from the honest mirror");
    let liar = &e.upstreams().expect("a fabric").mirrors()[0];
    assert!(liar.lies() > 0, "the wrong bytes were counted");
    assert!(!liar.is_healthy(), "the liar is backed off");
    let metrics = String::from_utf8(get(&addr, "/metrics", &[]).await.body).expect("text");
    assert!(
        tinycdn_telemetry::scrape::value(
            &metrics,
            "tinycdn_upstream_healthy",
            &[("upstream", &bad)]
        ) == Some(0.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_signer_gets_nothing_through() {
    let w = world().await;
    let other = Trust::from_keys(vec![SecretKey::from_seed([6; 32]).public()]);
    let (addr, e) = edge(std::slice::from_ref(&w.origin), None, other).await;
    let r = get(&addr, "/v/site@stable/app.css", &[]).await;
    assert_eq!(r.status, 502);
    let r = get(&addr, &format!("/v/site@{}/app.css", w.version), &[]).await;
    assert_eq!(r.status, 502);
    assert_eq!(
        counter(&e),
        (0, 0, 0),
        "no chunk was fetched for an unverified manifest"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_edge_serves_pinned_content_from_disk_with_upstream_down() {
    let w = world().await;
    let cache = w.dir.path().join("edge-cache");
    let pinned = format!("/v/site@{}/clips/intro.mp4", w.version);
    {
        let (addr, _) = edge(std::slice::from_ref(&w.origin), Some(&cache), trust()).await;
        assert_eq!(get(&addr, &pinned, &[]).await.body, w.clip);
        assert_eq!(get(&addr, "/v/site@stable/app.css", &[]).await.status, 200);
    }
    w.origin_task.abort();
    // A new edge on the same cache directory, with the only upstream gone.
    let (addr, e) = edge(std::slice::from_ref(&w.origin), Some(&cache), trust()).await;
    let r = get(&addr, &pinned, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, w.clip);
    assert!(counter(&e).1 > 0, "served from the disk tier");
    // The tag is stale-if-error: still served from the verified copy on disk.
    assert_eq!(get(&addr, "/v/site@stable/app.css", &[]).await.status, 200);
    // A damaged cache file is dropped, not served: corrupt one and ask again on a fresh edge.
    for entry in walk(&cache.join("chunks")) {
        let mut b = std::fs::read(&entry).expect("read");
        b[0] ^= 1;
        std::fs::remove_file(&entry).expect("rm");
        std::fs::write(&entry, &b).expect("write");
    }
    let (addr, e) = edge(std::slice::from_ref(&w.origin), Some(&cache), trust()).await;
    let r = get(&addr, &pinned, &[]).await;
    assert_eq!(r.status, 502, "nothing verified to serve");
    assert!(
        e.cache()
            .counters
            .disk_corrupt
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
}

pub(crate) fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_can_fill_from_another_edge() {
    let w = world().await;
    let (regional, _) = edge(std::slice::from_ref(&w.origin), None, trust()).await;
    let (pop, _) = edge(&[format!("http://{regional}")], None, trust()).await;
    let r = get(
        &pop,
        "/v/site@stable/clips/intro.mp4",
        &[("Range", "bytes=200000-")],
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, w.clip[200_000..]);
}

/// The disk tier on a 1 MiB tmpfs (needs root to mount, as in CI): writes fail with ENOSPC, the
/// edge keeps serving verified bytes from memory and upstream, and leaves no torn cache file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_cache_disk_does_not_stop_serving() {
    let w = world().await;
    let mnt = w.dir.path().join("tiny");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    let Some(_tmpfs) = tinycdn_store::testing::Tmpfs::mount(&mnt, "1m") else {
        return;
    };
    let ups =
        Upstreams::new(std::slice::from_ref(&w.origin), Duration::from_secs(2)).expect("upstreams");
    // The tier believes it has 100 MiB; the filesystem has 1 MiB.
    let cache = ChunkCache::new(64 << 20, Some((&mnt, 100 << 20))).expect("cache");
    let e = Edge::new(ups, trust(), cache);
    let (addr, _) = listen(e.clone()).await;
    let addr = addr.trim_start_matches("http://").to_owned();
    let r = get(&addr, "/v/site@stable/clips/intro.mp4", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, w.clip);
    assert!(
        e.cache()
            .counters
            .disk_write_errors
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0,
        "the disk filled up"
    );
    for f in walk(&mnt.join("chunks")) {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        let id: tinycdn_core::ChunkId = name.parse().expect("a chunk name");
        assert_eq!(
            tinycdn_core::ChunkId::of(&std::fs::read(&f).expect("read")),
            id,
            "no torn cache file"
        );
    }
    assert!(walk(&mnt.join("tmp")).is_empty(), "no temporary files left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncating_oversized_and_stalling_mirrors_are_failed_over() {
    let w = world().await;
    for lie in [Lie::Truncated, Lie::Oversized, Lie::Stall] {
        let bad = hostile_mirror(lie).await;
        let good = slow_proxy(&w.origin, Duration::from_millis(20)).await;
        let (addr, e) = edge(&[bad, good], None, trust()).await;
        let r = get(&addr, "/v/site@stable/clips/intro.mp4", &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.body, w.clip, "every byte came from the honest mirror");
        let bad_mirror = &e.upstreams().expect("a fabric").mirrors()[0];
        assert!(!bad_mirror.is_healthy(), "the bad mirror is backed off");
        assert_eq!(
            bad_mirror.lies(),
            0,
            "its answers failed before verification: no wrong bytes were accepted"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deltas_pass_only_as_their_signed_index_lists_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    // A "library" rebuilt with scattered one-byte changes: every chunk differs, a delta is tiny.
    let mut lib: Vec<u8> = (0..600_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(src.join("lib.so"), &lib).expect("write");
    let store_dir = dir.path().join("store");
    let store = Store::init(&store_dir).expect("init");
    let key = SecretKey::from_seed(KEY);
    let opts = |created| PublishOptions {
        source: &src,
        volume: VolumeName::new("site").expect("valid"),
        tag: Some(TagName::new("stable").expect("valid")),
        key: &key,
        created,
        chunking: CHUNKS,
        deltas: Default::default(),
        overlay: None,
        freshness: None,
    };
    publish(&store, &opts(1), &NoProgress).expect("v1");
    for i in (0..lib.len()).step_by(4000) {
        lib[i] ^= 0x55;
    }
    std::fs::write(src.join("lib.so"), &lib).expect("write");
    let v2 = publish(&store, &opts(2), &NoProgress).expect("v2");
    assert_eq!(v2.deltas.kept, 1, "{:?}", v2.deltas);
    let index = store
        .read_delta_index(&v2.version)
        .expect("read")
        .expect("index");
    let e = index.index.entries[0];
    drop(store);
    let (origin, _) = listen(Origin::new(Store::open(&store_dir).expect("open"))).await;
    let (addr, edge) = edge(&[origin], None, trust()).await;
    let delta_url = format!("/d/{}/{}", e.base, e.target);
    // Unknown to the edge until it has seen a verified index listing it.
    assert_eq!(get(&addr, &delta_url, &[]).await.status, 404);
    let x = get(&addr, &format!("/x/{}", v2.version), &[]).await;
    assert_eq!(x.status, 200);
    assert_eq!(x.body, index.to_bytes());
    let d = get(&addr, &delta_url, &[]).await;
    assert_eq!(d.status, 200);
    assert_eq!(tinycdn_core::FileId::of(&d.body), e.delta);
    assert_eq!(
        tinycdn_delta::apply(
            &std::fs::read(store_dir.join(Store::object_key(&e.base, false))).expect("base"),
            &d.body
        )
        .expect("apply"),
        lib
    );

    // A second edge, the origin's delta now tampered with: refused, not cached, not served.
    let path = store_dir.join(Store::delta_key(&e.base, &e.target));
    let mut bad = std::fs::read(&path).expect("delta");
    let last = bad.len() - 1;
    bad[last] ^= 1;
    std::fs::remove_file(&path).expect("rm");
    std::fs::write(&path, &bad).expect("write");
    let (origin2, _) = listen(Origin::new(Store::open(&store_dir).expect("open"))).await;
    let (addr2, edge2) = self::edge(&[origin2], None, trust()).await;
    assert_eq!(
        get(&addr2, &format!("/x/{}", v2.version), &[]).await.status,
        200
    );
    assert_eq!(get(&addr2, &delta_url, &[]).await.status, 502);
    assert!(edge2.cache().memory_get(&e.delta.as_chunk()).is_none());
    assert!(edge.cache().memory_get(&e.delta.as_chunk()).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_root_stops_new_fetches_but_pinned_content_stays_served() {
    use tinycdn_core::root::{Root, SignedRoot};
    let w = world().await;
    let cache = w.dir.path().join("edge-cache");
    let pinned = format!("/v/site@{}/clips/intro.mp4", w.version);
    let key = SecretKey::from_seed(KEY);
    let root = |expires| {
        let mut r = SignedRoot {
            root: Root::single(&key.public(), expires)
                .normalize()
                .expect("valid"),
            signatures: tinycdn_core::sign::SignatureSet::default(),
        };
        r.sign(&key);
        Trust::from_root(r)
    };
    {
        let (addr, _) = edge(
            std::slice::from_ref(&w.origin),
            Some(&cache),
            root(i64::MAX),
        )
        .await;
        assert_eq!(get(&addr, &pinned, &[]).await.body, w.clip);
    }
    // The same cache, the root now expired (1 second after the epoch).
    let (addr, _) = edge(std::slice::from_ref(&w.origin), Some(&cache), root(1)).await;
    let r = get(&addr, &pinned, &[]).await;
    assert_eq!(
        (r.status, r.body == w.clip),
        (200, true),
        "verified before, still served"
    );
    let r = get(&addr, "/v/site@stable/app.css", &[]).await;
    assert_eq!(r.status, 503, "a tag is new metadata: refused");
    assert!(String::from_utf8_lossy(&r.body).contains("expired"));
}

/// Two versions of a small tree: (v1 dir, v2 dir, v2's `lib.so`).
fn two_trees(dir: &Path) -> (PathBuf, PathBuf, Vec<u8>) {
    let (v1, v2) = (dir.join("v1"), dir.join("v2"));
    let mut lib: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for (d, css) in [(&v1, "a { }\n"), (&v2, "b { }\n")] {
        std::fs::create_dir_all(d).expect("mkdir");
        std::fs::write(d.join("app.css"), css.repeat(300)).expect("write");
    }
    std::fs::write(v1.join("lib.so"), &lib).expect("write");
    lib[1000..1100].fill(7);
    std::fs::write(v2.join("lib.so"), &lib).expect("write");
    (v1, v2, lib)
}

/// Every file of an edge's disk cache is verified: chunks hash to their names, and every piece
/// of metadata is byte for byte the honest store's.
fn assert_cache_holds_only_honest_bytes(cache: &Path, honest: &Path, what: &str) {
    for path in walk(cache) {
        let rel = path.strip_prefix(cache).expect("inside");
        let rel = rel.to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).expect("read");
        if let Some(hex) = rel.strip_prefix("chunks/") {
            let name = hex.rsplit('/').next().expect("name");
            assert_eq!(
                blake3::hash(&bytes).to_hex().as_str(),
                name,
                "{what}: {rel}"
            );
        } else if let Some(meta) = rel.strip_prefix("meta/") {
            let store_key = match meta.split_once('/') {
                None if meta == "ts" => "timestamp".to_owned(),
                None if meta == "n" => "snapshot".to_owned(),
                None if meta == "root" => continue,
                Some(("t", rest)) => format!("tags/{rest}"),
                Some(("m", id)) => format!("manifests/{id}"),
                Some(("s", id)) => format!("signatures/{id}"),
                Some(("x", id)) => format!("delta-indexes/{id}"),
                _ => panic!("{what}: unexpected cache file {rel}"),
            };
            let honest_bytes = std::fs::read(honest.join(&store_key)).expect("honest copy");
            assert_eq!(
                bytes, honest_bytes,
                "{what}: {rel} is not the honest {store_key}"
            );
        }
    }
}

/// Under a trust root, every kind of hostile mirror ranked before an honest one — byte-level
/// liars and real origins serving old, expired, mixed or foreign-signed metadata — changes
/// nothing: each request is answered from the honest mirror, the liar is counted in `/metrics`
/// and backed off, and the disk cache holds only verified bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_mirrors_under_a_trust_root_change_nothing() {
    use tinycdn_server::testing::metadata_liars;
    let dir = tempfile::tempdir().expect("tempdir");
    let (v1, v2, lib) = two_trees(dir.path());
    let key = SecretKey::from_seed(KEY);
    let world = metadata_liars(dir.path(), &v1, &v2, &key, CHUNKS).await;
    let honest_ts = std::fs::read(world.honest_store.join("timestamp")).expect("ts");
    let good = slow_proxy(&world.honest, Duration::from_millis(20)).await;
    let mut bad = world.liars.clone();
    for lie in [
        Lie::WrongBytes,
        Lie::Truncated,
        Lie::Oversized,
        Lie::Stall,
        Lie::Drip,
    ] {
        bad.push((
            match lie {
                Lie::WrongBytes => "wrong bytes",
                Lie::Truncated => "truncated",
                Lie::Oversized => "oversized",
                Lie::Stall => "stalled",
                Lie::Drip => "dripping",
            },
            hostile_mirror(lie).await,
        ));
    }
    for (i, (what, url)) in bad.iter().enumerate() {
        let cache = dir.path().join(format!("cache{i}"));
        let (addr, e) = edge(
            &[url.clone(), good.clone()],
            Some(&cache),
            single_key_root(&key, 1),
        )
        .await;
        let r = get(&addr, "/v/site@stable/lib.so", &[]).await;
        assert_eq!((r.status, r.body == lib), (200, true), "{what}");
        let r = get(&addr, "/ts", &[]).await;
        assert_eq!((r.status, r.body == honest_ts), (200, true), "{what}");
        let liar = &e.upstreams().expect("a fabric").mirrors()[0];
        assert!(
            liar.lies() > 0 || !liar.is_healthy(),
            "{what}: the bad mirror was not caught"
        );
        let metrics = String::from_utf8(get(&addr, "/metrics", &[]).await.body).expect("text");
        let counted = metrics.lines().any(|l| {
            (l.starts_with("tinycdn_verification_failures_total")
                && l.contains(url.as_str())
                && !l.ends_with(" 0"))
                || (l.starts_with("tinycdn_upstream_healthy")
                    && l.contains(url.as_str())
                    && l.ends_with(" 0"))
        });
        assert!(counted, "{what}: not in /metrics:\n{metrics}");
        assert!(
            tinycdn_telemetry::scrape::value(
                &metrics,
                "tinycdn_trust_version",
                &[("role", "edge"), ("record", "timestamp")]
            ) == Some(2.0),
            "{what}: the honest timestamp is the one in use:\n{metrics}"
        );
        assert_cache_holds_only_honest_bytes(&cache, &world.honest_store, what);
    }
}

/// An edge remembers on disk the newest root, timestamp, snapshot and tags it accepted: after a
/// restart with only a stale (validly signed) mirror, it keeps serving what it had verified and
/// never the older state; handed an older trust root that no rotation it kept leads from, it
/// refuses to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_edge_never_goes_back() {
    use tinycdn_server::testing::metadata_liars;
    let dir = tempfile::tempdir().expect("tempdir");
    let (v1, v2, lib) = two_trees(dir.path());
    let key = SecretKey::from_seed(KEY);
    let world = metadata_liars(dir.path(), &v1, &v2, &key, CHUNKS).await;
    let stale = world
        .liars
        .iter()
        .find(|(what, _)| *what == "old but signed")
        .map(|(_, url)| url.clone())
        .expect("stale mirror");
    let honest_ts = std::fs::read(world.honest_store.join("timestamp")).expect("ts");
    let cache = dir.path().join("cache");
    let root2 = single_key_root(&key, 2);
    let root2 = root2.root().expect("a root");
    tinycdn_volume::trust::publish_root(&Store::open(&world.honest_store).expect("open"), root2)
        .expect("published");
    {
        let (addr, e) = edge(
            std::slice::from_ref(&world.honest),
            Some(&cache),
            single_key_root(&key, 2),
        )
        .await;
        e.start_root().expect("first root");
        assert_eq!(get(&addr, "/v/site@stable/lib.so", &[]).await.body, lib);
        // Published roots pass through, checked against their own signatures.
        let r = get(&addr, "/r/2", &[]).await;
        assert_eq!((r.status, r.body), (200, root2.to_bytes()));
        assert_eq!(get(&addr, "/r/3", &[]).await.status, 404);
        assert_eq!(get(&addr, "/r/02", &[]).await.status, 400);
    }
    let (addr, e) = edge(
        std::slice::from_ref(&stale),
        Some(&cache),
        single_key_root(&key, 2),
    )
    .await;
    e.start_root().expect("same root");
    let r = get(&addr, "/ts", &[]).await;
    assert_eq!(
        (r.status, r.body == honest_ts),
        (200, true),
        "the newest timestamp seen, not the mirror's older one"
    );
    let r = get(&addr, "/v/site@stable/lib.so", &[]).await;
    assert_eq!(
        (r.status, r.body == lib),
        (200, true),
        "version 2 from disk, not the mirror's version 1"
    );
    assert!(
        e.upstreams().expect("a fabric").mirrors()[0].lies() > 0,
        "the stale answers were refused"
    );
    // An older root from which no rotation the disk holds reaches version 2 is refused.
    std::fs::remove_file(cache.join("meta/r/2")).expect("the edge kept /r/2 it passed on");
    let ups = Upstreams::new(std::slice::from_ref(&stale), Duration::from_secs(2)).expect("ups");
    let old = Edge::new(
        ups,
        single_key_root(&key, 1),
        ChunkCache::new(1 << 20, Some((&cache, 1 << 30))).expect("cache"),
    );
    let err = old.start_root().expect_err("an older root");
    assert!(err.to_string().contains("version 1"), "{err}");
}

/// With only a frozen mirror (its timestamp expired), tags — new metadata — are refused with a
/// 503 that says why, while content pinned by version id, verified by its hash, is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_metadata_is_refused_clearly_but_pinned_content_is_served() {
    use tinycdn_server::testing::metadata_liars;
    let dir = tempfile::tempdir().expect("tempdir");
    let (v1, v2, lib) = two_trees(dir.path());
    let key = SecretKey::from_seed(KEY);
    let world = metadata_liars(dir.path(), &v1, &v2, &key, CHUNKS).await;
    let frozen = world
        .liars
        .iter()
        .find(|(what, _)| *what == "expired metadata")
        .map(|(_, url)| url.clone())
        .expect("frozen mirror");
    let store = Store::open(&world.honest_store).expect("open");
    let (_, version) = *store
        .versions(&tinycdn_core::names::VolumeName::new("site").expect("name"))
        .expect("versions")
        .last()
        .expect("v2");
    let (addr, _) = edge(&[frozen], None, single_key_root(&key, 1)).await;
    let r = get(&addr, "/v/site@stable/lib.so", &[]).await;
    assert_eq!(r.status, 503);
    let why = String::from_utf8_lossy(&r.body);
    assert!(
        why.contains("expired at") && why.contains("tinycdn timestamp"),
        "{why}"
    );
    assert_eq!(get(&addr, "/ts", &[]).await.status, 503);
    let r = get(&addr, &format!("/v/site@{version}/lib.so"), &[]).await;
    assert_eq!((r.status, r.body == lib), (200, true));
}

/// An edge follows root rotations its upstream publishes (`/r/N`) without a restart: once the
/// origin publishes version 2, which moves the targets role to another key, content signed only
/// by the old key is refused until the new key co-signs it; a restarted edge given the old root
/// file starts from the rotation its disk kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_follows_published_rotations() {
    use tinycdn_core::root::{Role, SignedRoot};
    use tinycdn_server::testing::metadata_liars;
    use tinycdn_volume::trust::publish_root;
    let dir = tempfile::tempdir().expect("tempdir");
    let (v1, v2, lib) = two_trees(dir.path());
    let key = SecretKey::from_seed(KEY);
    let world = metadata_liars(dir.path(), &v1, &v2, &key, CHUNKS).await;
    let origin_store = Store::open(&world.honest_store).expect("open");
    let trust1 = single_key_root(&key, 1);
    let root1 = trust1.root().expect("root").clone();
    publish_root(&origin_store, &root1).expect("v1 published");
    // Version 2: the targets role moves to key b; signed by the old and new root key (the same).
    let b = SecretKey::from_seed([77; 32]);
    let mut next = root1.root.clone();
    next.version = 2;
    next.keys.push(b.public());
    next.targets = Role {
        keys: vec![b.public().id()],
        threshold: 1,
    };
    let mut root2 = SignedRoot {
        root: next.normalize().expect("valid"),
        signatures: tinycdn_core::sign::SignatureSet::default(),
    };
    root2.sign(&key);
    root1.verify_successor(&root2).expect("a valid rotation");

    let cache = dir.path().join("cache");
    let root_version = |m: &str| {
        tinycdn_telemetry::scrape::value(m, "tinycdn_trust_version", &[("record", "root")])
    };
    let metrics = |addr: String| async move {
        String::from_utf8(get(&addr, "/metrics", &[]).await.body).expect("text")
    };
    {
        let (addr, e) = edge(
            std::slice::from_ref(&world.honest),
            Some(&cache),
            trust1.clone(),
        )
        .await;
        e.start_root().expect("root 1");
        assert_eq!(get(&addr, "/v/site@stable/lib.so", &[]).await.body, lib);
        let m = metrics(addr.clone()).await;
        assert!(root_version(&m) == Some(1.0), "{m}");
    }
    publish_root(&origin_store, &root2).expect("v2 published");
    let (addr, e) = edge(
        std::slice::from_ref(&world.honest),
        Some(&cache),
        trust1.clone(),
    )
    .await;
    e.start_root().expect("root 1 on disk");
    // The first metadata refresh follows the rotation: the old key's content is refused...
    assert_eq!(get(&addr, "/v/site@stable/lib.so", &[]).await.status, 502);
    let m = metrics(addr.clone()).await;
    assert!(root_version(&m) == Some(2.0), "{m}");
    // ...until the new targets key co-signs the version and its tag.
    let reference: tinycdn_volume::reference::Reference = "site@stable".parse().expect("ref");
    tinycdn_volume::reference::cosign(&origin_store, &reference, &b).expect("co-signed");
    let r = get(&addr, "/v/site@stable/lib.so", &[]).await;
    assert_eq!((r.status, r.body == lib), (200, true));
    // Restarted with the old root file and no upstream: the disk's rotation is in force.
    let (addr, e) = edge(&["http://127.0.0.1:9".to_owned()], Some(&cache), trust1).await;
    e.start_root().expect("followed from disk");
    let m = metrics(addr).await;
    assert!(root_version(&m) == Some(2.0), "{m}");
}

/// A hostile mirror's self-signed root at `/r/N` is never kept (it is not a successor of the root
/// in force), and a bad root step an older edge left on disk is removed at start instead of
/// stopping the edge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_mirrors_root_never_stops_an_edge_from_starting() {
    use tinycdn_server::testing::app::{Answer, App, Seen};
    let dir = tempfile::tempdir().expect("tempdir");
    let key = SecretKey::from_seed(KEY);
    let evil = SecretKey::from_seed([9; 32]);
    let bogus = single_key_root(&evil, 3).root().expect("a root").to_bytes();
    let b = bogus.clone();
    let mirror = App::start(move |r: &Seen| match r.target.as_str() {
        "/r/3" => Answer::ok(&[], b.clone()),
        _ => Answer::with(404, &[], "no"),
    })
    .await;
    let cache = dir.path().join("cache");
    {
        let (addr, e) = edge(
            std::slice::from_ref(&mirror.url),
            Some(&cache),
            single_key_root(&key, 2),
        )
        .await;
        e.start_root().expect("start");
        let r = get(&addr, "/r/3", &[]).await;
        assert_eq!(
            r.status, 404,
            "a root that does not succeed the one in force"
        );
        assert!(
            !cache.join("meta/r/3").exists(),
            "the hostile root was kept"
        );
    }
    // An older edge kept such a root: the next start removes it and goes on.
    std::fs::create_dir_all(cache.join("meta/r")).expect("mkdir");
    std::fs::write(cache.join("meta/r/3"), &bogus).expect("write");
    let (_, e) = edge(
        std::slice::from_ref(&mirror.url),
        Some(&cache),
        single_key_root(&key, 2),
    )
    .await;
    e.start_root().expect("a bad stored step is not fatal");
    assert!(!cache.join("meta/r/3").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_nobody_published_cost_one_upstream_request_while_the_answer_is_fresh() {
    use tinycdn_server::testing::app::{Answer, App, Seen};
    let upstream = App::start(|_: &Seen| Answer::with(404, &[], "no such thing\n")).await;
    let (addr, _e) = edge(std::slice::from_ref(&upstream.url), None, trust()).await;
    let unknown = tinycdn_core::VersionId::of(b"never published").to_hex();
    for _ in 0..20 {
        let r = get(&addr, &format!("/m/{unknown}"), &[]).await;
        assert_eq!(r.status, 404);
        let r = get(&addr, &format!("/x/{unknown}"), &[]).await;
        assert_eq!(r.status, 404);
    }
    assert_eq!(upstream.count(&format!("/m/{unknown}")), 1, "remembered");
    assert_eq!(upstream.count(&format!("/x/{unknown}")), 1, "remembered");
    // Another unknown id is asked for once in its turn.
    let other = tinycdn_core::VersionId::of(b"another").to_hex();
    assert_eq!(get(&addr, &format!("/m/{other}"), &[]).await.status, 404);
    assert_eq!(upstream.count(&format!("/m/{other}")), 1);
}
