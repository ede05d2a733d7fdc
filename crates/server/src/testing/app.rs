//! A scripted application for tests of an edge that fronts one: a real HTTP/1.1 server on
//! 127.0.0.1 (keep-alive, `Content-Length` request bodies) whose every answer the test decides
//! from the request — well-formed responses, and the faults an application can commit: garbage
//! heads, bodies shorter or longer than announced, endless bodies, stalls before the head or
//! inside the body, a `101 Switching Protocols` that then echoes bytes. It counts what it is
//! asked, so tests can assert how many requests reached it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request as the application received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Request target.
    pub target: String,
    /// Header fields (names lowercased), in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Seen {
    /// The first value of a header, or "".
    #[must_use]
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// How the application answers one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A well-formed response with `Content-Length`, after `delay`.
    Respond {
        /// Status code.
        status: u16,
        /// Header fields.
        headers: Vec<(String, String)>,
        /// Body.
        body: Vec<u8>,
        /// Wait before answering.
        delay: Duration,
    },
    /// These exact bytes, then the connection closes.
    Raw(Vec<u8>),
    /// A head announcing `announced` body bytes, `sent` of them, then the connection closes.
    Truncated {
        /// Header fields besides `Content-Length`.
        headers: Vec<(String, String)>,
        /// `Content-Length`.
        announced: usize,
        /// Bytes actually sent.
        sent: usize,
    },
    /// A chunked body that never ends (64 KiB chunks until the peer goes away).
    Endless {
        /// Header fields besides `Transfer-Encoding`.
        headers: Vec<(String, String)>,
    },
    /// No answer at all (the connection stays open).
    Stall,
    /// A head and the first `sent` bytes of an announced body of `announced`, then silence.
    StallInBody {
        /// `Content-Length`.
        announced: usize,
        /// Bytes sent before the stall.
        sent: usize,
    },
    /// `101 Switching Protocols` to `Upgrade: echo`, then every byte read is written back.
    Echo,
}

impl Answer {
    /// A 200 with these header fields and body.
    #[must_use]
    pub fn ok(headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        Self::with(200, headers, body)
    }

    /// A response of `status` with these header fields and body.
    #[must_use]
    pub fn with(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        Self::Respond {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// The same answer after `delay`.
    #[must_use]
    pub fn after(self, d: Duration) -> Self {
        match self {
            Self::Respond {
                status,
                headers,
                body,
                ..
            } => Self::Respond {
                status,
                headers,
                body,
                delay: d,
            },
            other => other,
        }
    }
}

type Script = dyn Fn(&Seen) -> Answer + Send + Sync;

/// A running application.
pub struct App {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Every request received, in order.
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Connections accepted.
    pub connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl App {
    /// Starts the application; `script` decides every answer.
    ///
    /// # Panics
    /// When it cannot bind (this is test support).
    pub async fn start(script: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", l.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let script: Arc<Script> = Arc::new(script);
        let (s2, c2) = (seen.clone(), connections.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = l.accept().await else {
                    continue;
                };
                c2.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(stream, script.clone(), s2.clone()));
            }
        });
        Self {
            url,
            seen,
            connections,
            task,
        }
    }

    /// Requests received for `target`.
    #[must_use]
    pub fn count(&self, target: &str) -> usize {
        self.seen
            .lock()
            .map_or(0, |s| s.iter().filter(|r| r.target == target).count())
    }

    /// The last request received for `target`.
    #[must_use]
    pub fn last(&self, target: &str) -> Option<Seen> {
        self.seen
            .lock()
            .ok()?
            .iter()
            .rev()
            .find(|r| r.target == target)
            .cloned()
    }

    /// `host:port`.
    #[must_use]
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

/// Reads one request head and body from `s` (with what was already buffered in `buf`).
async fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Seen> {
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let mut chunk = [0u8; 8192];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end + 4);
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < len {
        let mut chunk = [0u8; 8192];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf.drain(..len).collect();
    Some(Seen {
        method,
        target,
        headers,
        body,
    })
}

fn head(status: u16, headers: &[(String, String)], extra: &str) -> String {
    let mut h = format!("HTTP/1.1 {status} Scripted\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str(extra);
    h.push_str("\r\n");
    h
}

async fn serve(mut s: TcpStream, script: Arc<Script>, seen: Arc<Mutex<Vec<Seen>>>) {
    let mut buf = Vec::new();
    while let Some(req) = read_request(&mut s, &mut buf).await {
        if let Ok(mut v) = seen.lock() {
            v.push(req.clone());
        }
        match script(&req) {
            Answer::Respond {
                status,
                headers,
                body,
                delay,
            } => {
                tokio::time::sleep(delay).await;
                let no_body = req.method == "HEAD" || status == 304 || status == 204;
                let h = head(
                    status,
                    &headers,
                    &format!("Content-Length: {}\r\n", body.len()),
                );
                let mut out = h.into_bytes();
                if !no_body {
                    out.extend_from_slice(&body);
                }
                if s.write_all(&out).await.is_err() {
                    return;
                }
            }
            Answer::Raw(bytes) => {
                let _ = s.write_all(&bytes).await;
                return;
            }
            Answer::Truncated {
                headers,
                announced,
                sent,
            } => {
                let mut out =
                    head(200, &headers, &format!("Content-Length: {announced}\r\n")).into_bytes();
                out.extend(std::iter::repeat_n(b'x', sent));
                let _ = s.write_all(&out).await;
                return;
            }
            Answer::Endless { headers } => {
                let h = head(200, &headers, "Transfer-Encoding: chunked\r\n");
                if s.write_all(h.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 64 << 10, "e".repeat(64 << 10));
                while s.write_all(chunk.as_bytes()).await.is_ok() {}
                return;
            }
            Answer::Stall => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Answer::StallInBody { announced, sent } => {
                let mut out = head(
                    200,
                    &[("Cache-Control".into(), "max-age=60".into())],
                    &format!("Content-Length: {announced}\r\n"),
                )
                .into_bytes();
                out.extend(std::iter::repeat_n(b's', sent));
                let _ = s.write_all(&out).await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Answer::Echo => {
                let h = "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n";
                if s.write_all(h.as_bytes()).await.is_err() {
                    return;
                }
                if !buf.is_empty() && s.write_all(&buf).await.is_err() {
                    return;
                }
                let mut chunk = [0u8; 4096];
                loop {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&chunk[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Sends `raw` bytes to `addr` (`host:port`) and reads what comes back until the peer closes or
/// `wait` passes without more bytes.
///
/// # Panics
/// When it cannot connect (this is test support).
pub async fn raw_exchange(addr: &str, raw: &[u8], wait: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(raw).await.expect("send");
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match tokio::time::timeout(wait, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&chunk[..n]),
        }
    }
}
