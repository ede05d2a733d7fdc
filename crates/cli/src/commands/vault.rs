//! `tinycdn vault sync|restore` and `fsck --repair`: the immutable vault and recovery.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use serde_json::json;
use tinycdn_fetch::Upstreams;
use tinycdn_store::Store;
use tinycdn_sync::repair::RepairReport;
use tinycdn_volume::trust::Trust;

use crate::cli::VaultCommand;
use crate::context::runtime;
use crate::context::Ctx;
use crate::output::print_json;
use crate::output::{Bar, EXIT_INTEGRITY};

/// Fetches what fsck found missing or quarantined from `from`.
pub(crate) fn repair(
    store: &Arc<Store>,
    from: &[String],
    trust: &Trust,
    bar: &Bar,
) -> Result<RepairReport> {
    let upstreams = Upstreams::new(from, std::time::Duration::from_secs(60))?;
    let _lock = store.lock()?;
    Ok(runtime()?.block_on(tinycdn_sync::repair::repair(
        store.clone(),
        &upstreams,
        trust,
        bar,
    ))?)
}

/// The text lines of a repair (stderr, before fsck's own report).
pub(crate) fn print_repair(ctx: &Ctx, r: &RepairReport) -> Result<()> {
    if ctx.json || ctx.quiet {
        return Ok(());
    }
    let mut err = std::io::stderr().lock();
    for m in &r.manifests {
        writeln!(err, "repaired {m}")?;
    }
    for o in &r.objects {
        writeln!(err, "repaired {o}")?;
    }
    for u in &r.unrepaired {
        writeln!(err, "not repaired: {u}")?;
    }
    Ok(())
}

/// Runs a `tinycdn vault` command.
pub fn run(ctx: &Ctx, command: &VaultCommand) -> Result<ExitCode> {
    let bar = &ctx.bar;
    match command {
        VaultCommand::Sync {
            from,
            to,
            log_key,
            trust,
            concurrency,
            timeout,
        } => {
            let verifier = crate::commands::log::verifier(log_key)?;
            let trust = Trust::load(trust)?;
            let vault = Arc::new(Store::init(to)?);
            let upstreams = Arc::new(Upstreams::new(
                from,
                std::time::Duration::from_secs(*timeout),
            )?);
            let r = runtime()?.block_on(tinycdn_sync::vault::sync(
                vault,
                upstreams,
                &trust,
                &verifier,
                *concurrency,
                bar,
            ))?;
            if ctx.json {
                print_json(&json!({
                    "log_before": r.log_before, "log_after": r.log_after,
                    "versions_copied": r.versions_copied, "versions_missing": r.versions_missing,
                    "tags_kept": r.tags_kept, "bytes_transferred": r.bytes_transferred,
                }))?;
            } else {
                println!(
                    "vault {}: log {} -> {} entries, {} versions copied, {} tags kept, {} bytes read",
                    to.display(),
                    r.log_before,
                    r.log_after,
                    r.versions_copied.len(),
                    r.tags_kept,
                    r.bytes_transferred
                );
                for m in &r.versions_missing {
                    eprintln!(
                        "warning: the origin no longer has {m} (gc'd before the vault saw it)"
                    );
                }
            }
        }
        VaultCommand::Restore { from, to, trust } => {
            let vault = Store::open(from)?;
            let trust = Trust::load(trust)?;
            let r = tinycdn_volume::restore::restore(&vault, to, &trust, bar)?;
            let clean = r.fsck.is_clean();
            if ctx.json {
                print_json(&json!({
                    "copied": r.copied, "bytes": r.bytes, "clean": clean,
                    "log_size": r.log.size,
                    "problems": r.fsck.problems.iter().map(|p| json!({"kind": p.kind, "subject": p.subject, "detail": p.detail})).collect::<Vec<_>>(),
                }))?;
            } else {
                println!(
                    "restored {} objects ({} bytes) into {}; log of {} entries verified; fsck {}",
                    r.copied,
                    r.bytes,
                    to.display(),
                    r.log.size,
                    if clean { "ok" } else { "DAMAGED" }
                );
                for p in &r.fsck.problems {
                    println!("{}: {}: {}", p.kind, p.subject, p.detail);
                }
                eprintln!("hint: the log's signing key is never in a vault: copy log/key from its backup into {} before publishing there, or the origin serves the log read-only", to.display());
            }
            if !clean {
                return Ok(ExitCode::from(EXIT_INTEGRITY));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
