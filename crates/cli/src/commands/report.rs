//! `tinycdn report`: the cost model from a store and from edges' metrics, as HTML or JSON.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use tinycdn_fetch::Upstreams;
use tinycdn_report::{html, EdgeSection, Report, StoreSection};
use tinycdn_store::local::write_file_atomic;
use tinycdn_store::Store;

use crate::context::runtime;
use crate::context::Ctx;
use crate::output::print_json;

/// Runs `tinycdn report`.
pub fn run(ctx: &Ctx, a: &crate::cli::ReportArgs) -> Result<std::process::ExitCode> {
    report(ctx, a.store.as_deref(), &a.edges, a.out.as_deref())?;
    Ok(std::process::ExitCode::SUCCESS)
}

fn report(ctx: &Ctx, store: Option<&Path>, edges: &[String], out: Option<&Path>) -> Result<()> {
    if store.is_none() && edges.is_empty() {
        bail!("give --store DIR, --edge URL, or both");
    }
    let mut report = Report {
        generated: tinycdn_report::now(),
        ..Report::default()
    };
    if let Some(dir) = store {
        report.store = Some(StoreSection::from_store(&Store::open(dir)?)?);
    }
    let rt = runtime()?;
    for url in edges {
        let up = Upstreams::new(
            std::slice::from_ref(url),
            std::time::Duration::from_secs(10),
        )?;
        // An edge answers under `/.tinycdn/`, an origin at the root.
        let text = rt
            .block_on(async {
                match up
                    .fetch("/.tinycdn/metrics", None, 16 << 20, |_| true)
                    .await
                {
                    Err(tinycdn_fetch::FetchError::NotFound { .. }) => {
                        up.fetch("/metrics", None, 16 << 20, |_| true).await
                    }
                    other => other,
                }
            })
            .with_context(|| format!("reading the metrics of {url}"))?;
        report.edges.push(EdgeSection::from_metrics(
            url,
            &String::from_utf8_lossy(&text),
        ));
    }
    if ctx.json {
        print_json(&serde_json::to_value(&report)?)?;
    }
    match out {
        Some(p) if p.as_os_str() == "-" => {
            std::io::stdout()
                .lock()
                .write_all(html::page("tinycdn report", &report, false).as_bytes())?;
        }
        Some(p) => {
            write_file_atomic(
                p,
                html::page("tinycdn report", &report, false).as_bytes(),
                0o644,
                true,
            )?;
            if !ctx.quiet {
                eprintln!("wrote {}", p.display());
            }
        }
        None if !ctx.json => {
            let (req, by) = report.fleet_hit_ratio();
            if !report.edges.is_empty() {
                println!(
                    "hit ratio: {:.1} % of chunk lookups, {:.1} % of bytes served from the cache",
                    req * 100.0,
                    by * 100.0
                );
                for e in &report.edges {
                    println!(
                        "  {} ({}): {:.1} % / {:.1} %",
                        e.pop,
                        e.source,
                        e.hit_ratio_requests * 100.0,
                        e.hit_ratio_bytes * 100.0
                    );
                    for (site, r) in &e.sites {
                        println!(
                            "    site {site}: {:.1} % of bytes from the cache, {:.0} requests",
                            r.hit_ratio_bytes * 100.0,
                            r.requests
                        );
                    }
                }
            }
            if let Some(s) = &report.store {
                println!(
                    "storage: duplication factor {:.3}, dedup ratio {:.2}",
                    s.duplication_factor, s.dedup_ratio
                );
                for d in &s.deltas {
                    println!(
                        "deltas {}: {} kept, ratio {:.1}, {:.0} bytes saved per CPU second",
                        d.method, d.count, d.compression_ratio, d.saved_bytes_per_cpu_second
                    );
                }
            }
            eprintln!("hint: `-o report.html` writes the page with charts");
        }
        None => {}
    }
    Ok(())
}
