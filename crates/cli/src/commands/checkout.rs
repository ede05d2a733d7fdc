//! `tinycdn checkout`: a version materialised read-only, DEST switched to it atomically.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;
use tinycdn_volume::checkout::{checkout, CheckoutReport};

use crate::cli::CheckoutArgs;
use crate::context::{open_version, Ctx};
use crate::output::{out, print_json};

/// `--json`: the checkout report with the version it holds.
#[derive(Serialize)]
struct Json<'a> {
    #[serde(flatten)]
    report: &'a CheckoutReport,
    version: String,
    number: u64,
}

/// Runs `tinycdn checkout`.
pub fn run(ctx: &Ctx, a: &CheckoutArgs) -> Result<ExitCode> {
    let (store, _, v) = open_version(&a.store.store, &a.trust.trust, &a.reference)?;
    let r = checkout(&store, &v, &a.dest, &ctx.bar)?;
    if ctx.json {
        print_json(&Json {
            report: &r,
            version: v.id.to_string(),
            number: v.manifest.version,
        })?;
    } else {
        out!(
            "{} -> {} version {} ({})",
            r.dest.display(),
            v.manifest.volume,
            v.manifest.version,
            v.id.short()
        );
        out!(
            "  {} files: {} hardlinked, {} copied{}",
            r.files,
            r.linked,
            r.copied,
            if r.reused {
                " (version directory reused)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
