//! The origin role over real sockets on 127.0.0.1, checked byte for byte against the files.

use std::path::PathBuf;
use std::time::Duration;

use tinycdn_core::chunking::ChunkParams;
use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::sign::SecretKey;
use tinycdn_server::testing::{get, request};
use tinycdn_server::{serve, Limits, Origin};
use tinycdn_store::Store;
use tinycdn_volume::publish::{publish, PublishOptions};
use tinycdn_volume::NoProgress;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Fixture {
    _dir: tempfile::TempDir,
    store_path: PathBuf,
    src: PathBuf,
    version: String,
    addr: String,
}

async fn start(limits: Limits) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("clips")).expect("mkdir");
    std::fs::copy(
        tinycdn_store::testing::sample_media().join("video/bigbuckbunny.mp4"),
        src.join("clips/intro.mp4"),
    )
    .expect("copy");
    std::fs::copy(
        tinycdn_store::testing::sample_media().join("images/rocket.jpg"),
        src.join("hero.jpg"),
    )
    .expect("copy");
    std::fs::write(src.join("app.css"), "body { margin: 0 }\n".repeat(200)).expect("write");
    let store_path = dir.path().join("store");
    let store = Store::init(&store_path).expect("init");
    let key = SecretKey::from_seed([9; 32]);
    let report = publish(
        &store,
        &PublishOptions {
            source: &src,
            volume: VolumeName::new("site").expect("valid"),
            tag: Some(TagName::new("stable").expect("valid")),
            key: &key,
            created: 1,
            chunking: ChunkParams::DEFAULT,
            deltas: Default::default(),
            overlay: None,
            freshness: None,
        },
        &NoProgress,
    )
    .expect("publish");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(serve(listener, Origin::new(store), limits, None));
    Fixture {
        _dir: dir,
        store_path,
        src,
        version: report.version.to_hex(),
        addr,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_ranges_and_conditionals_byte_for_byte() {
    let f = start(Limits::default()).await;
    let clip = std::fs::read(f.src.join("clips/intro.mp4")).expect("read");
    let url = "/v/site@stable/clips/intro.mp4";

    let r = get(&f.addr, url, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, clip);
    assert_eq!(r.header("content-type"), "video/mp4");
    assert_eq!(r.header("accept-ranges"), "bytes");
    assert_eq!(r.header("x-tinycdn-version"), f.version);
    assert!(
        r.header("cache-control").contains("stale-if-error"),
        "a tag URL is short-lived"
    );
    let etag = r.header("etag").to_owned();

    let pinned = get(
        &f.addr,
        &format!("/v/site@{}/clips/intro.mp4", f.version),
        &[],
    )
    .await;
    assert_eq!(
        pinned.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(pinned.body, clip);

    let head = request(&f.addr, "HEAD", url, &[]).await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(head.header("content-length"), clip.len().to_string());

    let n = clip.len();
    for (range, start, end) in [
        ("bytes=0-0", 0, 0),
        ("bytes=1000-1999", 1000, 1999),
        ("bytes=-500", n - 500, n - 1),
        (&format!("bytes={}-", n - 10) as &str, n - 10, n - 1),
        ("bytes=300000-99999999", 300_000, n - 1),
    ] {
        let r = get(&f.addr, url, &[("Range", range)]).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.body, clip[start..=end], "{range}");
        assert_eq!(
            r.header("content-range"),
            format!("bytes {start}-{end}/{n}")
        );
    }

    // Several ranges: multipart/byteranges, each part byte for byte.
    let r = get(&f.addr, url, &[("Range", "bytes=0-9, 5000-5099, -16")]).await;
    assert_eq!(r.status, 206);
    let ct = r.header("content-type");
    let boundary = ct.split("boundary=").nth(1).expect("boundary");
    assert!(ct.starts_with("multipart/byteranges"));
    assert_eq!(r.header("content-length"), r.body.len().to_string());
    let delim = format!("--{boundary}");
    let text = r.body.clone();
    let mut parts = 0;
    for (start, end) in [(0, 9), (5000, 5099), (n - 16, n - 1)] {
        let needle = format!("Content-Range: bytes {start}-{end}/{n}\r\n\r\n");
        let at = text
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .expect("part header");
        let data = &text[at + needle.len()..at + needle.len() + (end - start + 1)];
        assert_eq!(data, &clip[start..=end]);
        parts += 1;
    }
    assert_eq!(parts, 3);
    assert!(text.ends_with(format!("{delim}--\r\n").as_bytes()));

    let r = get(&f.addr, url, &[("Range", &format!("bytes={n}-"))]).await;
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), format!("bytes */{n}"));
    // A Range we do not understand is ignored.
    assert_eq!(
        get(&f.addr, url, &[("Range", "bytes=9-1")]).await.status,
        200
    );
    // If-Range with another validator: the whole file.
    let r = get(
        &f.addr,
        url,
        &[("Range", "bytes=0-9"), ("If-Range", "\"other\"")],
    )
    .await;
    assert_eq!((r.status, r.body.len()), (200, n));
    let r = get(&f.addr, url, &[("Range", "bytes=0-9"), ("If-Range", &etag)]).await;
    assert_eq!((r.status, r.body.len()), (206, 10));

    assert_eq!(
        get(&f.addr, url, &[("If-None-Match", &etag)]).await.status,
        304
    );
    let list = format!("\"x\", {etag}");
    assert_eq!(
        get(&f.addr, url, &[("If-None-Match", &list)]).await.status,
        304
    );
    assert_eq!(
        get(&f.addr, url, &[("If-None-Match", "*")]).await.status,
        304
    );
    assert_eq!(
        get(&f.addr, url, &[("If-Match", "\"nope\"")]).await.status,
        412
    );
    assert_eq!(get(&f.addr, url, &[("If-Match", &etag)]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_objects_manifests_and_tags() {
    let f = start(Limits::default()).await;
    let m = get(&f.addr, &format!("/m/{}", f.version), &[]).await;
    assert_eq!(m.status, 200);
    let manifest = tinycdn_core::manifest::Manifest::from_bytes(&m.body).expect("decodes");
    assert_eq!(manifest.id().to_hex(), f.version);
    let clip = manifest
        .find("clips/intro.mp4")
        .and_then(|e| e.file())
        .expect("clip");
    let c = clip.chunks[1];
    let offset = u64::from(clip.chunks[0].len);
    let r = get(
        &f.addr,
        &format!("/o/{}", clip.hash),
        &[(
            "Range",
            &format!("bytes={offset}-{}", offset + u64::from(c.len) - 1),
        )],
    )
    .await;
    assert_eq!(r.status, 206);
    assert_eq!(
        tinycdn_core::ChunkId::of(&r.body),
        c.id,
        "a chunk fill is one Range request"
    );
    let t = get(&f.addr, "/t/site/stable", &[]).await;
    let tag = tinycdn_core::tag::SignedTag::from_bytes(&t.body).expect("tag");
    assert_eq!(tag.record.version.to_hex(), f.version);
    assert!(get(&f.addr, &format!("/s/{}", f.version), &[]).await.status == 200);
    assert_eq!(
        get(&f.addr, &format!("/o/{}", "00".repeat(32)), &[])
            .await
            .status,
        404
    );
    // Trust metadata: absent until signed, then served as stored; roots by version, immutable.
    assert_eq!(get(&f.addr, "/ts", &[]).await.status, 404);
    assert_eq!(get(&f.addr, "/r/1", &[]).await.status, 404);
    let store = Store::open(&f.store_path).expect("open");
    let key = SecretKey::from_seed([9; 32]);
    let freshness = tinycdn_volume::snapshot::Freshness {
        snapshot_expires: i64::MAX,
        timestamp_expires: i64::MAX,
    };
    tinycdn_volume::snapshot::refresh(&store, &key, &key, freshness).expect("signed");
    let mut root = tinycdn_core::root::SignedRoot {
        root: tinycdn_core::root::Root::single(&key.public(), i64::MAX)
            .normalize()
            .expect("valid"),
        signatures: tinycdn_core::sign::SignatureSet::default(),
    };
    root.sign(&key);
    tinycdn_volume::trust::publish_root(&store, &root).expect("published");
    let ts = get(&f.addr, "/ts", &[]).await;
    let ts = tinycdn_core::timestamp::SignedTimestamp::from_bytes(&ts.body).expect("timestamp");
    let n = get(&f.addr, "/n", &[]).await;
    ts.timestamp
        .check_snapshot(&n.body)
        .expect("the timestamp names the snapshot served");
    let r = get(&f.addr, "/r/1", &[]).await;
    assert_eq!((r.status, &r.body), (200, &root.to_bytes()));
    assert!(r.header("cache-control").contains("immutable"));
    assert_eq!(get(&f.addr, "/r/2", &[]).await.status, 404);
    assert_eq!(get(&f.addr, "/r/01", &[]).await.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused() {
    let f = start(Limits::default()).await;
    for target in [
        "/v/site@stable/../../etc/passwd",
        "/v/site@stable/%2e%2e/%2e%2e/etc/passwd",
        "/v/site@stable/%c0%ae%c0%ae/x",
        "/v/site@stable/a%5c..%5cb",
        "/v/s%D0%B5te@stable/hero.jpg",
    ] {
        assert_eq!(get(&f.addr, target, &[]).await.status, 400, "{target}");
    }
    assert_eq!(
        get(&f.addr, "/v/site@stable/missing.jpg", &[]).await.status,
        404
    );
    assert_eq!(
        get(&f.addr, "/v/site@nosuchtag/hero.jpg", &[]).await.status,
        404
    );
    assert_eq!(
        request(&f.addr, "POST", "/v/site@stable/hero.jpg", &[])
            .await
            .status,
        405
    );
    let big = "a".repeat(20_000);
    assert_eq!(
        get(&f.addr, "/healthz", &[("X-Big", &big)]).await.status,
        431,
        "oversized header"
    );
    let long = format!("/v/site@stable/{}", "a/".repeat(5000));
    assert!(matches!(
        get(&f.addr, &long, &[]).await.status,
        400 | 414 | 431
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_object_is_never_served() {
    let f = start(Limits::default()).await;
    let store = Store::open(&f.store_path).expect("open");
    let key = store
        .object_keys()
        .expect("list")
        .into_iter()
        .find(|k| {
            std::fs::metadata(f.store_path.join(k))
                .map(|m| m.len() > 100_000)
                .unwrap_or(false)
        })
        .expect("a large object");
    let path = f.store_path.join(&key);
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[5] ^= 1;
    std::fs::remove_file(&path).expect("rm");
    std::fs::write(&path, &bytes).expect("corrupt");
    let id = key.rsplit('/').next().expect("name");
    let r = get(&f.addr, &format!("/o/{id}"), &[]).await;
    assert_eq!(r.status, 500);
    assert!(
        r.body.starts_with(b"the stored object is corrupt"),
        "an error, not the bytes"
    );
    let metrics = String::from_utf8(get(&f.addr, "/metrics", &[]).await.body).expect("text");
    assert!(
        tinycdn_telemetry::scrape::value(
            &metrics,
            "tinycdn_verification_failures_total",
            &[("role", "origin")]
        ) == Some(1.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_excess_clients_are_cut_off() {
    let f = start(Limits {
        max_connections: 1,
        header_timeout: Duration::from_millis(500),
        ..Limits::default()
    })
    .await;
    // Slowloris: half a request head, then nothing; the server closes the connection.
    let mut slow = TcpStream::connect(&f.addr).await.expect("connect");
    slow.write_all(b"GET /v/site@stable/hero.jpg HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("send");
    // While it holds the only slot, another connection is closed at once.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut other = TcpStream::connect(&f.addr).await.expect("connect");
    let _ = other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await;
    let mut buf = Vec::new();
    let got = tokio::time::timeout(Duration::from_secs(5), other.read_to_end(&mut buf)).await;
    assert!(
        matches!(got, Ok(Ok(0)) | Ok(Err(_))),
        "the excess connection gets no answer"
    );
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "the slow client was cut off within the header timeout"
    );
    // The slot is free again.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get(&f.addr, "/healthz", &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressible_files_are_sent_compressed_when_accepted() {
    let f = start(Limits::default()).await;
    let css = std::fs::read(f.src.join("app.css")).expect("read");
    let url = "/v/site@stable/app.css";
    let r = get(&f.addr, url, &[("Accept-Encoding", "gzip;q=0.5, zstd")]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), "zstd");
    assert_eq!(r.header("vary"), "accept-encoding");
    assert!(r.body.len() < css.len() / 4);
    assert_eq!(
        zstd::bulk::decompress(&r.body, css.len()).expect("zstd"),
        css
    );
    let etag = r.header("etag").to_owned();
    assert!(
        etag.ends_with(".zstd\""),
        "each variant has its own validator: {etag}"
    );
    assert_eq!(
        get(
            &f.addr,
            url,
            &[("Accept-Encoding", "zstd"), ("If-None-Match", &etag)]
        )
        .await
        .status,
        304
    );
    let plain = get(&f.addr, url, &[]).await;
    assert_eq!(
        (plain.header("content-encoding"), plain.body.as_slice()),
        ("", css.as_slice())
    );
    assert_eq!(plain.header("vary"), "accept-encoding");
    let ranged = get(
        &f.addr,
        url,
        &[("Accept-Encoding", "zstd"), ("Range", "bytes=0-9")],
    )
    .await;
    assert_eq!(
        (ranged.status, ranged.header("content-encoding")),
        (206, "")
    );
    assert_eq!(ranged.body, css[..10]);
    let jpeg = get(
        &f.addr,
        "/v/site@stable/hero.jpg",
        &[("Accept-Encoding", "zstd, br, gzip")],
    )
    .await;
    assert_eq!(
        (jpeg.header("content-encoding"), jpeg.header("vary")),
        ("", ""),
        "media is never recompressed"
    );
}
