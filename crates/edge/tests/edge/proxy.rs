//! The edge as an RFC 9111 shared cache in front of a scripted application (a real HTTP server on
//! 127.0.0.1 whose answers each test writes), one test per behaviour the issue names.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tinycdn_edge::{ChunkCache, Edge, Proxy, ProxyConfig};
use tinycdn_server::testing::app::{raw_exchange, Answer, App, Seen};
use tinycdn_server::testing::{get, request};
use tinycdn_server::{serve, Limits};
use tokio::net::TcpListener;

pub(crate) struct Front {
    pub(crate) addr: String,
    pub(crate) edge: Arc<Edge>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Front {
    pub(crate) fn proxy(&self) -> std::sync::Arc<Proxy> {
        self.edge.proxy().expect("a proxy")
    }
}

pub(crate) async fn front_with(
    app: &App,
    dir: Option<&Path>,
    limits: Limits,
    tweak: impl FnOnce(&mut ProxyConfig),
) -> Front {
    let cache = Arc::new(ChunkCache::new(64 << 20, dir.map(|d| (d, 1 << 30))).expect("cache"));
    let mut config = ProxyConfig {
        origin: app.url.clone(),
        origin_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(2),
        purge_token: Some("sekrit-token".into()),
        ..ProxyConfig::default()
    };
    tweak(&mut config);
    let proxy = Proxy::new(config, cache.clone()).expect("proxy");
    let edge = Edge::with_roles(cache, None, Some(proxy), Vec::new());
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let task = tokio::spawn(serve(l, edge.clone(), limits, None));
    Front { addr, edge, task }
}

async fn front(app: &App) -> Front {
    front_with(app, None, Limits::default(), |_| {}).await
}

pub(crate) fn cache_status(r: &tinycdn_server::testing::Reply) -> String {
    r.header("cache-status").to_owned()
}

/// A body of `n` pseudo-random bytes.
pub(crate) fn bytes(n: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_answer_from_the_cache_with_age_via_and_cache_status() {
    let body = bytes(10_000, 1);
    let b = body.clone();
    let app = App::start(move |r: &Seen| match r.target.as_str() {
        "/hero.jpg" | "/hero.jpg?cold" => Answer::ok(
            &[
                ("Cache-Control", "max-age=600"),
                ("ETag", "\"v1\""),
                ("Content-Type", "image/jpeg"),
                ("Connection", "X-Hop"),
                ("X-Hop", "secret"),
                ("Keep-Alive", "timeout=5"),
            ],
            b.clone(),
        ),
        _ => Answer::with(404, &[("Cache-Control", "max-age=60")], "no"),
    })
    .await;
    let f = front(&app).await;
    let miss = get(&f.addr, "/hero.jpg", &[]).await;
    assert_eq!((miss.status, &miss.body), (200, &body));
    assert_eq!(
        cache_status(&miss),
        "tinycdn; fwd=uri-miss; fwd-status=200; stored"
    );
    // Hop-by-hop fields are not forwarded; Via names the edge.
    assert!(miss.header("x-hop").is_empty() && miss.header("keep-alive").is_empty());
    assert!(miss.header("via").starts_with("1.1 tinycdn-"));
    // The origin saw Via, Forwarded and X-Forwarded-For, and the client's Host.
    let seen = app.last("/hero.jpg").expect("seen");
    assert_eq!(seen.header("host"), "test");
    assert!(seen.header("via").starts_with("1.1 tinycdn-"));
    assert_eq!(
        seen.header("forwarded"),
        "for=127.0.0.1;proto=http;host=test"
    );
    assert_eq!(seen.header("x-forwarded-for"), "127.0.0.1");
    assert!(seen.header("connection").is_empty() || seen.header("connection") == "keep-alive");

    let hit = get(&f.addr, "/hero.jpg", &[]).await;
    assert_eq!(hit.body, body);
    assert!(
        cache_status(&hit).starts_with("tinycdn; hit; ttl="),
        "{}",
        cache_status(&hit)
    );
    assert!(hit.header("age").parse::<u64>().is_ok());
    assert_eq!(hit.header("etag"), "\"v1\"");
    assert_eq!(app.count("/hero.jpg"), 1);

    // HEAD from the stored GET; client conditionals and ranges answered from the cache.
    let head = request(&f.addr, "HEAD", "/hero.jpg", &[]).await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(head.header("content-length"), "10000");
    let nm = get(&f.addr, "/hero.jpg", &[("If-None-Match", "\"v0\", \"v1\"")]).await;
    assert_eq!((nm.status, nm.body.len()), (304, 0));
    assert_eq!(nm.header("etag"), "\"v1\"");
    let r = get(&f.addr, "/hero.jpg", &[("Range", "bytes=100-199")]).await;
    assert_eq!((r.status, &r.body[..]), (206, &body[100..200]));
    assert_eq!(r.header("content-range"), "bytes 100-199/10000");
    let r = get(&f.addr, "/hero.jpg", &[("Range", "bytes=0-1,-2")]).await;
    assert_eq!(r.status, 206);
    assert!(r.header("content-type").starts_with("multipart/byteranges"));
    assert_eq!(r.header("content-length"), r.body.len().to_string());
    let r = get(&f.addr, "/hero.jpg", &[("Range", "bytes=20000-")]).await;
    assert_eq!(
        (r.status, r.header("content-range")),
        (416, "bytes */10000")
    );
    // If-Range with another validator: the whole representation.
    let r = get(
        &f.addr,
        "/hero.jpg",
        &[("Range", "bytes=0-9"), ("If-Range", "\"v0\"")],
    )
    .await;
    assert_eq!((r.status, r.body.len()), (200, 10_000));
    // An absurd Range list is ignored, not expanded.
    let absurd = format!(
        "bytes={}",
        (0..1500)
            .map(|i| format!("{i}-{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let r = get(&f.addr, "/hero.jpg", &[("Range", &absurd)]).await;
    assert_eq!((r.status, r.body.len()), (200, 10_000));
    assert_eq!(
        app.count("/hero.jpg"),
        1,
        "everything after the first from the cache"
    );

    // A HEAD miss fills with a GET (as nginx does), so the GET after it is a hit.
    let head = request(&f.addr, "HEAD", "/hero.jpg?cold", &[]).await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(app.last("/hero.jpg?cold").expect("seen").method, "GET");
    let after = get(&f.addr, "/hero.jpg?cold", &[]).await;
    assert_eq!(after.body.len(), 10_000, "{}", cache_status(&after));
    assert_eq!(app.count("/hero.jpg?cold"), 1);
    // A 404 is stored like any response; the query is part of the key.
    assert_eq!(get(&f.addr, "/missing?a=1", &[]).await.status, 404);
    assert_eq!(get(&f.addr, "/missing?a=1", &[]).await.status, 404);
    assert_eq!(get(&f.addr, "/missing?a=2", &[]).await.status, 404);
    assert_eq!(
        (app.count("/missing?a=1"), app.count("/missing?a=2")),
        (1, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vary_selects_variants_and_accept_encoding_is_normalised() {
    let app = App::start(|r: &Seen| match r.target.as_str() {
        "/app.js" => {
            let ae = r.header("accept-encoding").to_owned();
            Answer::ok(
                &[
                    ("Cache-Control", "max-age=600"),
                    ("Vary", "Accept-Encoding"),
                ],
                format!("encoded for {ae}"),
            )
        }
        "/star" => Answer::ok(&[("Cache-Control", "max-age=600"), ("Vary", "*")], "star"),
        "/lang" => {
            let l = r.header("accept-language").to_owned();
            Answer::ok(
                &[
                    ("Cache-Control", "max-age=600"),
                    ("Vary", "Accept-Language"),
                ],
                format!("lang {l}"),
            )
        }
        _ => Answer::with(404, &[], ""),
    })
    .await;
    let f = front(&app).await;
    let a = get(&f.addr, "/app.js", &[("Accept-Encoding", "gzip, br")]).await;
    assert_eq!(a.body, b"encoded for br, gzip");
    let b = get(
        &f.addr,
        "/app.js",
        &[("Accept-Encoding", "br;q=1.0, gzip;q=0.8")],
    )
    .await;
    assert_eq!(b.body, b"encoded for br, gzip");
    assert!(cache_status(&b).contains("hit"));
    let c = get(&f.addr, "/app.js", &[]).await;
    assert_eq!(c.body, b"encoded for identity");
    assert!(
        cache_status(&c).contains("fwd=vary-miss"),
        "{}",
        cache_status(&c)
    );
    assert_eq!(app.count("/app.js"), 2);

    for _ in 0..3 {
        assert_eq!(get(&f.addr, "/star", &[]).await.body, b"star");
    }
    assert_eq!(
        app.count("/star"),
        3,
        "Vary: * is never served from the cache"
    );

    get(&f.addr, "/lang", &[("Accept-Language", "fr")]).await;
    let en = get(&f.addr, "/lang", &[("Accept-Language", "en")]).await;
    assert_eq!(en.body, b"lang en");
    let fr = get(&f.addr, "/lang", &[("Accept-Language", "fr")]).await;
    assert_eq!(fr.body, b"lang fr");
    assert_eq!(app.count("/lang"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_a_shared_cache_may_store_is_stored() {
    let app = App::start(|r: &Seen| {
        let user = r.header("x-user").to_owned();
        let cc: &[(&str, &str)] = match r.target.as_str() {
            "/no-store" => &[("Cache-Control", "no-store, max-age=600")],
            "/private" => &[("Cache-Control", "private, max-age=600")],
            "/cookie" => &[
                ("Cache-Control", "max-age=600"),
                ("Set-Cookie", "session=abc"),
            ],
            "/auth" => &[("Cache-Control", "max-age=600")],
            "/auth-public" => &[("Cache-Control", "public, max-age=600")],
            "/cdn" => &[
                ("Cache-Control", "no-store"),
                ("CDN-Cache-Control", "max-age=600"),
            ],
            "/ours" => &[
                ("CDN-Cache-Control", "max-age=600"),
                ("Tinycdn-Cache-Control", "no-store"),
            ],
            "/no-cache" => &[
                ("Cache-Control", "no-cache, max-age=600"),
                ("ETag", "\"n\""),
            ],
            "/qualified" => &[
                ("Cache-Control", "max-age=600, private=\"x-user-data\""),
                ("X-User-Data", "alice's"),
            ],
            _ => &[("Cache-Control", "max-age=600")],
        };
        Answer::ok(cc, format!("for {user}"))
    })
    .await;
    let f = front(&app).await;
    for path in ["/no-store", "/private", "/cookie", "/ours"] {
        let a = get(&f.addr, path, &[("X-User", "alice")]).await;
        let b = get(&f.addr, path, &[("X-User", "bob")]).await;
        assert_eq!(
            (&a.body[..], &b.body[..]),
            (&b"for alice"[..], &b"for bob"[..]),
            "{path}"
        );
        assert_eq!(app.count(path), 2, "{path} must not be stored");
        assert!(
            cache_status(&a).contains("detail="),
            "{path}: {}",
            cache_status(&a)
        );
    }
    // Authorization: not stored unless the response says a shared cache may.
    get(&f.addr, "/auth", &[("Authorization", "Bearer a")]).await;
    get(&f.addr, "/auth", &[("Authorization", "Bearer a")]).await;
    assert_eq!(app.count("/auth"), 2);
    get(&f.addr, "/auth-public", &[("Authorization", "Bearer a")]).await;
    let r = get(&f.addr, "/auth-public", &[("Authorization", "Bearer b")]).await;
    assert!(cache_status(&r).contains("hit"));
    assert_eq!(app.count("/auth-public"), 1);
    // CDN-Cache-Control wins over Cache-Control for this cache, and is passed on.
    get(&f.addr, "/cdn", &[]).await;
    let r = get(&f.addr, "/cdn", &[]).await;
    assert!(cache_status(&r).contains("hit"));
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(app.count("/cdn"), 1);
    // no-cache: stored, but validated every time.
    get(&f.addr, "/no-cache", &[]).await;
    get(&f.addr, "/no-cache", &[]).await;
    assert_eq!(app.count("/no-cache"), 2);
    assert_eq!(
        app.last("/no-cache").expect("seen").header("if-none-match"),
        "\"n\""
    );
    // private="field": stored without that field; only the first client saw it.
    let first = get(&f.addr, "/qualified", &[]).await;
    assert_eq!(first.header("x-user-data"), "alice's");
    let second = get(&f.addr, "/qualified", &[]).await;
    assert!(cache_status(&second).contains("hit"));
    assert!(second.header("x-user-data").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_responses_are_validated_and_a_304_freshens_them() {
    let version = Arc::new(AtomicUsize::new(1));
    let v = version.clone();
    let app = App::start(move |r: &Seen| {
        let n = v.load(Ordering::SeqCst);
        if r.header("if-none-match") == "\"e1\"" && n == 1 {
            return Answer::with(
                304,
                &[("Cache-Control", "max-age=600"), ("X-Validated", "yes")],
                "",
            );
        }
        let etag = format!("\"e{n}\"");
        Answer::ok(
            &[
                ("Cache-Control", "max-age=1"),
                ("ETag", &etag),
                ("X-Validated", "no"),
            ],
            format!("version {n}"),
        )
    })
    .await;
    let f = front(&app).await;
    assert_eq!(get(&f.addr, "/page", &[]).await.body, b"version 1");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = get(&f.addr, "/page", &[]).await;
    assert_eq!(r.body, b"version 1");
    assert_eq!(cache_status(&r), "tinycdn; fwd=stale; fwd-status=304");
    assert_eq!(
        app.last("/page").expect("seen").header("if-none-match"),
        "\"e1\""
    );
    // The 304's fields replaced the stored ones (§4.3.4): now fresh for 600 s.
    let r = get(&f.addr, "/page", &[]).await;
    assert_eq!(
        (r.header("x-validated"), r.header("cache-control")),
        ("yes", "max-age=600")
    );
    assert!(cache_status(&r).contains("hit"));
    assert_eq!(app.count("/page"), 2);
    // The client asks for validation: the origin now has version 2, which replaces the entry.
    version.store(2, Ordering::SeqCst);
    let r = get(&f.addr, "/page", &[("Cache-Control", "no-cache")]).await;
    assert_eq!(r.body, b"version 2");
    assert!(
        cache_status(&r).contains("fwd=request"),
        "{}",
        cache_status(&r)
    );
    let r = get(&f.addr, "/page", &[("Cache-Control", "max-stale=600")]).await;
    assert_eq!(r.body, b"version 2");
    // only-if-cached on something never stored: 504 without asking the origin.
    let before = app.seen.lock().expect("lock").len();
    assert_eq!(
        get(&f.addr, "/never", &[("Cache-Control", "only-if-cached")])
            .await
            .status,
        504
    );
    assert_eq!(app.seen.lock().expect("lock").len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_while_revalidate_and_stale_if_error() {
    let broken = Arc::new(AtomicUsize::new(0));
    let b = broken.clone();
    let app = App::start(move |r: &Seen| {
        if b.load(Ordering::SeqCst) == 1 {
            return Answer::with(503, &[], "down");
        }
        match r.target.as_str() {
            "/swr" => Answer::ok(
                &[("Cache-Control", "max-age=1, stale-while-revalidate=60")],
                format!("swr {}", r.header("x-n")),
            ),
            "/sie" => Answer::ok(&[("Cache-Control", "max-age=1, stale-if-error=60")], "sie"),
            "/strict" => Answer::ok(
                &[(
                    "Cache-Control",
                    "max-age=1, must-revalidate, stale-if-error=60",
                )],
                "strict",
            ),
            _ => Answer::with(404, &[], ""),
        }
    })
    .await;
    let f = front(&app).await;
    get(&f.addr, "/swr", &[("X-N", "1")]).await;
    get(&f.addr, "/sie", &[]).await;
    get(&f.addr, "/strict", &[]).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // Stale within stale-while-revalidate: served at once, revalidated in the background.
    let r = get(&f.addr, "/swr", &[("X-N", "2")]).await;
    assert_eq!(r.body, b"swr 1");
    let cs = cache_status(&r);
    assert!(
        cs.contains("hit") && cs.contains("ttl=-") && cs.contains("stale-while-revalidate"),
        "{cs}"
    );
    for _ in 0..50 {
        if app.count("/swr") == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.count("/swr"), 2, "one background revalidation");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get(&f.addr, "/swr", &[]).await.body, b"swr 2");

    broken.store(1, Ordering::SeqCst);
    let r = get(&f.addr, "/sie", &[]).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"sie"[..]));
    assert!(
        cache_status(&r).contains("fwd-status=503") && cache_status(&r).contains("stale-if-error")
    );
    // must-revalidate wins over stale-if-error: the error goes to the client.
    let r = get(&f.addr, "/strict", &[]).await;
    assert_eq!(r.status, 503);
    // With the origin gone altogether, stale-if-error still answers.
    drop(app);
    let r = get(&f.addr, "/sie", &[]).await;
    assert_eq!((r.status, &r.body[..]), (200, &b"sie"[..]));
    // After repeated failures the origin is backed off: stale answers come without trying it.
    for _ in 0..4 {
        get(&f.addr, "/strict", &[]).await;
    }
    assert!(f.proxy().origin().backed_off());
    let r = get(&f.addr, "/sie", &[]).await;
    assert!(
        cache_status(&r).contains("origin-backed-off"),
        "{}",
        cache_status(&r)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_make_one_origin_request_and_stream_the_same_body() {
    let body = bytes(3 << 20, 7);
    let b = body.clone();
    let app = App::start(move |r: &Seen| match r.target.as_str() {
        "/clip.mp4" => Answer::ok(&[("Cache-Control", "max-age=600")], b.clone())
            .after(Duration::from_millis(300)),
        _ => {
            let user = r.header("x-user").to_owned();
            Answer::ok(
                &[("Cache-Control", "private, max-age=60")],
                format!("only for {user}"),
            )
            .after(Duration::from_millis(100))
        }
    })
    .await;
    let f = Arc::new(front(&app).await);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let addr = f.addr.clone();
        tasks.push(tokio::spawn(async move {
            let range = format!("bytes={}-{}", i * 1000, i * 1000 + 99);
            if i % 4 == 0 {
                get(&addr, "/clip.mp4", &[("Range", &range)]).await
            } else {
                get(&addr, "/clip.mp4", &[]).await
            }
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.expect("join");
        if i % 4 == 0 {
            assert_eq!(
                (r.status, &r.body[..]),
                (206, &body[i * 1000..i * 1000 + 100])
            );
        } else {
            assert_eq!((r.status, r.body.len()), (200, body.len()));
            assert!(r.body == body);
        }
    }
    assert_eq!(
        app.count("/clip.mp4"),
        1,
        "one origin request for 40 concurrent misses"
    );
    assert!(f.proxy().counters.collapsed.load(Ordering::Relaxed) >= 30);
    // A private response is never handed to another client.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let addr = f.addr.clone();
        tasks.push(tokio::spawn(async move {
            let user = format!("user{i}");
            (get(&addr, "/me", &[("X-User", &user)]).await, user)
        }));
    }
    for t in tasks {
        let (r, user) = t.await.expect("join");
        assert_eq!(r.body, format!("only for {user}").into_bytes());
    }
    assert_eq!(app.count("/me"), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_methods_pass_through_and_invalidate() {
    let app = App::start(|r: &Seen| match (r.method.as_str(), r.target.as_str()) {
        ("POST", "/cart") => Answer::with(
            201,
            &[
                ("Location", "/cart/2"),
                ("Content-Location", "http://elsewhere.example/cart"),
            ],
            format!("posted {}", String::from_utf8_lossy(&r.body)),
        ),
        ("DELETE", _) => Answer::with(500, &[], "failed"),
        _ => Answer::ok(
            &[("Cache-Control", "max-age=600")],
            format!("{} {}", r.method, r.target),
        ),
    })
    .await;
    let f = front(&app).await;
    for p in ["/cart", "/cart/2"] {
        get(&f.addr, p, &[]).await;
        assert!(cache_status(&get(&f.addr, p, &[]).await).contains("hit"));
    }
    let raw =
        b"POST /cart HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    let resp = raw_exchange(&f.addr, raw, Duration::from_secs(2)).await;
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
    assert!(text.ends_with("posted hello"));
    assert!(text
        .to_ascii_lowercase()
        .contains("cache-status: tinycdn; fwd=method"));
    assert_eq!(app.last("/cart").expect("seen").body, b"hello");
    for p in ["/cart", "/cart/2"] {
        let r = get(&f.addr, p, &[]).await;
        assert!(
            cache_status(&r).contains("fwd=uri-miss"),
            "{p} was invalidated: {}",
            cache_status(&r)
        );
    }
    // A failed unsafe request invalidates nothing.
    request(&f.addr, "DELETE", "/cart", &[]).await;
    assert!(cache_status(&get(&f.addr, "/cart", &[]).await).contains("hit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_by_url_prefix_and_surrogate_key_with_a_token() {
    let app = App::start(|r: &Seen| {
        let tags = if r.target.starts_with("/img/") {
            "images all"
        } else {
            "pages all"
        };
        Answer::ok(
            &[
                ("Cache-Control", "max-age=600"),
                ("Surrogate-Key", tags),
                ("Cache-Tag", "site"),
            ],
            r.target.clone(),
        )
    })
    .await;
    let f = front(&app).await;
    let paths = ["/img/a.jpg", "/img/b.jpg", "/index.html", "/about.html"];
    let warm = || async {
        for p in paths {
            get(&f.addr, p, &[]).await;
        }
    };
    warm().await;
    let r = get(&f.addr, "/img/a.jpg", &[]).await;
    assert!(
        r.header("surrogate-key").is_empty() && r.header("cache-tag").is_empty(),
        "surrogate keys stay inside"
    );
    let purge = |body: &'static str, token: &'static str| {
        let addr = f.addr.clone();
        async move {
            let raw = format!(
                "POST /.tinycdn/purge HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            String::from_utf8_lossy(
                &raw_exchange(&addr, raw.as_bytes(), Duration::from_secs(2)).await,
            )
            .into_owned()
        }
    };
    // Without --purge-token-file, purging is off.
    let off = front_with(&app, None, Limits::default(), |c| c.purge_token = None).await;
    let raw = b"POST /.tinycdn/purge HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    let text = String::from_utf8_lossy(&raw_exchange(&off.addr, raw, Duration::from_secs(2)).await)
        .into_owned();
    assert!(
        text.starts_with("HTTP/1.1 404") && text.contains("purge-token-file"),
        "{text}"
    );
    let denied = purge(r#"{"urls":["/index.html"]}"#, "wrong").await;
    assert!(
        denied.starts_with("HTTP/1.1 401") && !denied.contains("sekrit"),
        "{denied}"
    );
    assert!(purge(r#"{"nothing":1}"#, "sekrit-token")
        .await
        .starts_with("HTTP/1.1 400"));
    let ok = purge(r#"{"urls":["http://test/index.html"]}"#, "sekrit-token").await;
    assert!(ok.contains(r#""purged":1"#), "{ok}");
    assert!(cache_status(&get(&f.addr, "/index.html", &[]).await).contains("uri-miss"));
    assert!(purge(r#"{"prefixes":["/img/"]}"#, "sekrit-token")
        .await
        .contains(r#""purged":2"#));
    assert!(cache_status(&get(&f.addr, "/img/b.jpg", &[]).await).contains("uri-miss"));
    warm().await;
    assert!(purge(r#"{"keys":["images"]}"#, "sekrit-token")
        .await
        .contains(r#""purged":2"#));
    assert!(cache_status(&get(&f.addr, "/about.html", &[]).await).contains("hit"));
    assert!(purge(r#"{"keys":["site"]}"#, "sekrit-token")
        .await
        .contains(r#""purged":2"#));
    // Soft purge: kept, but validated before it is used again.
    warm().await;
    assert!(purge(r#"{"keys":["all"],"soft":true}"#, "sekrit-token")
        .await
        .contains(r#""purged":4"#));
    let before = app.count("/about.html");
    let r = get(&f.addr, "/about.html", &[]).await;
    assert!(
        cache_status(&r).contains("fwd=stale"),
        "{}",
        cache_status(&r)
    );
    assert_eq!(app.count("/about.html"), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_bodies_are_chunks_shared_by_urls_and_survive_a_restart_verified() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = bytes(2 << 20, 3);
    let b = body.clone();
    let app = App::start(move |_| Answer::ok(&[("Cache-Control", "max-age=600")], b.clone())).await;
    {
        let f = front_with(&app, Some(dir.path()), Limits::default(), |_| {}).await;
        get(&f.addr, "/one.bin", &[]).await;
        settle(&f, 1).await;
        let after_one = f.edge.cache().disk_bytes();
        for p in ["/two.bin", "/three.bin?x=1"] {
            get(&f.addr, p, &[]).await;
        }
        settle(&f, 3).await;
        assert_eq!(
            f.edge.cache().disk_bytes(),
            after_one,
            "identical bodies are stored once"
        );
        assert!(after_one >= body.len() as u64);
    }
    // A new edge on the same disk, with the origin gone: the stored responses answer.
    drop(app);
    let gone = App::start(|_| Answer::Stall).await;
    let f = front_with(&gone, Some(dir.path()), Limits::default(), |c| {
        c.origin_timeout = Duration::from_millis(300)
    })
    .await;
    assert_eq!(f.proxy().stored_responses(), 3);
    let r = get(&f.addr, "/two.bin", &[]).await;
    assert!(r.body == body && cache_status(&r).contains("hit"));
    // Corrupt every chunk on disk: nothing is served from them; the disk counts them.
    drop(f);
    let mut corrupted = 0;
    for e in crate::fabric::walk(&dir.path().join("chunks")) {
        let mut b = std::fs::read(&e).expect("read");
        b[0] ^= 0xff;
        std::fs::remove_file(&e).expect("rm");
        std::fs::write(&e, b).expect("write");
        corrupted += 1;
    }
    assert!(corrupted > 0);
    let f = front_with(&gone, Some(dir.path()), Limits::default(), |c| {
        c.origin_timeout = Duration::from_millis(300)
    })
    .await;
    let r = get(&f.addr, "/three.bin?x=1", &[]).await;
    assert!(r.body != body, "a corrupt chunk is never sent");
    assert!(f.edge.cache().counters.disk_corrupt.load(Ordering::Relaxed) > 0);
    // A damaged record is dropped at start.
    drop(f);
    for e in crate::fabric::walk(&dir.path().join("meta/p")) {
        std::fs::write(&e, b"TCDNRSP\n\x01garbage").expect("write");
    }
    let f = front_with(&gone, Some(dir.path()), Limits::default(), |_| {}).await;
    assert_eq!(f.proxy().stored_responses(), 0);
    assert!(f.proxy().dropped_at_start() > 0);
}

/// Waits until `n` responses are stored (a fill stores its body just after the last byte went out).
async fn settle(f: &Front, n: usize) {
    for _ in 0..200 {
        if f.proxy().stored_responses() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{n} responses were never stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_origin_gets_its_error_to_the_client_and_nothing_is_stored() {
    let app = App::start(|r: &Seen| match r.target.as_str() {
        "/truncated" => Answer::Truncated {
            headers: vec![("Cache-Control".into(), "max-age=600".into())],
            announced: 100_000,
            sent: 40_000,
        },
        "/garbage" => Answer::Raw(b"HTTP/1.1 2000 What\r\nContent-Length: x\r\n\r\n".to_vec()),
        "/not-http" => Answer::Raw(b"\x00\x01\x02 hello there\r\n\r\n".to_vec()),
        "/stall" => Answer::Stall,
        "/stall-body" => Answer::StallInBody {
            announced: 50_000,
            sent: 1_000,
        },
        "/endless" => Answer::Endless {
            headers: vec![("Cache-Control".into(), "max-age=600".into())],
        },
        _ => Answer::ok(&[("Cache-Control", "max-age=600")], "fine"),
    })
    .await;
    let f = front_with(&app, None, Limits::default(), |c| {
        c.origin_timeout = Duration::from_millis(500);
        c.body_timeout = Duration::from_millis(500);
        c.max_object_size = 1 << 20;
    })
    .await;
    for _ in 0..2 {
        let r = get(&f.addr, "/truncated", &[]).await;
        assert_eq!(r.header("content-length"), "100000");
        assert!(r.body.len() < 100_000, "the client sees the body end early");
    }
    assert_eq!(
        app.count("/truncated"),
        2,
        "a truncated body is never stored"
    );
    assert_eq!(get(&f.addr, "/garbage", &[]).await.status, 502);
    assert_eq!(get(&f.addr, "/not-http", &[]).await.status, 502);
    let t = std::time::Instant::now();
    assert_eq!(get(&f.addr, "/stall", &[]).await.status, 504);
    assert!(t.elapsed() < Duration::from_secs(5));
    let r = get(&f.addr, "/stall-body", &[]).await;
    assert!(r.body.len() < 50_000);
    assert_eq!(get(&f.addr, "/stall-body", &[]).await.body.len(), 1_000);
    assert_eq!(app.count("/stall-body"), 2);
    // An endless body streams to the client (memory bounded); nothing is stored.
    let mut s = tokio::net::TcpStream::connect(&f.addr)
        .await
        .expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"GET /endless HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("send");
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 << 10];
    while got < 8 << 20 {
        let n = s.read(&mut buf).await.expect("read");
        assert!(n > 0);
        got += n;
    }
    drop(s);
    assert!(f.proxy().stored_responses() == 0);
    // The edge stays healthy for everyone else.
    assert_eq!(get(&f.addr, "/fine", &[]).await.body, b"fine");
    assert!(f.proxy().counters.fill_errors.load(Ordering::Relaxed) >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_oversized_heads_and_slow_clients_are_refused_without_harm() {
    let app = App::start(|_| Answer::ok(&[("Cache-Control", "max-age=600")], "ok")).await;
    let f = front_with(
        &app,
        None,
        Limits {
            header_timeout: Duration::from_millis(500),
            ..Limits::default()
        },
        |_| {},
    )
    .await;
    // Both framings: hyper takes Transfer-Encoding, drops Content-Length and closes the
    // connection after answering (RFC 9112 §6.3), so the request hidden in the body is never
    // read, let alone forwarded.
    let both = b"POST /a HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: test\r\n\r\n";
    let text =
        String::from_utf8_lossy(&raw_exchange(&f.addr, both, Duration::from_millis(800)).await)
            .into_owned();
    assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{text}");
    // Conflicting lengths, obs-fold, a bare CR, a Transfer-Encoding not ending in chunked: 400.
    let attempts: [&[u8]; 4] = [
        b"POST /a HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"GET /a HTTP/1.1\r\nHost: test\r\nX-Folded: one\r\n two\r\n\r\n",
        b"GET /a HTTP/1.1\rHost: test\r\n\r\n",
        b"POST /a HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    ];
    for raw in attempts {
        let resp = raw_exchange(&f.addr, raw, Duration::from_millis(800)).await;
        let text = String::from_utf8_lossy(&resp);
        assert!(
            text.starts_with("HTTP/1.1 400"),
            "{:?} got {text}",
            String::from_utf8_lossy(raw)
        );
    }
    assert_eq!(
        app.count("/smuggled"),
        0,
        "nothing smuggled reached the origin"
    );
    let posts = app
        .seen
        .lock()
        .expect("lock")
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(
        posts, 1,
        "only the request with both framings was forwarded, once"
    );
    // An oversized head: 431.
    let big = format!(
        "GET /a HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\n\r\n",
        "b".repeat(40_000)
    );
    let resp = raw_exchange(&f.addr, big.as_bytes(), Duration::from_millis(800)).await;
    assert!(String::from_utf8_lossy(&resp).starts_with("HTTP/1.1 431"));
    // A slowloris client is cut off while others are served.
    let mut slow = tokio::net::TcpStream::connect(&f.addr)
        .await
        .expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    slow.write_all(b"GET /a HTTP/1.1\r\nHost: te")
        .await
        .expect("send");
    assert_eq!(get(&f.addr, "/a", &[]).await.body, b"ok");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), slow.read_to_end(&mut rest)).await;
    let cut = String::from_utf8_lossy(&rest);
    assert!(cut.is_empty() || cut.starts_with("HTTP/1.1 408"), "{cut}");
    // A Host that is not a host: 400 before anything is forwarded.
    let before = app.seen.lock().expect("lock").len();
    assert_eq!(
        get(&f.addr, "/a", &[("Host", "second.example")])
            .await
            .status,
        400
    );
    for raw in [
        &b"GET /a HTTP/1.1\r\nHost: a b\r\n\r\n"[..],
        b"GET /a HTTP/1.1\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: x@y\r\n\r\n",
    ] {
        let text =
            String::from_utf8_lossy(&raw_exchange(&f.addr, raw, Duration::from_millis(500)).await)
                .into_owned();
        assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    }
    assert_eq!(app.seen.lock().expect("lock").len(), before);
}

/// The app of the tunnel tests: `Upgrade: echo` becomes an echo tunnel, anything else "plain".
pub(crate) fn echo_or_plain(r: &Seen) -> Answer {
    if r.header("upgrade") == "echo" {
        Answer::Echo
    } else {
        Answer::ok(&[], "plain")
    }
}

/// A connection to `addr` upgraded to the scripted app's `echo` protocol, and the response head
/// (lowercased).
pub(crate) async fn upgrade_to_echo(addr: &str) -> (tokio::net::TcpStream, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .expect("send");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).await.expect("read"), 1);
        head.push(byte[0]);
    }
    (s, String::from_utf8_lossy(&head).to_ascii_lowercase())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_pass_through_as_a_tunnel() {
    let app = App::start(echo_or_plain).await;
    let f = front(&app).await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut s, head) = upgrade_to_echo(&f.addr).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: echo"));
    s.write_all(b"ping through the tunnel").await.expect("send");
    let mut back = vec![0u8; 23];
    s.read_exact(&mut back).await.expect("echo");
    assert_eq!(back, b"ping through the tunnel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_of_a_cold_object_fill_it_once_and_too_big_ones_go_as_ranges() {
    let body = bytes(4 << 20, 9);
    let b = body.clone();
    let app = App::start(move |r: &Seen| {
        if r.target == "/huge.bin" {
            // A real server would honour Range; this one says whether it was asked for one.
            let range = r.header("range").to_owned();
            return Answer::ok(
                &[("Cache-Control", "max-age=600"), ("X-Range-Seen", &range)],
                b.clone(),
            );
        }
        Answer::ok(&[("Cache-Control", "max-age=600")], b.clone())
    })
    .await;
    let f = front_with(&app, None, Limits::default(), |c| {
        c.max_object_size = 8 << 20
    })
    .await;
    for i in 0..6 {
        let start = i * 500_000;
        let r = get(
            &f.addr,
            "/video.mp4",
            &[("Range", &format!("bytes={start}-{}", start + 9))],
        )
        .await;
        assert_eq!((r.status, &r.body[..]), (206, &body[start..start + 10]));
    }
    assert_eq!(
        app.count("/video.mp4"),
        1,
        "one origin request for every range"
    );
    let small = front_with(&app, None, Limits::default(), |c| {
        c.max_object_size = 1 << 20
    })
    .await;
    let r = get(&small.addr, "/huge.bin", &[("Range", "bytes=0-9")]).await;
    assert_eq!(
        r.header("x-range-seen"),
        "bytes=0-9",
        "a range of an object too big to store goes to the origin"
    );
    assert_eq!(small.proxy().stored_responses(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_pointed_at_itself_detects_the_loop() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let cache = Arc::new(ChunkCache::new(1 << 20, None).expect("cache"));
    let proxy = Proxy::new(
        ProxyConfig {
            origin: format!("http://{addr}"),
            ..ProxyConfig::default()
        },
        cache.clone(),
    )
    .expect("proxy");
    let edge = Edge::with_roles(cache, None, Some(proxy), Vec::new());
    let task = tokio::spawn(serve(l, edge, Limits::default(), None));
    let r = get(&addr, "/loop", &[]).await;
    assert_eq!(r.status, 508);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mounted_volumes_answer_at_the_apps_paths_and_own_routes_move_under_the_reserved_prefix() {
    let w = crate::fabric::world().await;
    let app = App::start(|r: &Seen| {
        Answer::ok(
            &[("Cache-Control", "max-age=60")],
            format!("app {}", r.target),
        )
    })
    .await;
    let cache = Arc::new(ChunkCache::new(64 << 20, None).expect("cache"));
    let ups = tinycdn_edge::Upstreams::new(std::slice::from_ref(&w.origin), Duration::from_secs(2))
        .expect("upstreams");
    let fabric = tinycdn_edge::Fabric::new(ups, crate::fabric::trust(), cache.clone());
    let proxy = Proxy::new(
        ProxyConfig {
            origin: app.url.clone(),
            ..ProxyConfig::default()
        },
        cache.clone(),
    )
    .expect("proxy");
    let mounts = vec![
        "/static=site@stable".parse().expect("mount"),
        format!("/static/pinned=site@{}", w.version)
            .parse()
            .expect("mount"),
    ];
    let edge = Edge::with_roles(cache, Some(fabric), Some(proxy), mounts);
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let task = tokio::spawn(serve(l, edge, Limits::default(), None));

    let css = get(&addr, "/static/app.css", &[]).await;
    assert_eq!(css.status, 200);
    assert_eq!(css.body, "body { margin: 0 }\n".repeat(200).into_bytes());
    assert_eq!(css.header("x-tinycdn-version"), w.version);
    assert!(
        css.header("etag").len() == 66,
        "a content hash: {}",
        css.header("etag")
    );
    assert!(
        !css.header("cache-control").contains("immutable"),
        "a tag moves"
    );
    let clip = get(
        &addr,
        "/static/clips/intro.mp4",
        &[("Range", "bytes=10-19")],
    )
    .await;
    assert_eq!((clip.status, &clip.body[..]), (206, &w.clip[10..20]));
    // The longest mount wins; a pinned one is immutable.
    let pinned = get(&addr, "/static/pinned/app.css", &[]).await;
    assert!(pinned.header("cache-control").contains("immutable"));
    assert_eq!(get(&addr, "/static/missing.css", &[]).await.status, 404);
    assert_eq!(get(&addr, "/static/%2e%2e/secret", &[]).await.status, 400);
    assert_eq!(
        request(&addr, "POST", "/static/app.css", &[]).await.status,
        405
    );
    assert_eq!(
        app.count("/static/app.css"),
        0,
        "the app never sees mounted paths"
    );

    // Everything else is the app's, the fabric's root routes included.
    assert_eq!(
        get(&addr, "/v/site@stable/app.css", &[]).await.body,
        b"app /v/site@stable/app.css"
    );
    assert_eq!(get(&addr, "/staticx", &[]).await.body, b"app /staticx");
    assert_eq!(get(&addr, "/metrics", &[]).await.body, b"app /metrics");
    // The edge's own routes live under /.tinycdn/.
    let own = get(&addr, "/.tinycdn/v/site@stable/app.css", &[]).await;
    assert_eq!(own.body, css.body);
    assert_eq!(get(&addr, "/.tinycdn/healthz", &[]).await.body, b"ok\n");
    let metrics =
        String::from_utf8(get(&addr, "/.tinycdn/metrics", &[]).await.body).expect("utf-8");
    assert!(
        tinycdn_telemetry::scrape::value(
            &metrics,
            "tinycdn_proxy_requests_total",
            &[("role", "edge"), ("result", "miss")]
        ) == Some(3.0),
        "{metrics}"
    );
    assert!(metrics.contains("tinycdn_upstream_healthy"));
    assert_eq!(get(&addr, "/.tinycdn/nothing", &[]).await.status, 404);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2c_origin_is_spoken_to_over_http2() {
    // tinycdn's own origin speaks HTTP/1.1 and h2c on one port: front it as an application.
    let w = crate::fabric::world().await;
    let cache = Arc::new(ChunkCache::new(16 << 20, None).expect("cache"));
    let origin = w.origin.replace("http://", "h2c://");
    let proxy = Proxy::new(
        ProxyConfig {
            origin,
            ..ProxyConfig::default()
        },
        cache.clone(),
    )
    .expect("proxy");
    let edge = Edge::with_roles(cache, None, Some(proxy), Vec::new());
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let task = tokio::spawn(serve(l, edge, Limits::default(), None));
    let pinned = format!("/v/site@{}/clips/intro.mp4", w.version);
    let a = get(&addr, &pinned, &[]).await;
    assert_eq!((a.status, a.body.len()), (200, w.clip.len()));
    assert!(a.body == w.clip);
    assert!(cache_status(&a).contains("stored"), "{}", cache_status(&a));
    let b = get(&addr, &pinned, &[("Range", "bytes=0-3")]).await;
    assert_eq!((b.status, &b.body[..]), (206, &w.clip[..4]));
    assert!(cache_status(&b).contains("hit"));
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_variant_is_collapsed_too() {
    let app = App::start(|r: &Seen| {
        let class = r.header("accept-encoding").to_owned();
        Answer::ok(
            &[
                ("Cache-Control", "max-age=600"),
                ("Vary", "Accept-Encoding"),
            ],
            format!("for {class}"),
        )
        .after(Duration::from_millis(300))
    })
    .await;
    let f = Arc::new(front(&app).await);
    let mut tasks = Vec::new();
    for i in 0..30 {
        let addr = f.addr.clone();
        tasks.push(tokio::spawn(async move {
            let ae = if i % 2 == 0 { "gzip" } else { "br" };
            (get(&addr, "/v.js", &[("Accept-Encoding", ae)]).await, ae)
        }));
    }
    for t in tasks {
        let (r, ae) = t.await.expect("join");
        assert_eq!(r.body, format!("for {ae}").into_bytes());
    }
    assert_eq!(app.count("/v.js"), 2, "one origin request per variant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bound_on_stored_responses_evicts_the_oldest() {
    let app = App::start(|r: &Seen| {
        Answer::ok(
            &[("Cache-Control", "max-age=600"), ("Surrogate-Key", "k")],
            r.target.clone(),
        )
    })
    .await;
    let f = front_with(&app, None, Limits::default(), |c| c.max_entries = 2).await;
    for p in ["/a", "/b", "/c"] {
        get(&f.addr, p, &[]).await;
        settle(&f, 1).await;
    }
    assert_eq!(f.proxy().stored_responses(), 2);
    assert_eq!(f.proxy().evicted(), 1);
    assert!(cache_status(&get(&f.addr, "/c", &[]).await).contains("hit"));
    assert!(
        cache_status(&get(&f.addr, "/a", &[]).await).contains("uri-miss"),
        "the oldest went first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fills_past_the_memory_budget_stream_uncached() {
    let body = bytes(3 << 20, 11);
    let b = body.clone();
    let app = App::start(move |_| Answer::ok(&[("Cache-Control", "max-age=600")], b.clone())).await;
    let f = front_with(&app, None, Limits::default(), |c| c.fill_memory = 1 << 20).await;
    let r = get(&f.addr, "/big.bin", &[]).await;
    assert!(r.body == body, "the client gets the whole body");
    assert_eq!(f.proxy().stored_responses(), 0);
    assert_eq!(
        f.proxy().counters.not_stored_busy.load(Ordering::Relaxed),
        1
    );
    for _ in 0..100 {
        if f.proxy().fill_bytes() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        f.proxy().fill_bytes(),
        0,
        "what the fill held is given back"
    );
    // Small bodies still fit and are stored.
    let small = App::start(|_| Answer::ok(&[("Cache-Control", "max-age=600")], "small")).await;
    let g = front_with(&small, None, Limits::default(), |c| c.fill_memory = 1 << 20).await;
    get(&g.addr, "/s", &[]).await;
    settle(&g, 1).await;
}
