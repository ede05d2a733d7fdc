//! `tinycdn replay`: a log's GET requests sent again to each target in turn (the origin, then
//! the edge), with first-byte and total times, hit ratio and bytes side by side.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tinycdn_replay::{replay, Options, Plan, Summary};

use crate::cli::ReplayArgs;
use crate::context::Ctx;
use crate::logs::{format_of, in_time_order};
use crate::output::{bytes, Bar};

/// Runs `tinycdn replay`.
pub fn run(ctx: &Ctx, a: &ReplayArgs) -> Result<std::process::ExitCode> {
    replay_all(ctx, a)?;
    Ok(std::process::ExitCode::SUCCESS)
}

fn bar(enabled: bool, target: &str, total: u64) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(total);
    b.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} requests {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    b.set_message(target.to_owned());
    b
}

/// `b / a` for "how many times faster b is than a" (a: the first target's time).
fn speedup(first: f64, other: f64) -> Option<f64> {
    (first > 0.0 && other > 0.0).then(|| first / other)
}

/// Runs the replay.
fn replay_all(ctx: &Ctx, a: &ReplayArgs) -> Result<()> {
    if a.targets.is_empty() {
        bail!("name at least one --target URL\nhint: the origin first, then the edge: --target http://origin:8080 --target http://edge:8081");
    }
    if !(a.rate.is_finite() && a.rate >= 0.0) {
        bail!("--rate must be a number of requests per second (0: unpaced)");
    }
    if a.duration.is_some_and(|d| !(d.is_finite() && d > 0.0))
        || !(a.timeout.is_finite() && a.timeout > 0.0)
    {
        bail!("--duration and --timeout take seconds above zero");
    }
    let format = format_of(&a.format, &a.logs)?;
    let files = in_time_order(&a.logs, format)?;
    let mut plan = Plan::new(a.limit);
    let read = crate::logs::read(&files, format, &Bar::new(!ctx.json), |r| {
        plan.push(r);
        true
    })?;
    if plan.requests.is_empty() {
        bail!(
            "no GET request to replay in {} line(s) ({} malformed)",
            read.lines,
            read.malformed
        );
    }
    let opts = Options {
        rate: a.rate,
        duration: a.duration.map(Duration::from_secs_f64),
        concurrency: a.concurrency.max(1),
        timeout: Duration::from_secs_f64(a.timeout),
        keep_host: a.keep_host,
    };
    let rt = crate::context::runtime()?;
    let mut results: Vec<Summary> = Vec::new();
    for t in &a.targets {
        let pb = bar(!ctx.json, t, plan.requests.len() as u64);
        let tick = pb.clone();
        let s = rt.block_on(replay(
            t,
            &plan.requests,
            &opts,
            Arc::new(move || tick.inc(1)),
        ))?;
        pb.finish_and_clear();
        if !ctx.json {
            eprintln!(
                "{t}: {} requests in {:.1} s, {} errors",
                s.requests, s.seconds, s.errors
            );
        }
        results.push(s);
    }
    if ctx.json {
        print_json(&plan, &read, &results)?;
    } else {
        print_text(&plan, &results);
    }
    if let Some(dead) = results
        .iter()
        .find(|s| s.requests > 0 && s.errors == s.requests)
    {
        bail!(
            "every request to {} failed: {}\nhint: is it listening? `curl -sI {}` should answer",
            dead.target,
            dead.first_error.as_deref().unwrap_or("no response"),
            dead.target
        );
    }
    Ok(())
}

fn print_json(plan: &Plan, read: &crate::logs::LogRead, results: &[Summary]) -> Result<()> {
    let first = &results[0];
    let ratios: Vec<serde_json::Value> = results
        .iter()
        .skip(1)
        .map(|s| {
            json!({
                "target": s.target,
                "against": first.target,
                "ttfb_p50_speedup": speedup(first.ttfb_ms.p50, s.ttfb_ms.p50),
                "ttfb_p90_speedup": speedup(first.ttfb_ms.p90, s.ttfb_ms.p90),
                "ttfb_p99_speedup": speedup(first.ttfb_ms.p99, s.ttfb_ms.p99),
                "total_p50_speedup": speedup(first.total_ms.p50, s.total_ms.p50),
            })
        })
        .collect();
    let v = json!({
        "lines": read.lines,
        "malformed": read.malformed,
        "planned": plan.requests.len(),
        "skipped": {
            "not_get": plan.skipped_methods,
            "unsendable": plan.skipped_targets,
            "over_limit": plan.over_limit,
        },
        "targets": results,
        "speedups": ratios,
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

fn print_text(plan: &Plan, results: &[Summary]) {
    println!(
        "replayed {} GET request(s) per target (skipped: {} not GET, {} unsendable, {} past --limit)",
        plan.requests.len(),
        plan.skipped_methods,
        plan.skipped_targets,
        plan.over_limit
    );
    println!(
        "{:<32} {:>8} {:>6} {:>9} {:>24} {:>24} {:>11}",
        "target",
        "requests",
        "errors",
        "hit ratio",
        "first byte p50/p90/p99",
        "total p50/p90/p99",
        "bytes"
    );
    for s in results {
        let hit = s
            .hit_ratio
            .map_or_else(|| "-".to_owned(), |h| format!("{:.1} %", h * 100.0));
        let p = |x: &tinycdn_replay::stats::Percentiles| {
            format!("{:.2}/{:.2}/{:.2} ms", x.p50, x.p90, x.p99)
        };
        println!(
            "{:<32} {:>8} {:>6} {:>9} {:>9} {:>24} {:>24} {:>11}",
            s.target,
            s.requests,
            s.errors,
            hit,
            s.collapsed,
            p(&s.ttfb_ms),
            p(&s.total_ms),
            bytes(s.bytes)
        );
        if let Some(e) = &s.first_error {
            println!("  first error: {e}");
        }
    }
    let first = &results[0];
    for s in results.iter().skip(1) {
        if let (Some(a), Some(b), Some(c)) = (
            speedup(first.ttfb_ms.p50, s.ttfb_ms.p50),
            speedup(first.ttfb_ms.p90, s.ttfb_ms.p90),
            speedup(first.ttfb_ms.p99, s.ttfb_ms.p99),
        ) {
            println!(
                "first byte at {} vs {}: {a:.2}x at p50, {b:.2}x at p90, {c:.2}x at p99 (above 1: faster)",
                s.target, first.target
            );
        }
    }
}
