//! `tinycdn audit`: reads access logs (streamed, gzip or plain, many files in time order),
//! ranks what matters, simulates caches over the requests and answers the sizing questions.

mod html;
mod report;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use anyhow::{bail, Context, Result};
use tinycdn_audit::parse::Request;
use tinycdn_audit::rank::Ranking;
use tinycdn_audit::sim::{curves, Kind, Point, TraceBuilder};

use crate::logs::{format_of, in_time_order};
use crate::output::Bar;
use report::Report;

use crate::cli::AuditArgs;
use crate::context::Ctx;

/// Runs `tinycdn audit`.
pub fn run(ctx: &Ctx, a: &AuditArgs) -> Result<std::process::ExitCode> {
    audit(ctx, a)?;
    Ok(std::process::ExitCode::SUCCESS)
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
            tinycdn_edge::config::size::parse(item)
                .map_err(anyhow::Error::msg)
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
fn audit(ctx: &Ctx, a: &AuditArgs) -> Result<()> {
    if a.logs.is_empty() {
        bail!("name at least one log");
    }
    let format = format_of(&a.format, &a.logs)?;
    let files = in_time_order(&a.logs, format)?;
    let kinds: Vec<Kind> = match a.policies.as_deref() {
        Some(p) => p
            .split(',')
            .map(|s| s.trim().parse().map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?,
        None => Kind::ALL.to_vec(),
    };
    let kinds = match a.edge_memory.as_deref() {
        Some(m) => {
            let permille = edge_memory(m)?;
            kinds
                .into_iter()
                .map(|k| k.with_edge_memory(permille))
                .collect()
        }
        None => kinds,
    };
    let bar = Bar::new(!ctx.json);
    let started = std::time::Instant::now();
    let mut ranking = Ranking::new(1 << 20);
    let mut trace = TraceBuilder::new(a.sample, a.sample_budget);
    let read = crate::logs::read(&files, format, &bar, |r| {
        ranking.add(r);
        if matches!(&*r.method, "GET" | "HEAD") && matches!(r.status, 200 | 206 | 304) {
            // A partial or not-modified answer stands for the object at its full size.
            let size = if r.status == 200 { r.bytes } else { 0 };
            trace.push(hash_key(r), u32::try_from(size).unwrap_or(u32::MAX));
        }
        true
    })?;
    let read_s = started.elapsed().as_secs_f64();
    let trace = trace.finish();
    let working_set = trace.working_set();
    let sizes = cache_sizes(a.cache_sizes.as_deref(), working_set)?;
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
        read: &read,
        ranking: &ranking,
        points: &points,
        kinds: &kinds,
        working_set,
        trace_requests: trace.len(),
        trace_rate: trace.rate(),
        top: a.top,
        target_hit: &a.target_hit,
        read_s,
        sim_s,
    };
    if let Some(path) = a.report.as_deref() {
        let d = html::Distributions {
            popularity: trace.popularity(),
            sizes: trace.size_buckets(),
        };
        let page = html::page(&report, &d);
        if path.as_os_str() == "-" {
            use std::io::Write as _;
            std::io::stdout().lock().write_all(page.as_bytes())?;
        } else {
            tinycdn_store::local::write_file_atomic(path, page.as_bytes(), 0o644, true)?;
            if !ctx.quiet {
                eprintln!("wrote {}", path.display());
            }
        }
    }
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    } else if a.report.as_deref().is_none_or(|p| p.as_os_str() != "-") {
        report.text();
    }
    Ok(())
}

/// `--edge-memory`: the edge's memory tier as a share of its disk tier (`5%`, `0.05`), in
/// thousandths.
fn edge_memory(s: &str) -> Result<u16> {
    let share = match s.trim().strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => s.trim().parse::<f64>(),
    }
    .ok()
    .filter(|v| v.is_finite() && *v > 0.0 && *v <= 1.0)
    .with_context(|| format!("--edge-memory: {s:?} is not a share between 0 and 100 %"))?;
    Ok(((share * 1000.0).round() as u16).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_memory_shares() {
        assert_eq!(edge_memory("5%").expect("ok"), 50);
        assert_eq!(edge_memory("0.25").expect("ok"), 250);
        assert_eq!(
            edge_memory("0.01%").expect("ok"),
            1,
            "rounded up to the least"
        );
        for bad in ["0", "150%", "x", "-1%", "NaN"] {
            assert!(edge_memory(bad).is_err(), "{bad}");
        }
    }

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
