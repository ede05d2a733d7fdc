//! Regional clusters: edges on 127.0.0.2, .3 and .4 (one port, as in a Kubernetes headless
//! Service) sharing their chunks, so the region fills each chunk from the origin once.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tinycdn_telemetry::scrape;

use super::support::*;

/// The media files under `root` (symlinks left out), relative to it.
fn files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        for e in fs::read_dir(root.join(&rel)).expect("read_dir") {
            let e = e.expect("entry");
            let kind = e.file_type().expect("file type");
            let path = rel.join(e.file_name());
            if kind.is_dir() {
                todo.push(path);
            } else if kind.is_file() {
                out.push(path.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// A region member listening on `ip:port`, advertising that address; `source` names the
/// members (`--peer …`, `--peers-file F`, `--peers-dns …`).
fn member(d: &Path, origin: &str, ip: &str, port: u16, source: &[&str]) -> Served {
    let listen = format!("{ip}:{port}");
    let advertise = format!("http://{listen}");
    let mut args = vec![
        "edge",
        "--upstream",
        origin,
        "--trust",
        "pub.key.pub",
        "--listen",
        &listen,
        "--advertise",
        &advertise,
        "--peers-refresh",
        "1",
    ];
    args.extend_from_slice(source);
    let served = Served::spawn(d, &args);
    assert_eq!(served.url, advertise, "the edge serves where it advertises");
    served
}

fn metrics(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-fsS", &format!("{url}/metrics")])
        .output()
        .expect("curl");
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Chunks an edge filled from the origin: as owner, or after the peers failed.
fn origin_fills(url: &str) -> f64 {
    let m = metrics(url);
    scrape::sum(&m, "tinycdn_region_fills_total", &[("source", "owner")])
        + scrape::sum(&m, "tinycdn_region_fills_total", &[("source", "fallback")])
}

fn metric(url: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape::sum(&metrics(url), name, labels)
}

/// Chunks a lone edge (no region) fetched from the origin.
fn misses(url: &str) -> f64 {
    metric(
        url,
        "tinycdn_cache_chunks_total",
        &[("tier", "upstream"), ("result", "miss")],
    )
}

/// Fetches every file of `tag` from `edge` and checks each body against `root`.
fn fetch_all(edge: &str, tag: &str, root: &Path) {
    for f in files(root) {
        let (status, body) = http_get(&format!("{edge}/v/site-media@{tag}/{f}"));
        assert_eq!(status, 200, "{edge} {f}");
        let want = fs::read(root.join(&f)).expect("read");
        assert!(
            body == want,
            "{edge} served {f} wrong: {} bytes of {}, first difference at {:?}",
            body.len(),
            want.len(),
            body.iter().zip(&want).position(|(a, b)| a != b)
        );
    }
}

/// A port free on every one of `ips` now, outside the kernel's ephemeral range (32768 and up on
/// Linux), so that the members' own outgoing connections, bound to their addresses, cannot be
/// holding it when the next member starts.
fn region_port(ips: &[&str]) -> u16 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seed = u64::from(std::process::id())
        ^ u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos()),
        );
    for _ in 0..1000 {
        let x = seed.wrapping_add(NEXT.fetch_add(7919, Ordering::Relaxed));
        let port = 20_000 + u16::try_from(x % 12_000).expect("small");
        if ips
            .iter()
            .all(|ip| std::net::TcpListener::bind((*ip, port)).is_ok())
        {
            return port;
        }
    }
    panic!("no port free on {ips:?}");
}

/// Waits until `check` holds (membership refreshes run every second).
#[track_caller]
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A file of random bytes (distinct chunks from everything published before).
fn random_file(path: &Path, len: usize) {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ len as u64;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, bytes).expect("write");
}

#[test]
fn a_region_fills_each_chunk_from_the_origin_once() {
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    let origin = Served::start(d, &[]);
    let ips = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
    let port = region_port(&ips);
    // A peer that is slow only because the whole suite shares two cores must not count as a
    // failed one: the exact fill counts below are about a healthy region.
    let peers: Vec<String> = ips
        .iter()
        .flat_map(|ip| ["--peer".to_owned(), format!("http://{ip}:{port}")])
        .chain(["--peer-timeout".to_owned(), "60".to_owned()])
        .collect();
    let peer_args: Vec<&str> = peers.iter().map(String::as_str).collect();
    let mut edges: Vec<Served> = ips
        .iter()
        .map(|ip| member(d, &origin.url, ip, port, &peer_args))
        .collect();
    let lone = Served::edge(d, &origin.url, &[]);

    for e in &edges {
        assert_eq!(metric(&e.url, "tinycdn_region_members", &[]), 3.0);
        fetch_all(&e.url, "stable", &d.join("media"));
    }
    fetch_all(&lone.url, "stable", &d.join("media"));
    let unique = misses(&lone.url);
    assert!(unique > 3.0, "the media makes several chunks: {unique}");
    let region: f64 = edges.iter().map(|e| origin_fills(&e.url)).sum();
    assert_eq!(
        region, unique,
        "three members filled from the origin as often as one lone edge"
    );
    let peer_fills: f64 = edges
        .iter()
        .map(|e| metric(&e.url, "tinycdn_region_fills_total", &[("source", "peer")]))
        .sum();
    let served: f64 = edges
        .iter()
        .map(|e| {
            metric(
                &e.url,
                "tinycdn_region_peer_requests_served_total",
                &[("result", "hit")],
            ) + metric(
                &e.url,
                "tinycdn_region_peer_requests_served_total",
                &[("result", "filled")],
            )
        })
        .sum();
    assert!(peer_fills > 0.0, "members filled from each other");
    assert_eq!(peer_fills, served, "every peer fill was answered by a peer");
    for e in &edges {
        assert_eq!(
            metric(
                &e.url,
                "tinycdn_region_fills_total",
                &[("source", "fallback")]
            ),
            0.0,
            "no member failed"
        );
    }

    // The peer route answers members only; this test runs from 127.0.0.1.
    let chunk = "0".repeat(64);
    let peer_path = format!("/.tinycdn/peer/chunk/{chunk}?object={chunk}&offset=0&len=10");
    let (status, _) = http_get(&format!("{}{peer_path}", edges[0].url));
    assert_eq!(status, 403, "a non-member is refused");
    let from_member = |path: &str| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(["--interface", "127.0.0.3"])
            .arg(format!("{}{path}", edges[0].url))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        from_member(&format!("/.tinycdn/peer/chunk/{chunk}?offset=0&len=10")),
        "400",
        "a peer request without its object is refused"
    );
    assert_eq!(
        from_member(&format!(
            "/.tinycdn/peer/chunk/{chunk}?object={chunk}&offset=0&len=999999999999"
        )),
        "400",
        "an absurd length is refused"
    );
    let unknown = from_member(&peer_path);
    assert!(
        unknown == "404" || unknown == "502",
        "a chunk the origin does not have: {unknown}"
    );

    // A member dies; the survivors still serve everything, new content filled once.
    let before: f64 = edges[..2].iter().map(|e| origin_fills(&e.url)).sum();
    let lone_before = misses(&lone.url);
    drop(edges.pop());
    // Many small files: many chunks, so that each member owns some.
    for i in 0..40 {
        random_file(&d.join(format!("next/blob-{i:02}.bin")), (48 << 10) + i);
    }
    fs::write(d.join("next/index.html"), "<h1>next</h1>\n").expect("write");
    publish(d, "next", "next");
    for e in &edges {
        fetch_all(&e.url, "next", &d.join("next"));
        fetch_all(&e.url, "stable", &d.join("media"));
    }
    fetch_all(&lone.url, "next", &d.join("next"));
    let after: f64 = edges.iter().map(|e| origin_fills(&e.url)).sum();
    let new_unique = misses(&lone.url) - lone_before;
    assert!(new_unique >= 41.0, "{new_unique}");
    assert_eq!(
        after - before,
        new_unique,
        "the survivors filled each new chunk once between them"
    );
    // Passive health: the dead member is tried, then skipped for 1 s, 2 s, 4 s… — not asked
    // again for each of the third of the new chunks it owned.
    for e in &edges {
        let unreachable = metric(
            &e.url,
            "tinycdn_region_peer_errors_total",
            &[("reason", "unreachable")],
        );
        assert!(
            (1.0..=4.0).contains(&unreachable),
            "{}: the dead member was asked {unreachable} times",
            e.url
        );
    }

    // Mid-run: clients keep fetching new content from the survivors while the member comes
    // back, and again while it is killed. No client sees an error; the region still fills each
    // chunk about once (a fill cut off by the kill may be made again by the asker; see below
    // for a member coming back).
    let region_fills =
        |edges: &[Served]| -> f64 { edges.iter().map(|e| origin_fills(&e.url)).sum() };
    for (round, tag) in ["third", "fourth"].iter().enumerate() {
        let root = d.join(tag);
        for i in 0..40 {
            random_file(
                &root.join(format!("blob-{i:02}.bin")),
                (40 << 10) + 97 * round + i,
            );
        }
        publish(d, tag, tag);
        let lone_before = misses(&lone.url);
        let before = region_fills(&edges);
        // The clients of the two members that stay up (the killed one's clients would fail
        // over at their load balancer).
        let clients: Vec<_> = edges[..2]
            .iter()
            .map(|e| {
                let (url, root, tag) = (e.url.clone(), root.clone(), (*tag).to_owned());
                std::thread::spawn(move || {
                    for _ in 0..3 {
                        fetch_all(&url, &tag, &root);
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150));
        let dead_fills = if round == 0 {
            edges.push(member(d, &origin.url, ips[2], port, &peer_args));
            0.0
        } else {
            let back = edges.pop().expect("the member that came back");
            let fills = origin_fills(&back.url);
            drop(back);
            fills
        };
        for c in clients {
            c.join().expect("no client saw an error");
        }
        fetch_all(&lone.url, tag, &root);
        let unique = misses(&lone.url) - lone_before;
        let filled = region_fills(&edges) - before + dead_fills;
        // A member coming back owns its third of the chunks again with an empty cache: the
        // chunks another member filled while it was away are filled once more when they are
        // next missed (no handoff between owners), so up to a third more than once each.
        assert!(
            filled >= unique - 2.0 && filled <= unique * 1.4 + 2.0,
            "{tag}: the region filled {filled} chunks for {unique} unique ones"
        );
    }
}

#[test]
fn members_come_from_a_file_and_change_while_running() {
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    let origin = Served::start(d, &[]);
    let port = region_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let url = |ip: &str| format!("http://{ip}:{port}");
    let list = d.join("peers.txt");
    fs::write(
        &list,
        format!(
            "# the region\n{}\n{},weight=2\n",
            url("127.0.0.2"),
            url("127.0.0.3")
        ),
    )
    .expect("write");
    let source = ["--peers-file", "peers.txt"];
    let a = member(d, &origin.url, "127.0.0.2", port, &source);
    let b = member(d, &origin.url, "127.0.0.3", port, &source);
    assert_eq!(metric(&a.url, "tinycdn_region_members", &[]), 2.0);
    fetch_all(&a.url, "stable", &d.join("media"));
    fetch_all(&b.url, "stable", &d.join("media"));
    assert!(metric(&b.url, "tinycdn_region_fills_total", &[("source", "peer")]) > 0.0);

    // A third member joins: the others read the file again and hand it part of the chunks.
    fs::write(
        &list,
        format!(
            "{}\n{},weight=2\n{}\n",
            url("127.0.0.2"),
            url("127.0.0.3"),
            url("127.0.0.4")
        ),
    )
    .expect("write");
    let c = member(d, &origin.url, "127.0.0.4", port, &source);
    for e in [&a, &b, &c] {
        eventually("three members", || {
            metric(&e.url, "tinycdn_region_members", &[]) == 3.0
        });
    }
    assert_eq!(
        metric(&a.url, "tinycdn_region_membership_changes_total", &[]),
        1.0
    );
    let moved = metric(&a.url, "tinycdn_region_ownership_moved_ratio", &[]);
    assert!(
        (0.1..0.45).contains(&moved),
        "a quarter of the chunks move to a member of weight 1 among 4: {moved}"
    );
    fetch_all(&c.url, "stable", &d.join("media"));
    assert!(metric(&c.url, "tinycdn_region_fills_total", &[("source", "peer")]) > 0.0);

    // A broken file keeps the members it had.
    fs::write(&list, "not a url\n").expect("write");
    eventually("a refresh error", || {
        metric(&a.url, "tinycdn_region_refresh_errors_total", &[]) > 0.0
    });
    assert_eq!(metric(&a.url, "tinycdn_region_members", &[]), 3.0);
}

#[test]
fn members_come_from_dns() {
    let dir = setup();
    let d = dir.path();
    publish(d, "media", "stable");
    let origin = Served::start(d, &[]);
    let port = region_port(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]);
    let dns_port = free_port();
    let hosts = d.join("hosts");
    fs::write(
        &hosts,
        "127.0.0.2 edges.region.test\n127.0.0.3 edges.region.test\n",
    )
    .expect("write");
    let mut dnsmasq = Command::new(tinycdn_objstore::testing::server_binary("dnsmasq"))
        .arg("--no-daemon")
        .arg(format!("--port={dns_port}"))
        .args([
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--local-ttl=0",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--user=root",
        ])
        .arg(format!("--addn-hosts={}", hosts.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("dnsmasq runs");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = dnsmasq.id().to_string();
    let _dnsmasq = Kill(&mut dnsmasq);
    let server = format!("127.0.0.1:{dns_port}");
    let target = format!("edges.region.test:{port}");
    let source = [
        "--peers-dns",
        target.as_str(),
        "--peers-dns-server",
        server.as_str(),
    ];
    let a = member(d, &origin.url, "127.0.0.2", port, &source);
    let b = member(d, &origin.url, "127.0.0.3", port, &source);
    for e in [&a, &b] {
        eventually("two members from DNS", || {
            metric(&e.url, "tinycdn_region_members", &[]) == 2.0
        });
    }
    fetch_all(&a.url, "stable", &d.join("media"));
    fetch_all(&b.url, "stable", &d.join("media"));
    assert!(metric(&b.url, "tinycdn_region_fills_total", &[("source", "peer")]) > 0.0);

    // A pod is added to the Service: the name gets a third address.
    fs::write(
        &hosts,
        "127.0.0.2 edges.region.test\n127.0.0.3 edges.region.test\n127.0.0.4 edges.region.test\n",
    )
    .expect("write");
    let hup = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(hup.success());
    let c = member(d, &origin.url, "127.0.0.4", port, &source);
    for e in [&a, &b, &c] {
        eventually("three members from DNS", || {
            metric(&e.url, "tinycdn_region_members", &[]) == 3.0
        });
    }
    fetch_all(&c.url, "stable", &d.join("media"));
    assert!(metric(&c.url, "tinycdn_region_fills_total", &[("source", "peer")]) > 0.0);
}

#[test]
fn a_region_is_refused_when_misconfigured() {
    let dir = setup();
    let d = dir.path();
    let refused = |region: &[&str], code: i32| {
        let mut args = vec![
            "edge",
            "--upstream",
            "http://127.0.0.1:9",
            "--trust",
            "pub.key.pub",
        ];
        args.extend_from_slice(region);
        fails(&args, d, code)
    };
    let port = region_port(&["127.0.0.2"]);
    let listen = format!("127.0.0.2:{port}");
    let me = format!("http://{listen}");
    let err = refused(
        &[
            "--listen",
            &listen,
            "--advertise",
            &me,
            "--peer",
            "http://127.0.0.3:8080",
            "--peer",
            "http://127.0.0.4:8080",
        ],
        1,
    );
    assert!(err.contains("not among"), "{err}");
    let err = refused(
        &[
            "--advertise",
            "http://127.0.0.2:8080",
            "--peer",
            "http://127.0.0.2:8080,weight=0",
        ],
        1,
    );
    assert!(err.contains("weight"), "{err}");
    let err = refused(&["--peer", "http://127.0.0.2:8080"], 2);
    assert!(err.contains("--advertise"), "{err}");
}
