//! `tinycdn pull`: a version from mirrors into the store, only the chunks it lacks or deltas
//! from files it has; then optionally checked out and collected.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use tinycdn_sync::{LogPolicy, PullReport};
use tinycdn_volume::checkout::checkout;
use tinycdn_volume::gc::{gc, GcReport};
use tinycdn_volume::reference::Reference;
use tinycdn_volume::trust::Trust;

use crate::cli::PullArgs;
use crate::context::{runtime, Ctx};
use crate::output::{bytes, out, print_json};

/// Runs `tinycdn pull`.
pub fn run(ctx: &Ctx, a: &PullArgs) -> Result<ExitCode> {
    let log = a
        .log_key
        .as_deref()
        .map(|k| -> Result<LogPolicy> {
            Ok(LogPolicy {
                verifier: crate::commands::log::verifier(k)?,
                require: a.require_log,
            })
        })
        .transpose()?;
    let r: Reference = a.reference.parse()?;
    // Freshness is checked by the pull, after it has looked for a newer root.
    let trust = Trust::load(&a.trust)?;
    // A node's first pull makes its store, as `git clone` makes its repository (an existing
    // directory must be empty; an existing store is opened).
    let existed = tinycdn_objstore::open(&a.store.store).is_ok();
    let store = Arc::new(tinycdn_objstore::init(&a.store.store)?);
    if !existed && !ctx.quiet {
        eprintln!("created store {}", a.store.store);
    }
    let upstreams = Arc::new(tinycdn_fetch::Upstreams::new(
        &a.from,
        Duration::from_secs(a.timeout),
    )?);
    let report = runtime()?.block_on(tinycdn_sync::pull_logged(
        store.clone(),
        upstreams,
        &trust,
        &r.volume,
        &r.spec,
        a.concurrency,
        &ctx.bar,
        log.as_ref(),
    ))?;
    let version = report.version.map(|v| v.to_string()).unwrap_or_default();
    let given_root = trust.root().map(|g| g.root.version);
    let root_version = report.root.as_ref().map(|n| n.root.version);
    if root_version > given_root {
        eprintln!(
            "note: using trust root version {} (the file given is version {}): rotations published by the mirrors or pinned in the store",
            root_version.unwrap_or_default(),
            given_root.unwrap_or_default()
        );
    }
    let trust = report.root.clone().map_or(trust, Trust::from_root);
    let checked_out = match &a.checkout {
        Some(d) => {
            let pinned: Reference = format!("{}@{version}", r.volume).parse()?;
            let v = pinned.open(&store, &trust)?;
            Some(checkout(&store, &v, d, &ctx.bar)?.version_dir)
        }
        None => None,
    };
    let collected = a.keep.map(|k| gc(&store, k, &ctx.bar)).transpose()?;
    let done = Done {
        volume: r.volume.as_str(),
        version: &version,
        report: &report,
        checked_out,
        root_version,
        collected,
    };
    if ctx.json {
        done.print_json()?;
    } else {
        done.print_text()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What a pull did, to print.
struct Done<'a> {
    volume: &'a str,
    version: &'a str,
    report: &'a PullReport,
    checked_out: Option<PathBuf>,
    root_version: Option<u64>,
    collected: Option<GcReport>,
}

impl Done<'_> {
    fn print_json(&self) -> Result<()> {
        let report = self.report;
        print_json(&json!({
            "volume": self.volume, "version": self.version, "number": report.number,
            "already_had": report.already_had,
            "volume_bytes": report.volume_bytes,
            "bytes_transferred": report.bytes_transferred,
            "bytes_saved": report.volume_bytes.saturating_sub(report.bytes_transferred),
            "bytes_already_present": report.bytes_already_present,
            "bytes_from_local_chunks": report.bytes_from_local_chunks,
            "bytes_from_staging": report.bytes_from_staging,
            "bytes_from_deltas": report.bytes_from_deltas,
            "deltas_applied": report.deltas_applied,
            "delta_bytes": report.delta_bytes,
            "deltas_failed": report.deltas_failed,
            "chunks_fetched": report.chunks_fetched,
            "requests": report.requests,
            "checkout": self.checked_out,
            "root_version": self.root_version,
            "log_size": report.log_size,
            "log_index": report.log_index,
            "versions_removed": self.collected.as_ref().map(|c| &c.versions_removed),
        }))
    }

    fn print_text(&self) -> Result<()> {
        let report = self.report;
        out!(
            "pulled {} version {} ({}){}",
            self.volume,
            report.number,
            &self.version[..12.min(self.version.len())],
            if report.already_had {
                ", already here"
            } else {
                ""
            }
        );
        out!(
            "  volume {}, transferred {}, saved {}: {} in files already here, {} from local chunks, {} staged by an earlier pull, {} from {} deltas ({}); {} chunks in {} requests",
            bytes(report.volume_bytes),
            bytes(report.bytes_transferred),
            bytes(report.volume_bytes.saturating_sub(report.bytes_transferred)),
            bytes(report.bytes_already_present),
            bytes(report.bytes_from_local_chunks),
            bytes(report.bytes_from_staging),
            bytes(report.bytes_from_deltas),
            report.deltas_applied,
            bytes(report.delta_bytes),
            report.chunks_fetched,
            report.requests
        );
        if report.deltas_failed > 0 {
            eprintln!(
                "warning: {} deltas failed to fetch, verify or apply; those files came as chunks",
                report.deltas_failed
            );
        }
        if let Some(d) = &self.checked_out {
            out!("  checked out at {}", d.display());
        }
        Ok(())
    }
}
