//! Test support: a minimal HTTP/1.1 client over a raw socket, so tests see exactly what a server
//! sends (status, headers, body bytes) with no client-side caching or decoding in between; and
//! hostile mirrors — byte-level (wrong, truncated, endless, stalled or dripping answers) and
//! metadata-level (old, expired, mixed or foreign-signed metadata, from real stores) — and a
//! slowing proxy, so that edges and pulls can be run against bad mirrors next to good ones; and a
//! scripted application ([`app`]) for edges that front one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tinycdn_core::chunking::ChunkParams;
use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::root::{Root, SignedRoot};
use tinycdn_core::sign::{SecretKey, SignatureSet};
use tinycdn_store::Store;
use tinycdn_volume::deltas::DeltaOptions;
use tinycdn_volume::publish::{publish, PublishOptions};
use tinycdn_volume::snapshot::{make_timestamp, Freshness};
use tinycdn_volume::trust::Trust;
use tinycdn_volume::NoProgress;

pub mod app;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A response read whole.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: HashMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value, or "".
    #[must_use]
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

/// One HTTP/1.1 request on its own connection (`Connection: close`), read to the end.
///
/// # Panics
/// When the server does not answer with an HTTP/1.1 response (this is test support).
pub async fn request(addr: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8(raw[..split].to_vec()).expect("utf-8 head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .expect("status line")
        .split(' ')
        .nth(1)
        .expect("code")
        .parse()
        .expect("number");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// A GET request.
///
/// # Panics
/// As [`request`].
pub async fn get(addr: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    request(addr, "GET", target, headers).await
}

/// How a hostile mirror answers every `GET` (with `Range` for ranged requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lie {
    /// Wrong bytes of the right length (a ranged request), or 64 wrong bytes.
    WrongBytes,
    /// Announces a length, sends half of it, closes.
    Truncated,
    /// Sends more than asked: twice the range, or an endless body announced as 1 TiB.
    Oversized,
    /// Accepts the request and never answers.
    Stall,
    /// Answers correctly-sized but one byte every 200 ms (a slow-retrieval attack).
    Drip,
}

/// Starts a hostile mirror on 127.0.0.1; returns its `http://` URL.
///
/// # Panics
/// When it cannot bind (this is test support).
pub async fn hostile_mirror(lie: Lie) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("http://{}", l.local_addr().expect("addr"));
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                if !req.starts_with("GET ") {
                    return;
                }
                let range = req
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("range: bytes=")
                            .or_else(|| l.strip_prefix("Range: bytes="))
                    })
                    .and_then(|r| r.trim().split_once('-'))
                    .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
                if lie == Lie::Stall {
                    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                    return;
                }
                let (status, extra, len) = match range {
                    Some((a, b)) => (
                        "206 Partial Content",
                        format!("Content-Range: bytes {a}-{b}/*\r\n"),
                        b - a + 1,
                    ),
                    None => ("200 OK", String::new(), 64),
                };
                let (announce, send) = match (lie, range) {
                    (Lie::Truncated, _) => (len, len / 2),
                    (Lie::Oversized, Some(_)) => (len * 2, len * 2),
                    (Lie::Oversized, None) => (1 << 40, u64::MAX),
                    _ => (len, len),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {announce}\r\n{extra}Connection: close\r\n\r\n"
                );
                if s.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                if lie == Lie::Drip {
                    for _ in 0..send {
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        if s.write_all(&[0x42]).await.is_err() {
                            return;
                        }
                    }
                    return;
                }
                let block = vec![0x42u8; 64 * 1024];
                let mut left = send;
                while left > 0 {
                    let n = usize::try_from(left.min(block.len() as u64)).unwrap_or(block.len());
                    if s.write_all(&block[..n]).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
            });
        }
    });
    addr
}

/// A TCP proxy to `target` (`http://host:port`) that delays each request by `delay`, so that a
/// mirror behind it ranks after faster ones.
///
/// # Panics
/// When it cannot bind (this is test support).
pub async fn slow_proxy(target: &str, delay: std::time::Duration) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("http://{}", l.local_addr().expect("addr"));
    let target = target.trim_start_matches("http://").to_owned();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = l.accept().await else {
                continue;
            };
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(upstream) = TcpStream::connect(&target).await else {
                    return;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut ur, mut uw) = upstream.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut ur, &mut cw).await;
                });
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    tokio::time::sleep(delay).await;
                    if uw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A trust root of this `version`, never expiring, with `key` holding every role.
///
/// # Panics
/// Never for a valid key (this is test support).
#[must_use]
pub fn single_key_root(key: &SecretKey, version: u64) -> Trust {
    let mut root = Root::single(&key.public(), i64::MAX);
    root.version = version;
    let mut signed = SignedRoot {
        root: root.normalize().expect("valid"),
        signatures: SignatureSet::default(),
    };
    signed.sign(key);
    Trust::from_root(signed)
}

/// Starts an origin serving the store at `dir` on 127.0.0.1; returns its `http://` URL.
///
/// # Panics
/// When the store cannot be opened or the port bound (this is test support).
pub async fn start_origin(dir: &Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("http://{}", listener.local_addr().expect("addr"));
    let store = Store::open(dir).expect("open store");
    tokio::spawn(crate::serve(
        listener,
        crate::Origin::new(store),
        crate::Limits::default(),
        None,
    ));
    addr
}

/// An honest origin and, next to it, real origins that each lie about *metadata* in one way,
/// every lie validly signed where a signature can be had: the honest origin holds versions 1
/// and 2 of `site@stable` with a fresh timestamp and snapshot.
pub struct MetadataLiars {
    /// The honest origin's URL.
    pub honest: String,
    /// The honest store's directory.
    pub honest_store: PathBuf,
    /// Each lying origin: what it does, and its URL.
    pub liars: Vec<(&'static str, String)>,
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

fn replace_file(path: &Path, bytes: &[u8]) {
    std::fs::remove_file(path).expect("rm");
    std::fs::write(path, bytes).expect("write");
}

/// Builds and starts [`MetadataLiars`] under `dir` from two source trees, signed by `key`:
/// - *old but signed*: version 1 only (an older tag, snapshot and timestamp);
/// - *expired metadata*: the honest store with a timestamp that has expired (a frozen mirror);
/// - *mixed snapshot*: the honest timestamp and snapshot next to the version-1 tag;
/// - *snapshot not the one timestamped*: the honest timestamp next to the version-1 snapshot;
/// - *unknown signer*: both versions signed by another key.
///
/// # Panics
/// On any setup failure (this is test support).
pub async fn metadata_liars(
    dir: &Path,
    v1: &Path,
    v2: &Path,
    key: &SecretKey,
    chunking: ChunkParams,
) -> MetadataLiars {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let fresh = Freshness {
        snapshot_expires: now + 3_600,
        timestamp_expires: now + 3_600,
    };
    let publish_into = |store: &Store, src: &Path, created: i64, key: &SecretKey| {
        publish(
            store,
            &PublishOptions {
                source: src,
                volume: VolumeName::new("site").expect("valid"),
                tag: Some(TagName::new("stable").expect("valid")),
                key,
                created,
                chunking,
                deltas: DeltaOptions::default(),
                overlay: None,
                freshness: Some(fresh),
            },
            &NoProgress,
        )
        .expect("publish");
    };
    let honest_store = dir.join("honest");
    let honest = Store::init(&honest_store).expect("init");
    publish_into(&honest, v1, 1, key);
    let old = dir.join("old");
    copy_tree(&honest_store, &old);
    publish_into(&honest, v2, 2, key);

    let expired = dir.join("expired");
    copy_tree(&honest_store, &expired);
    {
        let s = Store::open(&expired).expect("open");
        let _lock = s.lock().expect("lock");
        make_timestamp(&s, key, now - 1).expect("timestamp");
    }
    let mixed = dir.join("mixed");
    copy_tree(&honest_store, &mixed);
    let old_tag = std::fs::read(old.join("tags/site/stable")).expect("old tag");
    replace_file(&mixed.join("tags/site/stable"), &old_tag);
    let unnamed = dir.join("unnamed-snapshot");
    copy_tree(&honest_store, &unnamed);
    let old_snapshot = std::fs::read(old.join("snapshot")).expect("old snapshot");
    replace_file(&unnamed.join("snapshot"), &old_snapshot);
    let impostor = dir.join("impostor");
    let other = SecretKey::from_seed([0x66; 32]);
    let s = Store::init(&impostor).expect("init");
    publish_into(&s, v1, 1, &other);
    publish_into(&s, v2, 2, &other);

    let mut liars = Vec::new();
    for (what, store) in [
        ("old but signed", &old),
        ("expired metadata", &expired),
        ("mixed snapshot", &mixed),
        ("snapshot not the one timestamped", &unnamed),
        ("unknown signer", &impostor),
    ] {
        liars.push((what, start_origin(store).await));
    }
    MetadataLiars {
        honest: start_origin(&honest_store).await,
        honest_store,
        liars,
    }
}
