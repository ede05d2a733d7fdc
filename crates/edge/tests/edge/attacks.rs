//! Attacks on an edge in front of a real application (a scripted HTTP server on 127.0.0.1), one
//! test named after each: a victim's bytes never reach the attacker, nothing an attacker sends is
//! stored for others, and the edge keeps serving everyone else.

use std::time::Duration;

use tinycdn_cache_policy::credentials::CredentialRules;
use tinycdn_server::testing::app::{raw_exchange, Answer, App, Seen};
use tinycdn_server::testing::{get, request};
use tinycdn_server::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::proxy::{cache_status, front_with};

/// A logged-in page as Express, Flask and Rails send it: no `Cache-Control`, built from the
/// session cookie.
fn personal(r: &Seen) -> Answer {
    let who = r.header("cookie").to_owned();
    Answer::ok(
        &[("Content-Type", "text/html")],
        format!("<h1>account of {who}</h1>"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_stale_only_if_cached_never_reads_the_last_visitors_page() {
    let app = App::start(personal).await;
    let f = front_with(&app, None, Limits::default(), |_| {}).await;
    let alice = get(&f.addr, "/account", &[("Cookie", "session=alice")]).await;
    assert_eq!(alice.status, 200);
    assert!(String::from_utf8_lossy(&alice.body).contains("session=alice"));
    assert!(
        cache_status(&alice).contains("detail=credentials"),
        "{}",
        cache_status(&alice)
    );
    for probe in [
        "max-stale, only-if-cached",
        "max-stale=100000",
        "only-if-cached",
    ] {
        let attacker = get(&f.addr, "/account", &[("Cache-Control", probe)]).await;
        assert!(
            !String::from_utf8_lossy(&attacker.body).contains("alice"),
            "{probe}: the attacker read alice's page"
        );
    }
    // The only-if-cached probes never reached the application; the plain one did, and got the
    // anonymous page.
    assert_eq!(app.count("/account"), 2);
    // An anonymous page with no freshness is stored, but never served stale for max-stale.
    let anonymous = get(&f.addr, "/account", &[]).await;
    assert!(String::from_utf8_lossy(&anonymous.body).contains("account of </h1>"));
    let stale = get(
        &f.addr,
        "/account",
        &[("Cache-Control", "max-stale, only-if-cached")],
    )
    .await;
    assert_eq!(stale.status, 504, "{}", cache_status(&stale));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_collapsed_onto_another_users_fill_get_their_own_page() {
    let app = App::start(|r: &Seen| match r.target.as_str() {
        "/account" => personal(r).after(Duration::from_millis(400)),
        // Explicitly shareable, whoever asks: the waiters take the first answer.
        _ => Answer::ok(
            &[("Cache-Control", "public, max-age=60")],
            format!("news for everyone, first asked by {}", r.header("cookie")),
        )
        .after(Duration::from_millis(400)),
    })
    .await;
    let f = front_with(&app, None, Limits::default(), |_| {}).await;
    for path in ["/account", "/news"] {
        let a = f.addr.clone();
        let alice =
            tokio::spawn(async move { get(&a, path, &[("Cookie", "session=alice")]).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (b, c) = (f.addr.clone(), f.addr.clone());
        let bob = tokio::spawn(async move { get(&b, path, &[("Cookie", "session=bob")]).await });
        let anon = tokio::spawn(async move { get(&c, path, &[]).await });
        let (alice, bob, anon) = (
            alice.await.expect("alice"),
            bob.await.expect("bob"),
            anon.await.expect("anonymous"),
        );
        let text =
            |r: &tinycdn_server::testing::Reply| String::from_utf8_lossy(&r.body).into_owned();
        if path == "/account" {
            assert!(text(&alice).contains("alice"));
            assert!(text(&bob).contains("bob") && !text(&bob).contains("alice"));
            assert!(!text(&anon).contains("alice") && !text(&anon).contains("bob"));
            assert_eq!(app.count(path), 3, "each personal request asked the app");
        } else {
            assert_eq!(text(&alice), text(&bob));
            assert_eq!(text(&alice), text(&anon));
            assert_eq!(app.count(path), 1, "an explicitly public answer is shared");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_header_the_operator_names_keeps_pages_personal() {
    let app =
        App::start(|r: &Seen| Answer::ok(&[], format!("key {}", r.header("x-api-key")))).await;
    let f = front_with(&app, None, Limits::default(), |c| {
        c.credentials = CredentialRules::new(&["X-Api-Key"], &[]).expect("rules");
    })
    .await;
    let secret = get(&f.addr, "/data", &[("X-Api-Key", "k-alice")]).await;
    assert!(cache_status(&secret).contains("detail=credentials"));
    let other = get(&f.addr, "/data", &[]).await;
    assert!(!String::from_utf8_lossy(&other.body).contains("k-alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_analytics_cookies_neither_reach_the_app_nor_split_the_cache() {
    let app = App::start(|r: &Seen| {
        let body = format!("cookie=[{}]", r.header("cookie"));
        match r.target.as_str() {
            "/home" => Answer::ok(&[("Cache-Control", "max-age=60")], body),
            _ => Answer::ok(&[], body),
        }
    })
    .await;
    let f = front_with(&app, None, Limits::default(), |c| {
        c.credentials =
            CredentialRules::new::<&str>(&[], &["_ga", "_ga_*", "_gid"]).expect("rules");
    })
    .await;
    let first = get(
        &f.addr,
        "/home",
        &[("Cookie", "_ga=GA1.1; _ga_X1=2; _gid=3")],
    )
    .await;
    assert_eq!(first.body, b"cookie=[]");
    assert!(
        cache_status(&first).contains("stored"),
        "{}",
        cache_status(&first)
    );
    let second = get(&f.addr, "/home", &[("Cookie", "_ga=GA1.9")]).await;
    assert!(
        cache_status(&second).contains("hit"),
        "{}",
        cache_status(&second)
    );
    assert_eq!(app.count("/home"), 1);
    // A real session cookie is still a credential, and reaches the app without the others.
    let session = get(&f.addr, "/me", &[("Cookie", "_ga=1; session=alice")]).await;
    assert_eq!(session.body, b"cookie=[session=alice]");
    assert!(cache_status(&session).contains("detail=credentials"));
}

/// An application that trusts its proxy (Rails, Django with `USE_X_FORWARDED_HOST`, Symfony,
/// Express with `trust proxy`): it builds its links from the forwarding fields, and writes every
/// field an attacker might use into the page.
fn trusting(r: &Seen) -> Answer {
    let host = match r.header("x-forwarded-host") {
        "" => r.header("host"),
        h => h,
    };
    let proto = match r.header("x-forwarded-proto") {
        "" => "http",
        p => p,
    };
    let mut page = format!("<a href=\"{proto}://{host}/next\">next</a>\n");
    for (k, v) in &r.headers {
        page.push_str(&format!("{k}: {v}\n"));
    }
    Answer::ok(&[("Cache-Control", "max-age=600")], page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_forwarding_headers_cannot_poison_the_cache() {
    let app = App::start(trusting).await;
    let f = front_with(&app, None, Limits::default(), |_| {}).await;
    let attacks: [(&str, &str); 14] = [
        ("X-Forwarded-Host", "evil.example"),
        ("Forwarded", "for=1.2.3.4;host=evil.example;proto=http"),
        ("X-Forwarded-Proto", "evil"),
        ("X-Forwarded-Port", "31337"),
        ("X-Forwarded-Prefix", "/evil"),
        ("X-Forwarded-For", "6.6.6.6"),
        ("X-Original-URL", "/evil"),
        ("X-Rewrite-URL", "/evil"),
        ("X-Original-Host", "evil.example"),
        ("X-Host", "evil.example"),
        ("X-HTTP-Method-Override", "EVIL"),
        ("X-Forwarded-Scheme", "evil"),
        ("X-Forwarded-Server", "evil.example"),
        ("X-Real-IP", "6.6.6.6"),
    ];
    for (i, (name, value)) in attacks.iter().enumerate() {
        let path = format!("/page{i}");
        let poisoned = get(&f.addr, &path, &[(name, value)]).await;
        let page = String::from_utf8_lossy(&poisoned.body).to_ascii_lowercase();
        assert!(
            !page.contains("evil") && !page.contains("6.6.6.6") && !page.contains("31337"),
            "{name} reached the application:\n{page}"
        );
        assert!(
            page.contains("href=\"http://test/next\""),
            "{name}:\n{page}"
        );
        // The edge wrote its own view of the hop.
        let seen = app.last(&path).expect("seen");
        assert_eq!(seen.header("x-forwarded-host"), "test");
        assert_eq!(seen.header("x-forwarded-proto"), "http");
        assert_eq!(seen.header("x-forwarded-for"), "127.0.0.1");
        assert_eq!(
            seen.header("forwarded"),
            "for=127.0.0.1;proto=http;host=test"
        );
        // What a later visitor gets is the clean page.
        let victim = get(&f.addr, &path, &[]).await;
        assert!(cache_status(&victim).contains("hit"));
        assert!(!String::from_utf8_lossy(&victim.body).contains("evil"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_trusted_load_balancer_extends_the_chain_and_names_the_scheme() {
    let app = App::start(trusting).await;
    let f = front_with(&app, None, Limits::default(), |c| {
        c.trusted_proxies = vec!["127.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    let r = get(
        &f.addr,
        "/lb",
        &[
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.example"),
        ],
    )
    .await;
    let seen = app.last("/lb").expect("seen");
    assert_eq!(seen.header("x-forwarded-for"), "203.0.113.9, 127.0.0.1");
    assert_eq!(seen.header("x-forwarded-proto"), "https");
    // Even a trusted hop does not choose the host: the edge keys on Host.
    assert_eq!(seen.header("x-forwarded-host"), "test");
    assert!(String::from_utf8_lossy(&r.body).contains("href=\"https://test/next\""));
    // The https answer is keyed as https: a plain http request does not get it.
    let plain = get(&f.addr, "/lb", &[]).await;
    assert!(String::from_utf8_lossy(&plain.body).contains("href=\"http://test/next\""));
    assert_eq!(app.count("/lb"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_percent_encoding_trick_cannot_store_one_resource_under_another() {
    // A broken origin that does not decode unreserved escapes: `/%61pp.js` is not `/app.js` to it.
    let app = App::start(|r: &Seen| match r.target.as_str() {
        "/app.js" => Answer::ok(&[("Cache-Control", "max-age=600")], "the real script"),
        _ => Answer::ok(&[("Cache-Control", "max-age=600")], "alert('owned')"),
    })
    .await;
    let f = front_with(&app, None, Limits::default(), |_| {}).await;
    let attack = get(&f.addr, "/%61pp.js", &[]).await;
    assert_eq!(attack.body, b"the real script");
    assert!(
        app.last("/%61pp.js").is_none(),
        "the app was asked for the raw target"
    );
    let victim = get(&f.addr, "/app.js", &[]).await;
    assert_eq!(victim.body, b"the real script");
    assert!(cache_status(&victim).contains("hit"));
    // An absurdly long URL is refused, not keyed.
    let long = format!("/{}", "a".repeat(9000));
    assert_eq!(get(&f.addr, &long, &[]).await.status, 414);
}

/// Whether the edge has closed `s` (a read answers end of stream, or the connection resets)
/// within `wait`.
async fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

fn tight() -> Limits {
    Limits {
        max_connections: 12,
        header_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        send_timeout: Duration::from_secs(1),
        ..Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_half_preface_sockets_are_closed_and_real_clients_served_again() {
    let app = App::start(|_: &Seen| Answer::ok(&[("Cache-Control", "max-age=60")], "ok")).await;
    let f = front_with(&app, None, tight(), |_| {}).await;
    let mut squatters = Vec::new();
    for i in 0..12 {
        let mut s = TcpStream::connect(&f.addr).await.expect("connect");
        match i % 3 {
            0 => {}
            1 => s.write_all(b"PRI * HTTP/2.0\r\n").await.expect("send"),
            _ => s
                .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .await
                .expect("send"),
        }
        squatters.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Every slot is taken: a real client is turned away.
    let refused = raw_exchange(
        &f.addr,
        b"GET / HTTP/1.1\r\nHost: test\r\n\r\n",
        Duration::from_millis(300),
    )
    .await;
    assert!(refused.is_empty());
    // Past --header-timeout every squatter is closed, whatever it had begun to speak.
    for s in &mut squatters {
        assert!(closed_within(s, Duration::from_secs(3)).await);
    }
    let served = get(&f.addr, "/", &[]).await;
    assert_eq!(served.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let app = App::start(|_: &Seen| Answer::ok(&[], "ok")).await;
    // (HTTP/1's wait for a next request head is also bounded by --header-timeout: the shorter
    // of the two closes it.)
    let limits = Limits {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(1),
        ..tight()
    };
    let f = front_with(&app, None, limits, |_| {}).await;
    let mut s = TcpStream::connect(&f.addr).await.expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("send");
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).await.expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    assert!(!closed_within(&mut s, Duration::from_millis(400)).await);
    assert!(closed_within(&mut s, Duration::from_secs(3)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_after_the_send_timeout() {
    let app = App::start(|r: &Seen| match r.target.as_str() {
        "/stream" => Answer::Endless {
            headers: vec![("Cache-Control".into(), "no-store".into())],
        },
        _ => Answer::ok(&[], "ok"),
    })
    .await;
    let f = front_with(&app, None, tight(), |_| {}).await;
    let mut s = TcpStream::connect(&f.addr).await.expect("connect");
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("send");
    // Read nothing while the buffers fill, then drain: the edge must have cut the stream.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        closed_within(&mut s, Duration::from_secs(10)).await,
        "a client that reads nothing keeps an endless response open"
    );
    // And the edge still answers others.
    assert_eq!(request(&f.addr, "GET", "/other", &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_slot() {
    let app = App::start(|_: &Seen| Answer::ok(&[], "ok")).await;
    let limits = Limits {
        max_connections_per_ip: 4,
        ..tight()
    };
    let f = front_with(&app, None, limits, |_| {}).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(TcpStream::connect(&f.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fifth = TcpStream::connect(&f.addr).await.expect("connect");
    assert!(closed_within(&mut fifth, Duration::from_secs(1)).await);
    // Another address still gets in.
    let sock = TcpSocket::new_v4().expect("socket");
    sock.bind("127.0.0.2:0".parse().expect("addr"))
        .expect("bind");
    let mut other = sock
        .connect(f.addr.parse().expect("addr"))
        .await
        .expect("connect");
    other
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut reply = Vec::new();
    other.read_to_end(&mut reply).await.expect("read");
    assert!(reply.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_tunnels_hold_a_connection_slot_and_close_when_idle() {
    let app = App::start(crate::proxy::echo_or_plain).await;
    let limits = Limits {
        max_connections: 1,
        ..tight()
    };
    let f = front_with(&app, None, limits, |_| {}).await;
    let (mut tunnel, head) = crate::proxy::upgrade_to_echo(&f.addr).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    tunnel.write_all(b"ping").await.expect("send");
    let mut back = [0u8; 4];
    tunnel.read_exact(&mut back).await.expect("echo");
    // The tunnel holds the only slot.
    let refused = raw_exchange(
        &f.addr,
        b"GET / HTTP/1.1\r\nHost: test\r\n\r\n",
        Duration::from_millis(300),
    )
    .await;
    assert!(refused.is_empty(), "{}", String::from_utf8_lossy(&refused));
    // Idle past --idle-timeout, the tunnel closes and gives its slot back.
    assert!(closed_within(&mut tunnel, Duration::from_secs(4)).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get(&f.addr, "/", &[]).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_path_only_purge_of_a_percent_encoded_url_purges_it_and_guessing_is_limited() {
    let app = App::start(|_: &Seen| Answer::ok(&[("Cache-Control", "max-age=600")], "home")).await;
    let f = front_with(&app, None, Limits::default(), |_| {}).await;
    get(&f.addr, "/~user", &[]).await;
    assert!(cache_status(&get(&f.addr, "/%7euser", &[]).await).contains("hit"));
    let purge = |token: &'static str, body: &'static str| {
        let addr = f.addr.clone();
        async move {
            let raw = format!(
                "POST /.tinycdn/purge HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            String::from_utf8_lossy(
                &raw_exchange(&addr, raw.as_bytes(), Duration::from_secs(2)).await,
            )
            .into_owned()
        }
    };
    let answer = purge("sekrit-token", r#"{"urls":["/%7euser"]}"#).await;
    assert!(answer.contains("\"purged\":1"), "{answer}");
    assert!(cache_status(&get(&f.addr, "/~user", &[]).await).contains("fwd=uri-miss"));
    // Ten wrong guesses a minute, then the address is refused unheard (even the right token).
    for _ in 0..10 {
        assert!(purge("guess", "{}").await.starts_with("HTTP/1.1 401"));
    }
    assert!(purge("guess", "{}").await.starts_with("HTTP/1.1 429"));
    assert!(purge("sekrit-token", r#"{"keys":["x"]}"#)
        .await
        .starts_with("HTTP/1.1 429"));
    assert!(
        f.proxy()
            .counters
            .purge_refused
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 12
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vary_explosion_is_bounded_and_evicts_nothing_else() {
    let app = App::start(|r: &Seen| match r.target.as_str() {
        // S3 with CORS answers `Vary: Origin`; here a field the attacker fills at will.
        "/v" => Answer::ok(
            &[("Cache-Control", "max-age=600"), ("Vary", "X-Variant")],
            format!("variant {}", r.header("x-variant")),
        ),
        _ => Answer::ok(&[("Cache-Control", "max-age=600")], "keep me"),
    })
    .await;
    let f = front_with(&app, None, Limits::default(), |c| c.max_entries = 100).await;
    get(&f.addr, "/keep", &[]).await;
    for i in 0..200 {
        let v = i.to_string();
        let r = get(&f.addr, "/v", &[("X-Variant", &v)]).await;
        assert_eq!(r.body, format!("variant {v}").as_bytes());
    }
    assert!(
        f.proxy().stored_responses() <= 33,
        "{} stored",
        f.proxy().stored_responses()
    );
    // The newest variants are still served; the other key was never evicted for them.
    let r = get(&f.addr, "/v", &[("X-Variant", "199")]).await;
    assert!(cache_status(&r).contains("hit"), "{}", cache_status(&r));
    let keep = get(&f.addr, "/keep", &[]).await;
    assert!(
        cache_status(&keep).contains("hit"),
        "{}",
        cache_status(&keep)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_urls_cannot_grow_the_response_index_past_its_byte_bound() {
    let app = App::start(|_: &Seen| Answer::ok(&[("Cache-Control", "max-age=600")], "page")).await;
    let bound = 200_000;
    let f = front_with(&app, None, Limits::default(), |c| c.max_index_bytes = bound).await;
    let long = "a".repeat(7000);
    for i in 0..100 {
        let r = get(&f.addr, &format!("/p?{long}{i}"), &[]).await;
        assert_eq!(r.status, 200);
    }
    let p = f.proxy();
    assert!(p.index_bytes() <= bound, "{} bytes held", p.index_bytes());
    assert!(
        (5..100).contains(&p.stored_responses()),
        "{} stored",
        p.stored_responses()
    );
    let newest = get(&f.addr, &format!("/p?{long}99"), &[]).await;
    assert!(
        cache_status(&newest).contains("hit"),
        "{}",
        cache_status(&newest)
    );
    let oldest = get(&f.addr, &format!("/p?{long}0"), &[]).await;
    assert!(
        !cache_status(&oldest).contains("hit"),
        "{}",
        cache_status(&oldest)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_routes_are_not_for_the_public_and_errors_name_no_address() {
    use std::sync::Arc;
    use tinycdn_edge::{AdminPolicy, AdminSide};
    let app = App::start(|r: &Seen| match r.target.as_str() {
        "/broken" => Answer::Raw(b"garbage\r\n\r\n".to_vec()),
        _ => Answer::ok(&[], "app"),
    })
    .await;
    // Metrics and status only for --admin-allow (here: nobody); health and content for all.
    let f = front_with(&app, None, Limits::default(), |_| {}).await;
    f.edge.set_admin(AdminPolicy {
        separate: false,
        allow: Vec::new(),
    });
    assert_eq!(get(&f.addr, "/.tinycdn/metrics", &[]).await.status, 403);
    assert_eq!(get(&f.addr, "/.tinycdn/status.json", &[]).await.status, 403);
    assert_eq!(get(&f.addr, "/.tinycdn/healthz", &[]).await.status, 200);
    // An error tells the client what failed, not where the application is.
    let broken = get(&f.addr, "/broken", &[]).await;
    assert_eq!(broken.status, 502);
    let text = String::from_utf8_lossy(&broken.body).into_owned();
    let port = app.addr().rsplit(':').next().expect("port");
    assert!(!text.contains(app.addr()) && !text.contains(port), "{text}");

    // With --admin-listen they move there, and only there.
    let f = front_with(&app, None, Limits::default(), |_| {}).await;
    f.edge.set_admin(AdminPolicy {
        separate: true,
        ..AdminPolicy::default()
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let admin = l.local_addr().expect("addr").to_string();
    let side = Arc::new(AdminSide(f.edge.clone()));
    let task = tokio::spawn(tinycdn_server::serve(l, side, Limits::default(), None));
    assert_eq!(get(&f.addr, "/.tinycdn/metrics", &[]).await.status, 404);
    assert_eq!(get(&f.addr, "/.tinycdn/healthz", &[]).await.status, 404);
    assert_eq!(get(&f.addr, "/", &[]).await.body, b"app");
    assert_eq!(get(&admin, "/.tinycdn/metrics", &[]).await.status, 200);
    assert_eq!(get(&admin, "/.tinycdn/healthz", &[]).await.status, 200);
    assert_eq!(get(&admin, "/", &[]).await.status, 404);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_pins_no_fill_memory() {
    let (a, b) = (
        crate::proxy::bytes(1_500_000, 3),
        crate::proxy::bytes(1_500_000, 4),
    );
    let (a2, b2) = (a.clone(), b.clone());
    let app = App::start(move |r: &Seen| {
        let body = if r.target == "/a" {
            a2.clone()
        } else {
            b2.clone()
        };
        Answer::ok(&[("Cache-Control", "max-age=600")], body)
    })
    .await;
    // Fills being stored may hold 2 MB together: one stalled reader of /a used to keep its
    // 1.5 MB until it read it all, and /b then went unstored.
    let f = front_with(&app, None, Limits::default(), |c| c.fill_memory = 2_000_000).await;
    let mut stalled = TcpStream::connect(&f.addr).await.expect("connect");
    stalled
        .write_all(b"GET /a HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    for _ in 0..100 {
        if f.proxy().stored_responses() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(f.proxy().stored_responses(), 1, "/a was stored");
    assert_eq!(f.proxy().fill_bytes(), 0, "the stalled reader pins nothing");
    let other = get(&f.addr, "/b", &[]).await;
    assert_eq!(other.body, b);
    assert!(
        cache_status(&other).contains("stored"),
        "{}",
        cache_status(&other)
    );
    // The stalled client still gets every byte, the rest from the stored response.
    let mut raw = Vec::new();
    stalled.read_to_end(&mut raw).await.expect("read");
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    assert!(raw[at..] == a[..], "the whole body, unchanged");
}
