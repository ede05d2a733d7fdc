//! Access logs: one line per response, JSON (one documented schema) or nginx's `combined`,
//! written by a background thread from a bounded queue so that a slow or failing disk never
//! delays a request (a full queue drops the line and counts it), to a file reopened on `SIGHUP`
//! (log rotation) or to stdout.
//!
//! The JSON schema, one object per line:
//!
//! | field | meaning |
//! |---|---|
//! | `time` | when the response completed, RFC 3339 UTC with milliseconds |
//! | `pop` | the node's `--pop` |
//! | `client` | the peer address |
//! | `method`, `host`, `path`, `query` | the request (`query` without `?`, `null` if none) |
//! | `status` | the status code sent |
//! | `bytes` | body bytes sent |
//! | `duration_ms` | request received to the last body byte sent |
//! | `ttfb_ms` | request received to the response head |
//! | `cache` | `hit`, `stale`, `revalidated`, `expired`, `collapsed`, `miss`, `pass` or `null` |
//! | `upstream` | where a miss was filled from, else `null` |
//! | `trace_id` | the W3C trace id (32 hex), else `null` |
//! | `route` | the route class (as in `http_server_request_duration_seconds`) |
//! | `user_agent`, `referer` | those request headers, else `null` |

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One response, as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// When the response completed.
    pub time: SystemTime,
    /// The node's point of presence.
    pub pop: Arc<str>,
    /// The peer.
    pub client: std::net::SocketAddr,
    /// Request method.
    pub method: http::Method,
    /// The request target as received (its path is logged undecoded). Header values and the URI
    /// are cheap reference-counted clones of the request's own bytes: nothing is copied on the
    /// request's path, the writer formats them.
    pub uri: http::Uri,
    /// `Host`.
    pub host: Option<http::HeaderValue>,
    /// Status code.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// Whole request.
    pub duration: Duration,
    /// To the response head.
    pub ttfb: Duration,
    /// The cache's verdict.
    pub cache: Option<&'static str>,
    /// Where a miss was filled from.
    pub upstream: Option<String>,
    /// The request's `traceparent`.
    pub traceparent: Option<http::HeaderValue>,
    /// The route class.
    pub route: &'static str,
    /// `User-Agent`.
    pub user_agent: Option<http::HeaderValue>,
    /// `Referer`.
    pub referer: Option<http::HeaderValue>,
}

/// Longest path, query or header value kept in a line.
const MAX_FIELD: usize = 2048;

/// At most [`MAX_FIELD`] bytes of `s`, cut at a character boundary.
fn clip(s: &str) -> &str {
    let mut end = s.len().min(MAX_FIELD);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn header_text(v: &Option<http::HeaderValue>) -> Option<std::borrow::Cow<'_, str>> {
    v.as_ref()
        .map(|v| match String::from_utf8_lossy(v.as_bytes()) {
            std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(clip(s)),
            std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(clip(&s).to_owned()),
        })
}

/// The trace id of a valid W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), not all zeros.
#[must_use]
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut it = traceparent.trim().split('-');
    let (version, trace, parent, flags) = (it.next()?, it.next()?, it.next()?, it.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    (version != "ff"
        && hex(version, 2)
        && hex(trace, 32)
        && hex(parent, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0'))
    .then_some(trace)
}

impl Record {
    fn host_text(&self) -> std::borrow::Cow<'_, str> {
        header_text(&self.host).unwrap_or_else(|| {
            std::borrow::Cow::Owned(
                self.uri
                    .authority()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            )
        })
    }
}

/// What a handler tells the access log about a response, as a response extension: its route
/// class and, for a miss, where it was filled from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// The route class.
    pub route: &'static str,
    /// Where a miss was filled from.
    pub upstream: Option<String>,
}

/// The line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The JSON schema above.
    Json,
    /// nginx `combined`.
    Combined,
}

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Standard output.
    Stdout,
    /// A file, appended to, reopened on [`AccessLog::reopen`].
    File(PathBuf),
}

/// The result this cache reports for itself in a `Cache-Status` field value (RFC 9211).
#[must_use]
pub fn cache_result(field: &str, name: &str) -> Option<&'static str> {
    let ours = field
        .split(',')
        .map(str::trim)
        .rfind(|e| e.split(';').next().map(str::trim) == Some(name))?;
    let params: Vec<&str> = ours.split(';').skip(1).map(str::trim).collect();
    let has = |p: &str| params.contains(&p);
    let fwd = params.iter().find_map(|p| p.strip_prefix("fwd="));
    let fwd_status = params.iter().find_map(|p| p.strip_prefix("fwd-status="));
    Some(if has("collapsed") {
        "collapsed"
    } else if has("hit") {
        if fwd == Some("stale") {
            "stale"
        } else {
            "hit"
        }
    } else {
        match (fwd, fwd_status) {
            (Some("stale"), Some("304")) => "revalidated",
            (Some("stale"), _) => "expired",
            (Some("bypass" | "method" | "request"), _) => "pass",
            _ => "miss",
        }
    })
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn parts(t: SystemTime) -> (i64, u32, u32, u64, u64, u64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, mo, day) = civil(i64::try_from(secs / 86_400).unwrap_or(0));
    let s = secs % 86_400;
    (
        y,
        mo,
        day,
        s / 3600,
        s % 3600 / 60,
        s % 60,
        d.subsec_millis(),
    )
}

/// `2026-12-01T20:01:17.123Z`.
#[must_use]
pub fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, ms) = parts(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// nginx's `$time_local` in UTC: `01/Dec/2026:20:01:17 +0000`.
#[must_use]
pub fn nginx_time(t: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, _) = parts(t);
    let month = MONTHS[(mo as usize).saturating_sub(1).min(11)];
    format!("{d:02}/{month}/{y:04}:{h:02}:{mi:02}:{s:02} +0000")
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_opt(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => json_str(out, s),
        None => out.push_str("null"),
    }
}

impl Record {
    /// The JSON line (no newline).
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut o = String::with_capacity(320);
        self.write_json(&mut o);
        o
    }

    /// Appends the JSON line (no newline) to `o`.
    pub fn write_json(&self, o: &mut String) {
        let client = self.client.to_string();
        let host = self.host_text();
        let ua = header_text(&self.user_agent);
        let referer = header_text(&self.referer);
        let tp = header_text(&self.traceparent);
        o.push_str("{\"time\":");
        json_str(o, &rfc3339(self.time));
        for (k, v) in [
            ("pop", Some(&*self.pop)),
            ("client", Some(client.as_str())),
            ("method", Some(self.method.as_str())),
            ("host", Some(&*host)),
            ("path", Some(clip(self.uri.path()))),
            ("query", self.uri.query().map(clip)),
        ] {
            let _ = write!(o, ",\"{k}\":");
            json_opt(o, v);
        }
        let _ = write!(
            o,
            ",\"status\":{},\"bytes\":{},\"duration_ms\":{:.3},\"ttfb_ms\":{:.3}",
            self.status,
            self.bytes,
            self.duration.as_secs_f64() * 1e3,
            self.ttfb.as_secs_f64() * 1e3
        );
        for (k, v) in [
            ("cache", self.cache),
            ("upstream", self.upstream.as_deref()),
            ("trace_id", tp.as_deref().and_then(trace_id)),
            ("route", Some(self.route)),
            ("user_agent", ua.as_deref()),
            ("referer", referer.as_deref()),
        ] {
            let _ = write!(o, ",\"{k}\":");
            json_opt(o, v);
        }
        o.push('}');
    }

    /// The nginx `combined` line (no newline): `$remote_addr - $remote_user [$time_local]
    /// "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`.
    #[must_use]
    pub fn to_combined(&self) -> String {
        let esc = |s: &str| -> String {
            s.chars()
                .flat_map(|c| match c {
                    '"' => vec!['\\', 'x', '2', '2'],
                    '\\' => vec!['\\', 'x', '5', 'C'],
                    c if c.is_control() => format!("\\x{:02X}", c as u32 & 0xff).chars().collect(),
                    c => vec![c],
                })
                .collect()
        };
        let target = match self.uri.query() {
            Some(q) => format!("{}?{}", clip(self.uri.path()), clip(q)),
            None => clip(self.uri.path()).to_owned(),
        };
        let ip = self.client.ip();
        format!(
            "{ip} - - [{}] \"{} {} HTTP/1.1\" {} {} \"{}\" \"{}\"",
            nginx_time(self.time),
            esc(self.method.as_str()),
            esc(&target),
            self.status,
            self.bytes,
            esc(header_text(&self.referer).as_deref().unwrap_or("-")),
            esc(header_text(&self.user_agent).as_deref().unwrap_or("-")),
        )
    }
}

/// Counters of the log itself.
#[derive(Debug, Default)]
pub struct LogCounters {
    /// Lines written.
    pub written: AtomicU64,
    /// Lines dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Writes or opens that failed (lines lost with them).
    pub errors: AtomicU64,
}

/// A running access log.
#[derive(Debug)]
pub struct AccessLog {
    /// The node's point of presence, for every line.
    pub pop: Arc<str>,
    tx: SyncSender<Record>,
    reopen: Arc<AtomicBool>,
    /// What it has done.
    pub counters: Arc<LogCounters>,
}

static GLOBAL: OnceLock<Arc<AccessLog>> = OnceLock::new();

impl AccessLog {
    /// Starts the writer thread; `capacity` lines may wait in the queue.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn start(
        target: Target,
        format: Format,
        capacity: usize,
        pop: &str,
    ) -> std::io::Result<Arc<Self>> {
        let (tx, rx) = sync_channel(capacity.max(1));
        let reopen = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(LogCounters::default());
        let sink = Sink::open(&target)?;
        let (r, c) = (reopen.clone(), counters.clone());
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer(rx, sink, target, format, &r, &c))?;
        Ok(Arc::new(Self {
            pop: pop.into(),
            tx,
            reopen,
            counters,
        }))
    }

    /// Queues a line; never blocks (a full queue drops it and counts it).
    pub fn log(&self, record: Record) {
        match self.tx.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Reopens the file before the next line (after a rotation moved it away).
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }

    /// Makes this the process's access log (its counters go into every exposition).
    pub fn install(self: &Arc<Self>) {
        let _ = GLOBAL.set(self.clone());
    }

    /// The process's access log, if one was installed.
    #[must_use]
    pub fn global() -> Option<&'static Arc<AccessLog>> {
        GLOBAL.get()
    }
}

enum Sink {
    Stdout(std::io::Stdout),
    File(std::io::BufWriter<std::fs::File>),
}

impl Sink {
    fn open(target: &Target) -> std::io::Result<Self> {
        Ok(match target {
            Target::Stdout => Self::Stdout(std::io::stdout()),
            Target::File(p) => Self::File(std::io::BufWriter::with_capacity(
                64 * 1024,
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            )),
        })
    }

    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        match self {
            Self::Stdout(s) => {
                let mut l = s.lock();
                l.write_all(line.as_bytes())?;
                l.write_all(b"\n")
            }
            Self::File(f) => {
                f.write_all(line.as_bytes())?;
                f.write_all(b"\n")
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Stdout(s) => s.lock().flush(),
            Self::File(f) => f.flush(),
        }
    }
}

/// How long the writer sleeps between drains. It never blocks on the queue, so a request's
/// `try_send` never has a sleeping reader to wake (no system call on the request's path).
const DRAIN_EVERY: Duration = Duration::from_millis(20);

fn writer(
    rx: Receiver<Record>,
    mut sink: Sink,
    target: Target,
    format: Format,
    reopen: &AtomicBool,
    counters: &LogCounters,
) {
    let mut broken = false;
    let mut line = String::with_capacity(512);
    loop {
        // A rotation (SIGHUP), or a file that failed: open it again (a vanished directory keeps
        // failing, counted, until it is back).
        if reopen.swap(false, Ordering::Relaxed) || broken {
            let _ = sink.flush();
            match Sink::open(&target) {
                Ok(s) => {
                    sink = s;
                    broken = false;
                }
                Err(_) => broken = true,
            }
        }
        let mut disconnected = false;
        loop {
            let record = match rx.try_recv() {
                Ok(r) => r,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    disconnected = true;
                    break;
                }
            };
            if broken {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            line.clear();
            match format {
                Format::Json => record.write_json(&mut line),
                Format::Combined => line.push_str(&record.to_combined()),
            }
            match sink.write_line(&line) {
                Ok(()) => {
                    counters.written.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    counters.errors.fetch_add(1, Ordering::Relaxed);
                    broken = true;
                }
            }
        }
        if !broken && sink.flush().is_err() {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            broken = true;
        }
        if disconnected {
            break;
        }
        std::thread::sleep(DRAIN_EVERY);
    }
    let _ = sink.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            time: UNIX_EPOCH + Duration::from_millis(1_764_619_277_123),
            pop: "fra1".into(),
            client: "127.0.0.1:5000".parse().expect("addr"),
            method: http::Method::GET,
            uri: "/img/a%22b.jpg?w=640".parse().expect("uri"),
            host: Some(http::HeaderValue::from_static("cdn.example")),
            status: 200,
            bytes: 1234,
            duration: Duration::from_micros(1500),
            ttfb: Duration::from_micros(900),
            cache: Some("hit"),
            upstream: None,
            traceparent: None,
            route: "image",
            user_agent: Some(http::HeaderValue::from_static("curl/8\t")),
            referer: None,
        }
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(record().time), "2025-12-01T20:01:17.123Z");
        assert_eq!(nginx_time(record().time), "01/Dec/2025:20:01:17 +0000");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn lines() {
        let j = record().to_json();
        assert_eq!(
            j,
            r#"{"time":"2025-12-01T20:01:17.123Z","pop":"fra1","client":"127.0.0.1:5000","method":"GET","host":"cdn.example","path":"/img/a%22b.jpg","query":"w=640","status":200,"bytes":1234,"duration_ms":1.500,"ttfb_ms":0.900,"cache":"hit","upstream":null,"trace_id":null,"route":"image","user_agent":"curl/8\t","referer":null}"#
        );
        assert_eq!(
            record().to_combined(),
            r#"127.0.0.1 - - [01/Dec/2025:20:01:17 +0000] "GET /img/a%22b.jpg?w=640 HTTP/1.1" 200 1234 "-" "curl/8\x09""#
        );
    }

    #[test]
    fn traceparents() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(trace_id(good), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn cache_results() {
        let r = |v| cache_result(v, "tinycdn");
        assert_eq!(r("tinycdn; hit; ttl=30"), Some("hit"));
        assert_eq!(r("other; hit, tinycdn; fwd=uri-miss; stored"), Some("miss"));
        assert_eq!(r("tinycdn; fwd=stale; fwd-status=304"), Some("revalidated"));
        assert_eq!(r("tinycdn; hit; fwd=stale"), Some("stale"));
        assert_eq!(r("tinycdn; fwd=miss; collapsed"), Some("collapsed"));
        assert_eq!(r("tinycdn; fwd=method"), Some("pass"));
        assert_eq!(r("other; hit"), None);
    }
}
