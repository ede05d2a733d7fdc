//! Image variants through a real edge: of volume files (made at the edge, or published with the
//! volume), and of a scripted application's images; the guard, the caps and the workers' bounds.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::sign::SecretKey;
use tinycdn_edge::images::{ImageConfig, Images};
use tinycdn_edge::{ChunkCache, Edge, Fabric, Proxy, ProxyConfig, Upstreams};
use tinycdn_image::policy::{signature, Policy};
use tinycdn_image::probe::probe;
use tinycdn_server::testing::app::{Answer, App, Seen};
use tinycdn_server::testing::{get, start_origin};
use tinycdn_server::{serve, Limits};
use tinycdn_store::Store;
use tinycdn_volume::publish::{publish, PublishOptions};
use tinycdn_volume::trust::Trust;
use tinycdn_volume::NoProgress;
use tokio::net::TcpListener;

const KEY: [u8; 32] = [9; 32];

fn media(name: &str) -> Vec<u8> {
    std::fs::read(
        tinycdn_store::testing::sample_media()
            .join("images")
            .join(name),
    )
    .expect("media")
}

/// A PNG header claiming 100000 x 100000 pixels.
fn png_bomb() -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    v.extend_from_slice(&100_000u32.to_be_bytes());
    v.extend_from_slice(&100_000u32.to_be_bytes());
    v.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(&[0, 0, 0, 0]);
    v.extend_from_slice(b"IDAT");
    v
}

struct World {
    _dir: tempfile::TempDir,
    origin: String,
    version: String,
}

/// A volume `site@stable` with real photographs, a bomb and a truncated JPEG.
async fn world(overlay: Option<&std::path::Path>) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("img")).expect("mkdir");
    for n in ["rocket.jpg", "hubble_deep_field.jpg", "horse.png"] {
        std::fs::write(src.join("img").join(n), media(n)).expect("write");
    }
    std::fs::write(src.join("img/bomb.png"), png_bomb()).expect("write");
    let jpeg = media("hubble_deep_field.jpg");
    std::fs::write(src.join("img/cut.jpg"), &jpeg[..jpeg.len() / 2]).expect("write");
    let store = Store::init(&dir.path().join("store")).expect("init");
    let r = publish(
        &store,
        &PublishOptions {
            source: &src,
            volume: VolumeName::new("site").expect("valid"),
            tag: Some(TagName::new("stable").expect("valid")),
            key: &SecretKey::from_seed(KEY),
            created: 1,
            chunking: tinycdn_core::chunking::ChunkParams::DEFAULT,
            deltas: Default::default(),
            overlay,
            freshness: None,
        },
        &NoProgress,
    )
    .expect("publish");
    drop(store);
    let origin = start_origin(&dir.path().join("store")).await;
    World {
        _dir: dir,
        origin,
        version: r.version.to_hex(),
    }
}

async fn edge_with(
    upstream: Option<&str>,
    app: Option<&App>,
    config: ImageConfig,
) -> (String, Arc<Edge>, Arc<Images>) {
    let cache = Arc::new(ChunkCache::new(64 << 20, None).expect("cache"));
    let images = Arc::new(Images::new(config, cache.clone()));
    let fabric = upstream.map(|u| {
        let ups = Upstreams::new(&[u.to_owned()], Duration::from_secs(2)).expect("upstreams");
        let mut f = Fabric::new(
            ups,
            Trust::from_keys(vec![SecretKey::from_seed(KEY).public()]),
            cache.clone(),
        );
        f.set_images(images.clone());
        f
    });
    let proxy = app.map(|a| {
        let mut p = Proxy::new(
            ProxyConfig {
                origin: a.url.clone(),
                ..ProxyConfig::default()
            },
            cache.clone(),
        )
        .expect("proxy");
        p.set_images(images.clone());
        p
    });
    let edge = Edge::with_images(cache, fabric, proxy, Vec::new(), Some(images.clone()));
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    tokio::spawn(serve(l, edge.clone(), Limits::default(), None));
    (addr, edge, images)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volume_images_are_resized_negotiated_and_cached_per_variant() {
    let w = world(None).await;
    let (addr, _, images) = edge_with(Some(&w.origin), None, ImageConfig::default()).await;
    let url = "/v/site@stable/img/hubble_deep_field.jpg";
    let r = get(&addr, &format!("{url}?w=384&fmt=webp"), &[]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), "image/webp");
    let info = probe(&r.body).expect("a WebP");
    assert_eq!((info.width, info.height), (384, 335));
    let etag = r.header("etag").to_owned();
    assert_eq!(
        etag,
        format!("\"{}\"", blake3::hash(&r.body).to_hex()),
        "a strong tag of its own bytes"
    );
    assert!(
        !r.header("cache-control").contains("immutable"),
        "a tag moves"
    );
    assert_eq!(r.header("vary"), "", "a fixed format does not vary");
    // The same variant again, and spelt differently (dpr folds into the box): one transform.
    let again = get(&addr, &format!("{url}?fmt=webp&w=128&dpr=3"), &[]).await;
    assert_eq!((again.status, again.header("etag")), (200, etag.as_str()));
    assert_eq!(images.counters.made.load(Relaxed), 1);
    assert_eq!(images.counters.hits.load(Relaxed), 1);
    // A conditional request for it gets a 304.
    let cond = get(
        &addr,
        &format!("{url}?w=384&fmt=webp"),
        &[("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(cond.status, 304);
    // fmt=auto: the best format Accept names, Vary: Accept, one cache entry per format class.
    let chrome = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8";
    let avif = get(
        &addr,
        &format!("{url}?w=384&fmt=auto"),
        &[("Accept", chrome)],
    )
    .await;
    assert_eq!(
        (avif.header("content-type"), avif.header("vary")),
        ("image/avif", "Accept")
    );
    let old = get(
        &addr,
        &format!("{url}?w=384&fmt=auto"),
        &[("Accept", "*/*")],
    )
    .await;
    assert_eq!(old.header("content-type"), "image/jpeg");
    let webp = get(
        &addr,
        &format!("{url}?w=384&fmt=auto"),
        &[("Accept", "image/webp,*/*")],
    )
    .await;
    assert_eq!(
        webp.header("etag"),
        etag,
        "the WebP class is the WebP variant made above"
    );
    // A pinned source gives immutable variants; the original is still there without keys.
    let pinned = get(
        &addr,
        &format!("/v/site@{}/img/rocket.jpg?w=128", w.version),
        &[],
    )
    .await;
    assert!(pinned.header("cache-control").contains("immutable"));
    assert_eq!(probe(&pinned.body).expect("jpeg").width, 128);
    assert_eq!(
        get(&addr, url, &[]).await.body,
        media("hubble_deep_field.jpg")
    );
    // A range of a variant.
    let part = get(
        &addr,
        &format!("{url}?w=384&fmt=webp"),
        &[("Range", "bytes=0-3")],
    )
    .await;
    assert_eq!((part.status, &part.body[..]), (206, &b"RIFF"[..]));
    let metrics = String::from_utf8(get(&addr, "/metrics", &[]).await.body).expect("utf-8");
    assert!(
        tinycdn_telemetry::scrape::value(
            &metrics,
            "tinycdn_image_variants_total",
            &[("role", "edge"), ("result", "made")]
        ) == Some(4.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_bombs_and_broken_sources_get_clear_errors_and_the_original_stays() {
    let w = world(None).await;
    let (addr, _, images) = edge_with(Some(&w.origin), None, ImageConfig::default()).await;
    let off_list = get(&addr, "/v/site@stable/img/rocket.jpg?w=333", &[]).await;
    assert_eq!(off_list.status, 403);
    assert!(String::from_utf8_lossy(&off_list.body).contains("w=333 is not an allowed size"));
    assert_eq!(
        get(&addr, "/v/site@stable/img/rocket.jpg?q=33&w=64", &[])
            .await
            .status,
        403
    );
    assert_eq!(
        get(&addr, "/v/site@stable/img/rocket.jpg?w=0", &[])
            .await
            .status,
        400
    );
    let bomb = get(&addr, "/v/site@stable/img/bomb.png?w=64", &[]).await;
    assert_eq!(bomb.status, 422);
    assert!(
        String::from_utf8_lossy(&bomb.body).contains("10000000000 pixels"),
        "{}",
        String::from_utf8_lossy(&bomb.body)
    );
    assert_eq!(
        get(&addr, "/v/site@stable/img/bomb.png", &[]).await.body,
        png_bomb()
    );
    let cut = get(&addr, "/v/site@stable/img/cut.jpg?w=64", &[]).await;
    assert_eq!(cut.status, 422);
    assert!(String::from_utf8_lossy(&cut.body).contains("truncated"));
    assert_eq!(
        get(&addr, "/v/site@stable/img/cut.jpg", &[]).await.status,
        200
    );
    assert_eq!(images.counters.failed_4xx.load(Relaxed), 2);
    // A source above the byte cap is refused before it is fetched.
    let small = ImageConfig {
        limits: tinycdn_image::Limits {
            max_source_bytes: 1000,
            ..tinycdn_image::Limits::default()
        },
        ..ImageConfig::default()
    };
    let (capped, _, _) = edge_with(Some(&w.origin), None, small).await;
    let big = get(&capped, "/v/site@stable/img/rocket.jpg?w=64", &[]).await;
    assert_eq!(big.status, 422);
    assert!(String::from_utf8_lossy(&big.body).contains("above this edge's cap of 1000"));

    // Signed URLs: keys for rotation, the signature over host, path and query.
    let config = ImageConfig {
        policy: Policy {
            keys: vec![b"new".to_vec(), b"old".to_vec()],
            allow: None,
            legacy_signatures: false,
        },
        ..ImageConfig::default()
    };
    let (addr, _, _) = edge_with(Some(&w.origin), None, config).await;
    let path = "/v/site@stable/img/rocket.jpg";
    assert_eq!(get(&addr, &format!("{path}?w=333"), &[]).await.status, 403);
    let sig = signature(b"old", "test", path, "w=333");
    assert_eq!(
        get(&addr, &format!("{path}?w=333&sig={sig}"), &[])
            .await
            .status,
        200
    );
    assert_eq!(
        get(&addr, &format!("{path}?w=334&sig={sig}"), &[])
            .await
            .status,
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_make_a_variant_once_and_a_full_queue_says_come_back() {
    let w = world(None).await;
    let (addr, _, images) = edge_with(Some(&w.origin), None, ImageConfig::default()).await;
    let url = "/v/site@stable/img/hubble_deep_field.jpg?w=640&fmt=webp";
    let all = futures_join(8, |_| {
        let (addr, url) = (addr.clone(), url.to_owned());
        async move { get(&addr, &url, &[]).await }
    })
    .await;
    let tags: std::collections::HashSet<String> =
        all.iter().map(|r| r.header("etag").to_owned()).collect();
    assert!(all.iter().all(|r| r.status == 200));
    assert_eq!(tags.len(), 1);
    assert_eq!(images.counters.made.load(Relaxed), 1, "made once");

    // One worker, no queue: of several distinct variants at once, some are told to come back.
    let config = ImageConfig {
        workers: 1,
        queue: 0,
        ..ImageConfig::default()
    };
    let (addr, _, _) = edge_with(Some(&w.origin), None, config).await;
    let widths = [96u32, 128, 256, 320, 384, 480, 640, 750];
    let all = futures_join(widths.len(), |i| {
        let addr = addr.clone();
        let url = format!(
            "/v/site@stable/img/hubble_deep_field.jpg?w={}&fmt=webp",
            widths[i]
        );
        async move { get(&addr, &url, &[]).await }
    })
    .await;
    let busy: Vec<_> = all.iter().filter(|r| r.status == 503).collect();
    assert!(
        !busy.is_empty(),
        "{:?}",
        all.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(busy.iter().all(|r| r.header("retry-after") == "1"));
    assert!(all.iter().all(|r| r.status == 200 || r.status == 503));
    // Cached content is still served while they run.
    assert_eq!(
        get(&addr, "/v/site@stable/img/rocket.jpg", &[])
            .await
            .status,
        200
    );
}

async fn futures_join<F, Fut, T>(n: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(f(i))).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_time_variants_are_served_as_verified_files_without_transforming() {
    let made = tempfile::tempdir().expect("tempdir");
    let dir = made.path().join(tinycdn_image::VARIANTS_DIR);
    std::fs::create_dir(&dir).expect("mkdir");
    let src = media("rocket.jpg");
    let n = tinycdn_image::params::split("w=256&fmt=webp")
        .expect("valid")
        .expect("keys")
        .params
        .normalised(tinycdn_image::Format::Webp);
    let info = tinycdn_image::inspect(&src, &tinycdn_image::Limits::default()).expect("inspect");
    let out = tinycdn_image::transform(&src, &info, &n, &tinycdn_image::Limits::default(), None)
        .expect("transform");
    let name = tinycdn_image::variant_name(tinycdn_core::FileId::of(&src).as_bytes(), &n);
    let rel = tinycdn_image::published_path(&name, tinycdn_image::Format::Webp);
    std::fs::write(made.path().join(&rel), &out.bytes).expect("write");
    let w = world(Some(made.path())).await;
    let (addr, _, images) = edge_with(Some(&w.origin), None, ImageConfig::default()).await;
    let r = get(&addr, "/v/site@stable/img/rocket.jpg?w=256&fmt=webp", &[]).await;
    assert_eq!((r.status, r.body.clone()), (200, out.bytes.clone()));
    assert_eq!(images.counters.published.load(Relaxed), 1);
    assert_eq!(images.counters.made.load(Relaxed), 0, "nothing transformed");
    // The same file is in the volume, listed by the signed manifest.
    assert_eq!(
        get(&addr, &format!("/v/site@stable/{rel}"), &[]).await.body,
        out.bytes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_images_follow_its_freshness_and_other_queries_stay_the_apps() {
    let photo = Arc::new(std::sync::Mutex::new(media("rocket.jpg")));
    let served = photo.clone();
    let app = App::start(move |r: &Seen| {
        if r.target.starts_with("/img/") {
            let body = served.lock().map(|b| b.clone()).unwrap_or_default();
            Answer::ok(
                &[
                    ("Content-Type", "image/jpeg"),
                    ("Cache-Control", "max-age=4"),
                ],
                body,
            )
        } else if r.target.starts_with("/page.jpg") {
            Answer::ok(
                &[
                    ("Content-Type", "text/html"),
                    ("Cache-Control", "max-age=60"),
                ],
                "<p>not an image</p>",
            )
        } else if r.target.starts_with("/missing.jpg") {
            Answer::with(404, &[("Cache-Control", "max-age=60")], "no such image")
        } else if r.target.starts_with("/private.jpg") {
            Answer::ok(
                &[
                    ("Content-Type", "image/jpeg"),
                    ("Cache-Control", "no-store"),
                ],
                media("rocket.jpg"),
            )
        } else {
            Answer::ok(
                &[("Cache-Control", "max-age=60")],
                format!("app {}", r.target),
            )
        }
    })
    .await;
    let (addr, _, images) = edge_with(None, Some(&app), ImageConfig::default()).await;
    let r = get(&addr, "/img/a.jpg?v=2&w=128&fmt=png", &[]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), "image/png");
    assert_eq!(probe(&r.body).expect("png").width, 128);
    assert_eq!(
        r.header("cache-control"),
        "max-age=4",
        "the source's freshness"
    );
    // The app saw the source URL without the image keys, once.
    assert_eq!(app.count("/img/a.jpg?v=2"), 1);
    let again = get(&addr, "/img/a.jpg?v=2&w=128&fmt=png", &[]).await;
    assert_eq!(again.header("etag"), r.header("etag"));
    assert_eq!(app.count("/img/a.jpg?v=2"), 1);
    assert_eq!(images.counters.made.load(Relaxed), 1);
    // The source changes: once it is stale, its new bytes make a new variant.
    *photo.lock().expect("lock") = media("hubble_deep_field.jpg");
    // (Four seconds of freshness leave room for a slow first transform on a loaded machine.)
    tokio::time::sleep(Duration::from_millis(4100)).await;
    let changed = get(&addr, "/img/a.jpg?v=2&w=128&fmt=png", &[]).await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), r.header("etag"));
    assert_eq!(probe(&changed.body).expect("png").height, 112);
    // A source that may not be stored gives a variant that is not kept.
    let private = get(&addr, "/private.jpg?w=64", &[]).await;
    assert_eq!(
        (private.status, private.header("cache-control")),
        (200, "no-store")
    );
    // Queries on other paths are the app's, image keys included.
    let search = get(&addr, "/search?q=shoes&w=3", &[]).await;
    assert_eq!(search.body, b"app /search?q=shoes&w=3");
    assert_eq!(get(&addr, "/img/a.jpg?w=333", &[]).await.status, 403);
    // The source's own failure reaches the client; a source that is not an image is a 415.
    let missing = get(&addr, "/missing.jpg?w=64", &[]).await;
    assert_eq!(
        (missing.status, &missing.body[..]),
        (404, &b"no such image"[..])
    );
    let page = get(&addr, "/page.jpg?w=64", &[]).await;
    assert_eq!(page.status, 415);
    assert!(String::from_utf8_lossy(&page.body).contains("text/html"));
}
