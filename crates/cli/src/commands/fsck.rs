//! `tinycdn fsck`: verify every object of a store, quarantine what is damaged, and with
//! `--repair --from` fetch it again from mirrors.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;
use tinycdn_sync::repair::RepairReport;
use tinycdn_volume::fsck::{fsck, FsckReport};
use tinycdn_volume::trust::Trust;

use crate::cli::FsckArgs;
use crate::context::{open_store, Ctx};
use crate::output::{bytes, out, print_json, EXIT_INTEGRITY};

/// `--json`: what was repaired, then the report of the (last) check.
#[derive(Serialize)]
struct Json<'a> {
    repaired: Option<&'a RepairReport>,
    clean: bool,
    #[serde(flatten)]
    report: &'a FsckReport,
}

/// Runs `tinycdn fsck`: exit 3 when damage remains.
pub fn run(ctx: &Ctx, a: &FsckArgs) -> Result<ExitCode> {
    let store = Arc::new(open_store(&a.store.store)?);
    let trust = Trust::load(&a.trust.trust)?.followed_in(&store)?;
    let mut r = fsck(&store, &trust, &ctx.bar)?;
    let repaired = if a.repair {
        let done = crate::commands::vault::repair(&store, &a.from, &trust, &ctx.bar)?;
        let before = r.clone();
        r = fsck(&store, &trust, &ctx.bar)?;
        // What the first pass quarantined stays listed.
        r.quarantined = before.quarantined;
        Some(done)
    } else {
        None
    };
    if let Some(done) = &repaired {
        crate::commands::vault::print_repair(ctx, done)?;
    }
    if ctx.json {
        print_json(&Json {
            repaired: repaired.as_ref(),
            clean: r.is_clean(),
            report: &r,
        })?;
    } else {
        print_text(&r, a.repair)?;
    }
    if !r.is_clean() {
        return Ok(ExitCode::from(EXIT_INTEGRITY));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(r: &FsckReport, repaired: bool) -> Result<()> {
    out!(
        "checked {} objects ({}), {} manifests, {} versions, {} tags",
        r.objects,
        bytes(r.bytes),
        r.manifests,
        r.versions,
        r.tags
    );
    if r.unreferenced_objects > 0 {
        out!(
            "{} objects are unreferenced (`tinycdn gc` removes them)",
            r.unreferenced_objects
        );
    }
    for p in &r.problems {
        out!("{}: {}: {}", p.kind, p.subject, p.detail);
    }
    for q in &r.quarantined {
        out!("quarantined {q}");
    }
    out!("{}", if r.is_clean() { "ok" } else { "DAMAGED" });
    if !r.is_clean() && !repaired {
        eprintln!(
            "hint: fetch what is damaged or missing again with \
             `tinycdn fsck --repair --from URL` (an origin, edge or vault that has it)"
        );
    }
    Ok(())
}
