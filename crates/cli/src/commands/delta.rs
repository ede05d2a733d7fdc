//! `tinycdn delta create|apply`: binary deltas between two versions of a file.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use serde_json::json;
use tinycdn_delta::Method;
use tinycdn_store::local::write_file_atomic;

use crate::cli::{DeltaCommand, DeltaMethod};
use crate::context::Ctx;
use crate::output::{bytes, out, print_json, EXIT_INTEGRITY};

/// Runs `tinycdn delta …`.
pub fn run(ctx: &Ctx, command: &DeltaCommand) -> Result<ExitCode> {
    match command {
        DeltaCommand::Create {
            old,
            new,
            out,
            method,
        } => create(ctx, old, new, out, *method),
        DeltaCommand::Apply { old, delta, out } => apply(ctx, old, delta, out),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn create(ctx: &Ctx, old: &Path, new: &Path, out: &Path, method: DeltaMethod) -> Result<ExitCode> {
    let (base, target) = (read_file(old)?, read_file(new)?);
    let created = match method {
        DeltaMethod::Auto => tinycdn_delta::create_auto(&base, &target)?,
        DeltaMethod::Zstd => tinycdn_delta::create(&base, &target, &[Method::ZstdPatchFrom])?,
        DeltaMethod::Bsdiff => tinycdn_delta::create(&base, &target, &[Method::Bsdiff])?,
        DeltaMethod::BsdiffLzma => tinycdn_delta::create(&base, &target, &[Method::BsdiffLzma])?,
    };
    let encoded = created.delta.to_bytes();
    write_file_atomic(out, &encoded, 0o644, true)
        .with_context(|| format!("writing {}", out.display()))?;
    let ratio = encoded.len() as f64 / target.len().max(1) as f64;
    if ctx.json {
        print_json(&json!({
            "method": created.delta.header.method.name(),
            "delta_bytes": encoded.len(),
            "target_bytes": target.len(),
            "ratio": ratio,
            "attempts": created.attempts.iter().map(|a| json!({
                "method": a.method.name(), "bytes": a.size, "cpu_seconds": a.time.as_secs_f64(),
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        out!(
            "{}: {} ({:.2}% of {}) by {}",
            out.display(),
            bytes(encoded.len() as u64),
            ratio * 100.0,
            bytes(target.len() as u64),
            created.delta.header.method.name()
        );
        for a in &created.attempts {
            out!(
                "  {:<11} {:>12} bytes in {:.3}s",
                a.method.name(),
                a.size,
                a.time.as_secs_f64()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn apply(ctx: &Ctx, old: &Path, delta: &Path, out: &Path) -> Result<ExitCode> {
    let (base, patch) = (read_file(old)?, read_file(delta)?);
    let target = match tinycdn_delta::apply(&base, &patch) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(EXIT_INTEGRITY));
        }
    };
    write_file_atomic(out, &target, 0o644, true)
        .with_context(|| format!("writing {}", out.display()))?;
    if ctx.json {
        print_json(&json!({ "target_bytes": target.len(), "verified": true }))?;
    } else {
        out!(
            "{}: {} (verified)",
            out.display(),
            bytes(target.len() as u64)
        );
    }
    Ok(ExitCode::SUCCESS)
}
