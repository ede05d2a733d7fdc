//! What the log says matters: totals, and objects and path groups ranked by requests, object
//! size, transfer (size × requests) and latency impact (the sum of their request times), with
//! the shares by content type and status.
//!
//! Memory is bounded: past `max_objects` distinct objects the least requested half is dropped
//! (lossy counting); every count of a kept object may then be short by at most the
//! `error_bound` reported.

use std::collections::HashMap;

use crate::parse::Request;
use crate::pattern::pattern;

/// What is kept of one object or group.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    /// Requests.
    pub requests: u64,
    /// Body bytes sent.
    pub bytes: u64,
    /// The largest full (200) body seen: the object's size.
    pub size: u64,
    /// Sum of request times, seconds (the latency impact).
    pub time_s: f64,
    /// Sum of upstream times, seconds.
    pub upstream_s: f64,
    /// Requests the log marks as cache hits.
    pub hits: u64,
}

impl Stats {
    fn add(&mut self, r: &Request<'_>) {
        self.requests += 1;
        self.bytes += r.bytes;
        if r.status == 200 {
            self.size = self.size.max(r.bytes);
        }
        self.time_s += r.request_time.unwrap_or(0.0);
        self.upstream_s += r.upstream_time.unwrap_or(0.0);
        self.hits += u64::from(r.cache.as_deref() == Some("hit"));
    }
}

/// A ranked row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Row {
    /// The object (`path?query`) or group pattern.
    pub key: String,
    /// Its figures.
    #[serde(flatten)]
    pub stats: Stats,
    /// Object size × requests (for a group: the bytes its objects would send uncached).
    pub transfer: u64,
}

/// The orders rows are ranked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Most requested.
    Requests,
    /// Largest.
    Size,
    /// Most bytes if every request sent the whole object.
    Transfer,
    /// Most request time.
    Latency,
}

/// A share of the traffic.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Share {
    /// Requests.
    pub requests: u64,
    /// Bytes.
    pub bytes: u64,
}

/// The whole log's figures.
#[derive(Debug, Default)]
pub struct Ranking {
    objects: HashMap<String, Stats>,
    groups: HashMap<String, (Stats, u64)>,
    max_objects: usize,
    error_bound: u64,
    /// All requests read.
    pub total: Stats,
    /// By content type (the logged one, else guessed from the extension).
    pub by_type: HashMap<String, Share>,
    /// By status code.
    pub by_status: HashMap<u16, Share>,
    /// Earliest and latest request times, ms.
    pub span_ms: Option<(i64, i64)>,
}

/// The content type of a path from its extension, for logs that do not record it.
#[must_use]
pub fn guess_type(path: &str) -> &'static str {
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("avif") => "image/avif",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("mp4" | "m4s") => "video/mp4",
        Some("webm") => "video/webm",
        Some("ts") => "video/mp2t",
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("mpd") => "application/dash+xml",
        Some("mp3") => "audio/mpeg",
        Some("html" | "htm") => "text/html",
        Some("css") => "text/css",
        Some("js" | "mjs") => "text/javascript",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("wasm") => "application/wasm",
        Some(_) => "other",
        None => "none",
    }
}

impl Ranking {
    /// Keeps at most `max_objects` objects (and as many groups).
    #[must_use]
    pub fn new(max_objects: usize) -> Self {
        Self {
            max_objects: max_objects.max(2),
            ..Self::default()
        }
    }

    /// The object key of a request: `path?query`.
    #[must_use]
    pub fn key(r: &Request<'_>) -> String {
        match &r.query {
            Some(q) => format!("{}?{}", r.path, q),
            None => r.path.to_string(),
        }
    }

    /// Counts one request.
    pub fn add(&mut self, r: &Request<'_>) {
        self.total.add(r);
        let ty = r
            .content_type
            .as_deref()
            .map(|t| t.split(';').next().unwrap_or(t).trim().to_ascii_lowercase())
            .unwrap_or_else(|| guess_type(&r.path).to_owned());
        let s = self.by_type.entry(ty).or_default();
        s.requests += 1;
        s.bytes += r.bytes;
        let s = self.by_status.entry(r.status).or_default();
        s.requests += 1;
        s.bytes += r.bytes;
        self.span_ms = Some(match self.span_ms {
            Some((a, b)) => (a.min(r.time_ms), b.max(r.time_ms)),
            None => (r.time_ms, r.time_ms),
        });
        let key = Self::key(r);
        let new = !self.objects.contains_key(&key);
        self.objects.entry(key).or_default().add(r);
        let g = self.groups.entry(pattern(&r.path)).or_default();
        g.0.add(r);
        g.1 += u64::from(new);
        if self.objects.len() > self.max_objects {
            Self::prune(&mut self.objects, |s| s.requests, &mut self.error_bound);
        }
        if self.groups.len() > self.max_objects {
            Self::prune(&mut self.groups, |g| g.0.requests, &mut self.error_bound);
        }
    }

    /// Drops the least requested half.
    fn prune<V>(map: &mut HashMap<String, V>, count: impl Fn(&V) -> u64, bound: &mut u64) {
        let mut counts: Vec<u64> = map.values().map(&count).collect();
        let mid = counts.len() / 2;
        let (_, cut, _) = counts.select_nth_unstable(mid);
        let cut = *cut;
        map.retain(|_, v| count(v) > cut);
        *bound = (*bound).max(cut);
    }

    /// How many requests any kept count may be short by (0: exact).
    #[must_use]
    pub fn error_bound(&self) -> u64 {
        self.error_bound
    }

    /// Distinct objects kept.
    #[must_use]
    pub fn objects(&self) -> usize {
        self.objects.len()
    }

    fn order_key(order: Order, s: &Stats, transfer: u64) -> f64 {
        match order {
            Order::Requests => s.requests as f64,
            Order::Size => s.size as f64,
            Order::Transfer => transfer as f64,
            Order::Latency => s.time_s,
        }
    }

    fn top<'a>(
        rows: impl Iterator<Item = (&'a String, Stats, u64)>,
        order: Order,
        n: usize,
    ) -> Vec<Row> {
        let mut v: Vec<Row> = rows
            .map(|(k, stats, transfer)| Row {
                key: k.clone(),
                stats,
                transfer,
            })
            .collect();
        v.sort_by(|a, b| {
            Self::order_key(order, &b.stats, b.transfer)
                .total_cmp(&Self::order_key(order, &a.stats, a.transfer))
                .then_with(|| a.key.cmp(&b.key))
        });
        v.truncate(n);
        v
    }

    /// The top `n` objects in `order`.
    #[must_use]
    pub fn top_objects(&self, order: Order, n: usize) -> Vec<Row> {
        Self::top(
            self.objects.iter().map(|(k, s)| {
                let size = if s.size > 0 {
                    s.size
                } else {
                    s.bytes / s.requests.max(1)
                };
                (k, s.clone(), size * s.requests)
            }),
            order,
            n,
        )
    }

    /// The top `n` groups in `order`; `transfer` is their requests × mean object size.
    #[must_use]
    pub fn top_groups(&self, order: Order, n: usize) -> Vec<Row> {
        Self::top(
            self.groups.iter().map(|(k, (s, _))| {
                let mean = if s.size > 0 {
                    s.size
                } else {
                    s.bytes / s.requests.max(1)
                };
                (
                    k,
                    s.clone(),
                    mean.max(s.bytes / s.requests.max(1)) * s.requests,
                )
            }),
            order,
            n,
        )
    }

    /// A group's distinct objects (as far as they were kept).
    #[must_use]
    pub fn group_objects(&self, pattern: &str) -> u64 {
        self.groups.get(pattern).map_or(0, |g| g.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Format, Parser};

    fn feed(r: &mut Ranking, lines: &[&str]) {
        let mut p = Parser::new(Format::Nginx);
        for l in lines {
            r.add(&p.parse(l).expect("parses"));
        }
    }

    fn line(path: &str, bytes: u64, time: f64) -> String {
        format!(
            r#"1.1.1.1 - - [01/Dec/2026:20:00:00 +0000] "GET {path} HTTP/1.1" 200 {bytes} "-" "-" {time}"#
        )
    }

    #[test]
    fn ranks_objects_and_groups() {
        let mut r = Ranking::new(1000);
        let lines = [
            line("/media/1/thumb.jpg", 100, 0.01),
            line("/media/1/thumb.jpg", 100, 0.01),
            line("/media/2/thumb.jpg", 100, 0.01),
            line("/video/big.mp4", 10_000, 2.0),
            line("/a.css", 10, 0.001),
        ];
        feed(
            &mut r,
            &lines.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert_eq!(r.total.requests, 5);
        let top = r.top_objects(Order::Requests, 1);
        assert_eq!(top[0].key, "/media/1/thumb.jpg");
        assert_eq!(top[0].stats.requests, 2);
        assert_eq!(r.top_objects(Order::Latency, 1)[0].key, "/video/big.mp4");
        let g = r.top_groups(Order::Requests, 1);
        assert_eq!(
            (g[0].key.as_str(), g[0].stats.requests),
            ("/media/*/thumb.jpg", 3)
        );
        assert_eq!(r.group_objects("/media/*/thumb.jpg"), 2);
        assert_eq!(r.by_type["image/jpeg"].requests, 3);
        assert_eq!(r.by_type["video/mp4"].bytes, 10_000);
        assert_eq!(r.error_bound(), 0);
    }

    #[test]
    fn memory_stays_bounded_and_the_heavy_hitters_stay() {
        let mut r = Ranking::new(100);
        let mut lines = Vec::new();
        for i in 0..5000 {
            lines.push(line(&format!("/once/{i}.jpg"), 1, 0.0));
            if i % 10 == 0 {
                lines.push(line("/hot.jpg", 1, 0.0));
            }
        }
        feed(
            &mut r,
            &lines.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        assert!(r.objects() <= 100);
        let top = r.top_objects(Order::Requests, 1);
        assert_eq!(top[0].key, "/hot.jpg");
        assert!(500 - top[0].stats.requests <= r.error_bound());
    }
}
