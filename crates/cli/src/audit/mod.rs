//! `tinycdn audit`: reads access logs (streamed, gzip or plain, many files in time order),
//! ranks what matters, simulates caches over the requests and answers the sizing questions.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::json;
use tinycdn_audit::parse::{detect, Format, Parser, Request};
use tinycdn_audit::pattern::mount_prefix;
use tinycdn_audit::rank::{Order, Ranking, Row};
use tinycdn_audit::sim::{curves, Kind, Point, TraceBuilder};
use tinycdn_volume::Progress;

use crate::output::{bytes, Bar};

/// What `audit` was asked.
pub struct Args<'a> {
    pub logs: &'a [PathBuf],
    pub format: &'a str,
    pub cache_sizes: Option<&'a str>,
    pub policies: Option<&'a str>,
    pub top: usize,
    pub sample: f64,
    pub sample_budget: usize,
    pub target_hit: &'a [f64],
    pub threads: Option<usize>,
    pub json: bool,
}

/// Malformed lines kept as examples.
const SAMPLES: usize = 5;

/// Opens a log, through gzip when it starts with gzip's magic.
fn open(path: &Path) -> Result<(Box<dyn BufRead>, u64)> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut r = BufReader::with_capacity(1 << 20, f);
    let gz = r
        .fill_buf()
        .map(|b| b.starts_with(&[0x1f, 0x8b]))
        .unwrap_or(false);
    Ok(if gz {
        (
            Box::new(BufReader::with_capacity(
                1 << 20,
                flate2::bufread::MultiGzDecoder::new(r),
            )),
            len,
        )
    } else {
        (Box::new(r), len)
    })
}

/// Counts the compressed (on-disk) bytes a reader has consumed, for the progress bar.
struct Counted<'a, R> {
    inner: R,
    bar: &'a Bar,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.advance(n as u64);
        Ok(n)
    }
}

fn first_lines(path: &Path, n: usize) -> Result<Vec<String>> {
    let (r, _) = open(path)?;
    Ok(r.lines()
        .take(n)
        .map_while(std::result::Result::ok)
        .collect())
}

/// The log's format: the one asked, or detected from the first file's first lines.
fn format_of(asked: &str, logs: &[PathBuf]) -> Result<Format> {
    if asked != "auto" {
        return asked.parse().map_err(anyhow::Error::msg);
    }
    let lines = first_lines(&logs[0], 64)?;
    detect(lines.iter().map(String::as_str)).with_context(|| {
        format!(
            "cannot tell the format of {} (nginx, common, json, cloudfront)",
            logs[0].display()
        )
    })
}

/// The files in time order (by their first request), so that many rotated files read as one.
fn in_time_order(logs: &[PathBuf], format: Format) -> Result<Vec<PathBuf>> {
    let mut keyed = Vec::new();
    for p in logs {
        let mut parser = Parser::new(format);
        let first = first_lines(p, 64)?
            .iter()
            .find_map(|l| parser.parse(l).ok().map(|r| r.time_ms))
            .unwrap_or(i64::MAX);
        keyed.push((first, p.clone()));
    }
    keyed.sort();
    Ok(keyed.into_iter().map(|(_, p)| p).collect())
}

fn hash_key(r: &Request<'_>) -> u64 {
    let mut h = DefaultHasher::new();
    r.path.hash(&mut h);
    r.query.hash(&mut h);
    h.finish()
}

/// Cache sizes: bytes, sizes (`256MiB`) or shares of the working set (`1%`).
fn cache_sizes(list: Option<&str>, working_set: u64) -> Result<Vec<u64>> {
    let Some(list) = list else {
        return Ok([0.001, 0.003, 0.01, 0.03, 0.1, 0.3]
            .iter()
            .map(|f| ((working_set as f64 * f) as u64).max(1))
            .collect());
    };
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let v = if let Some(p) = item.strip_suffix('%') {
            let share: f64 = p
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite() && *v > 0.0)
                .with_context(|| format!("--cache-sizes: {item:?} is not a percentage"))?;
            (working_set as f64 * share / 100.0) as u64
        } else {
            crate::commands::parse_size(item)
                .with_context(|| format!("--cache-sizes: {item:?} is not a size"))?
        };
        out.push(v.max(1));
    }
    if out.is_empty() {
        bail!("--cache-sizes lists no size");
    }
    Ok(out)
}

/// The smallest simulated size whose object hit ratio reaches `target`, interpolated on a log
/// scale between the two sizes around it.
fn size_for(points: &[&Point], target: f64) -> Option<u64> {
    // A hair of slack: 1 - 0.9 is 0.09999999999999998 in floating point.
    let want = 1.0 - target + 1e-9;
    let mut prev: Option<&Point> = None;
    for p in points {
        if p.object_miss_ratio <= want {
            return Some(match prev {
                Some(a) if a.object_miss_ratio > p.object_miss_ratio => {
                    let t =
                        (a.object_miss_ratio - want) / (a.object_miss_ratio - p.object_miss_ratio);
                    let (la, lb) = ((a.cache_bytes as f64).ln(), (p.cache_bytes as f64).ln());
                    (la + t * (lb - la)).exp().round() as u64
                }
                _ => p.cache_bytes,
            });
        }
        prev = Some(p);
    }
    None
}

/// Runs the audit.
pub fn run(a: &Args<'_>) -> Result<()> {
    if a.logs.is_empty() {
        bail!("name at least one log");
    }
    let format = format_of(a.format, a.logs)?;
    let files = in_time_order(a.logs, format)?;
    let kinds: Vec<Kind> = match a.policies {
        Some(p) => p
            .split(',')
            .map(|s| s.trim().parse().map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?,
        None => Kind::ALL.to_vec(),
    };
    let total_len: u64 = files
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let bar = Bar::new(!a.json);
    bar.start("reading", total_len);
    let started = std::time::Instant::now();
    let mut ranking = Ranking::new(1 << 20);
    let mut trace = TraceBuilder::new(a.sample, a.sample_budget);
    let (mut lines, mut malformed, mut comments) = (0u64, 0u64, 0u64);
    let mut samples: Vec<(String, u64, String)> = Vec::new();
    for path in &files {
        let f =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let counted = BufReader::with_capacity(
            1 << 20,
            Counted {
                inner: f,
                bar: &bar,
            },
        );
        let mut reader: Box<dyn BufRead> = {
            let mut c = counted;
            let gz = c
                .fill_buf()
                .map(|b| b.starts_with(&[0x1f, 0x8b]))
                .unwrap_or(false);
            if gz {
                Box::new(BufReader::with_capacity(
                    1 << 20,
                    flate2::bufread::MultiGzDecoder::new(c),
                ))
            } else {
                Box::new(c)
            }
        };
        let mut parser = Parser::new(format);
        let mut buf = Vec::with_capacity(4096);
        let mut number = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            number += 1;
            lines += 1;
            let text = String::from_utf8_lossy(&buf);
            let line = text.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                continue;
            }
            match parser.parse(line) {
                Ok(r) => {
                    ranking.add(&r);
                    if matches!(&*r.method, "GET" | "HEAD") && matches!(r.status, 200 | 206 | 304) {
                        // A partial or not-modified answer stands for the object at its full size.
                        let size = if r.status == 200 { r.bytes } else { 0 };
                        trace.push(hash_key(&r), u32::try_from(size).unwrap_or(u32::MAX));
                    }
                }
                Err(tinycdn_audit::parse::ParseError::Comment) => comments += 1,
                Err(e) => {
                    malformed += 1;
                    if samples.len() < SAMPLES {
                        let shown: String = line.chars().take(200).collect();
                        samples.push((path.display().to_string(), number, format!("{e}: {shown}")));
                    }
                }
            }
        }
    }
    bar.finish();
    let read_s = started.elapsed().as_secs_f64();
    let trace = trace.finish();
    let working_set = trace.working_set();
    let sizes = cache_sizes(a.cache_sizes, working_set)?;
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let sim_started = std::time::Instant::now();
    let points = if trace.is_empty() {
        Vec::new()
    } else {
        curves(&trace, &kinds, &sizes, threads)
    };
    let sim_s = sim_started.elapsed().as_secs_f64();
    let report = Report {
        format,
        files: &files,
        lines,
        malformed,
        comments,
        samples: &samples,
        ranking: &ranking,
        points: &points,
        kinds: &kinds,
        working_set,
        trace_requests: trace.len(),
        trace_rate: trace.rate(),
        top: a.top,
        target_hit: a.target_hit,
        read_s,
        sim_s,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    } else {
        report.text();
    }
    Ok(())
}

/// Content types, most bytes first.
fn types_by_bytes(r: &Ranking) -> Vec<(&String, &tinycdn_audit::rank::Share)> {
    let mut v: Vec<_> = r.by_type.iter().collect();
    v.sort_by_key(|(t, s)| (std::cmp::Reverse(s.bytes), *t));
    v
}

struct Report<'a> {
    format: Format,
    files: &'a [PathBuf],
    lines: u64,
    malformed: u64,
    comments: u64,
    samples: &'a [(String, u64, String)],
    ranking: &'a Ranking,
    points: &'a [Point],
    kinds: &'a [Kind],
    working_set: u64,
    trace_requests: usize,
    trace_rate: f64,
    top: usize,
    target_hit: &'a [f64],
    read_s: f64,
    sim_s: f64,
}

impl Report<'_> {
    fn curve(&self, k: Kind) -> Vec<&Point> {
        self.points
            .iter()
            .filter(|p| p.policy == k.name())
            .collect()
    }

    /// The policy the answers use: S3-FIFO when simulated, else the first.
    fn answer_policy(&self) -> Option<Kind> {
        self.kinds
            .iter()
            .copied()
            .find(|k| *k == Kind::S3Fifo)
            .or_else(|| self.kinds.first().copied())
    }

    fn sizing(&self) -> Vec<(f64, Option<u64>)> {
        let Some(k) = self.answer_policy() else {
            return Vec::new();
        };
        let c = self.curve(k);
        self.target_hit
            .iter()
            .map(|&t| (t, size_for(&c, t)))
            .collect()
    }

    /// Groups worth a volume: the top by transfer, as mount prefixes with their share.
    fn mounts(&self) -> Vec<(String, Row)> {
        let mut seen = std::collections::HashSet::new();
        self.ranking
            .top_groups(Order::Transfer, self.top.max(1) * 4)
            .into_iter()
            .filter_map(|r| {
                let prefix = mount_prefix(&r.key).to_owned();
                (prefix != "/" && seen.insert(prefix.clone())).then_some((prefix, r))
            })
            .take(self.top.min(10))
            .collect()
    }

    /// The egress a hit ratio saves at the largest simulated size of the answer policy.
    fn egress(&self) -> Option<(u64, f64, u64)> {
        let k = self.answer_policy()?;
        let p = self.curve(k).into_iter().max_by_key(|p| p.cache_bytes)?;
        let saved = (self.ranking.total.bytes as f64 * (1.0 - p.byte_miss_ratio)) as u64;
        Some((p.cache_bytes, 1.0 - p.byte_miss_ratio, saved))
    }

    fn rows_json(rows: &[Row]) -> serde_json::Value {
        serde_json::to_value(rows).unwrap_or_default()
    }

    fn json(&self) -> serde_json::Value {
        let r = self.ranking;
        let orders = [
            Order::Requests,
            Order::Size,
            Order::Transfer,
            Order::Latency,
        ];
        let objects: serde_json::Map<String, serde_json::Value> = orders
            .iter()
            .map(|&o| {
                (
                    format!("{o:?}").to_lowercase(),
                    Self::rows_json(&r.top_objects(o, self.top)),
                )
            })
            .collect();
        let groups: serde_json::Map<String, serde_json::Value> = orders
            .iter()
            .map(|&o| {
                (
                    format!("{o:?}").to_lowercase(),
                    Self::rows_json(&r.top_groups(o, self.top)),
                )
            })
            .collect();
        let by_type = types_by_bytes(r);
        let mut by_status: Vec<_> = r.by_status.iter().collect();
        by_status.sort_by_key(|(s, _)| **s);
        json!({
            "format": self.format,
            "files": self.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "lines": self.lines,
            "requests": r.total.requests,
            "malformed": self.malformed,
            "comments": self.comments,
            "malformed_samples": self.samples.iter().map(|(f, n, e)| json!({"file": f, "line": n, "error": e})).collect::<Vec<_>>(),
            "bytes": r.total.bytes,
            "request_time_s": r.total.time_s,
            "span_ms": r.span_ms,
            "rank_error_bound": r.error_bound(),
            "by_type": by_type.iter().map(|(t, s)| json!({"type": t, "requests": s.requests, "bytes": s.bytes})).collect::<Vec<_>>(),
            "by_status": by_status.iter().map(|(c, s)| json!({"status": c, "requests": s.requests, "bytes": s.bytes})).collect::<Vec<_>>(),
            "top_objects": objects,
            "top_groups": groups,
            "simulation": {
                "requests": self.trace_requests,
                "sampling_rate": self.trace_rate,
                "working_set_bytes": self.working_set,
                "seconds": self.sim_s,
            },
            "curves": self.points,
            "sizing": self.sizing().iter().map(|(t, s)| json!({"object_hit_ratio": t, "policy": self.answer_policy().map(Kind::name), "cache_bytes": s})).collect::<Vec<_>>(),
            "mounts": self.mounts().iter().map(|(p, r)| json!({"prefix": p, "pattern": r.key, "requests": r.stats.requests, "transfer": r.transfer})).collect::<Vec<_>>(),
            "egress_saved": self.egress().map(|(c, h, s)| json!({"cache_bytes": c, "byte_hit_ratio": h, "bytes": s})),
            "read_seconds": self.read_s,
            "lines_per_second": self.lines as f64 / self.read_s.max(1e-9),
        })
    }

    fn text(&self) {
        let r = self.ranking;
        println!(
            "{} lines ({}) in {} file(s): {} requests, {} sent, {} malformed",
            self.lines,
            self.format.name(),
            self.files.len(),
            r.total.requests,
            bytes(r.total.bytes),
            self.malformed
        );
        for (f, n, e) in self.samples {
            println!("  malformed {f}:{n}: {e}");
        }
        if r.error_bound() > 0 {
            println!(
                "  (rankings kept the busiest objects; counts may be short by up to {})",
                r.error_bound()
            );
        }
        println!("\ntop path groups by transfer (requests x object size):");
        for row in r.top_groups(Order::Transfer, self.top) {
            println!(
                "  {:>10}  {:>8} req  {:>8.1} s  {}",
                bytes(row.transfer),
                row.stats.requests,
                row.stats.time_s,
                row.key
            );
        }
        for (title, order) in [
            ("requests", Order::Requests),
            ("transfer", Order::Transfer),
            ("latency impact (sum of request time)", Order::Latency),
        ] {
            println!("\ntop objects by {title}:");
            for row in r.top_objects(order, self.top) {
                println!(
                    "  {:>8} req  {:>10}  {:>8.2} s  {}",
                    row.stats.requests,
                    bytes(row.transfer),
                    row.stats.time_s,
                    row.key
                );
            }
        }
        let by_type = types_by_bytes(r);
        println!("\nby content type:");
        for (t, s) in by_type.iter().take(10) {
            println!("  {:>10}  {:>8} req  {t}", bytes(s.bytes), s.requests);
        }
        println!(
            "\nmiss ratios (object / byte), {} requests simulated{}, working set {}:",
            self.trace_requests,
            if self.trace_rate < 1.0 {
                format!(" (SHARDS sample at rate {:.4})", self.trace_rate)
            } else {
                String::new()
            },
            bytes(self.working_set)
        );
        let sizes: Vec<u64> = self
            .curve(self.kinds[0])
            .iter()
            .map(|p| p.cache_bytes)
            .collect();
        print!("  {:<10}", "cache");
        for s in &sizes {
            print!(" {:>15}", bytes(*s));
        }
        println!();
        for &k in self.kinds {
            print!("  {:<10}", k.name());
            for p in self.curve(k) {
                print!(" {:>7.4}/{:<7.4}", p.object_miss_ratio, p.byte_miss_ratio);
            }
            println!();
        }
        if let Some(k) = self.answer_policy() {
            println!();
            for (t, s) in self.sizing() {
                match s {
                    Some(s) => println!(
                        "cache for a {:.0} % hit ratio ({}): {}",
                        t * 100.0,
                        k.name(),
                        bytes(s)
                    ),
                    None => println!(
                        "cache for a {:.0} % hit ratio ({}): more than the largest size simulated",
                        t * 100.0,
                        k.name()
                    ),
                }
            }
        }
        if let Some((c, h, s)) = self.egress() {
            println!(
                "egress saved by a {} cache: {} ({:.1} % of bytes)",
                bytes(c),
                bytes(s),
                h * 100.0
            );
        }
        let mounts = self.mounts();
        if !mounts.is_empty() {
            println!("\nmove into volumes (mount at the app's paths):");
            for (p, row) in mounts {
                let name = p.trim_matches('/').replace('/', "-");
                println!(
                    "  --mount {p}={name}@stable    # {} requests, {} ({})",
                    row.stats.requests,
                    bytes(row.transfer),
                    row.key
                );
            }
        }
        eprintln!(
            "read {} lines in {:.2} s ({:.0} lines/s), simulated in {:.2} s",
            self.lines,
            self.read_s,
            self.lines as f64 / self.read_s.max(1e-9),
            self.sim_s
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_from_the_command_line() {
        assert_eq!(
            cache_sizes(Some("1%,50%"), 1000).expect("ok"),
            vec![10, 500]
        );
        assert_eq!(
            cache_sizes(Some("1MiB, 4096"), 1).expect("ok"),
            vec![1 << 20, 4096]
        );
        assert!(cache_sizes(Some("x%"), 1).is_err());
        assert!(cache_sizes(Some(","), 1).is_err());
        assert_eq!(cache_sizes(None, 1000).expect("ok").len(), 6);
    }

    #[test]
    fn the_size_for_a_hit_ratio_is_interpolated() {
        let p = |c, m| Point {
            policy: "lru",
            cache_bytes: c,
            object_miss_ratio: m,
            byte_miss_ratio: m,
        };
        let (a, b) = (p(100, 0.5), p(10_000, 0.1));
        assert_eq!(size_for(&[&a, &b], 0.9), Some(10_000));
        assert_eq!(size_for(&[&a, &b], 0.5), Some(100));
        let mid = size_for(&[&a, &b], 0.7).expect("between");
        assert!((900..=1100).contains(&mid), "{mid}");
        assert_eq!(size_for(&[&a, &b], 0.95), None);
    }
}
