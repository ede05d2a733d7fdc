//! `tinycdn gc`: drop versions beyond the newest N and every object nothing kept references.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use tinycdn_volume::gc::gc;

use crate::cli::GcArgs;
use crate::context::{open_store, Ctx};
use crate::output::{bytes, out, print_json};

/// Runs `tinycdn gc`.
pub fn run(ctx: &Ctx, a: &GcArgs) -> Result<ExitCode> {
    let store = open_store(&a.store.store)?;
    let r = gc(&store, a.keep, &ctx.bar)?;
    if ctx.json {
        print_json(&r)?;
    } else {
        for v in &r.versions_removed {
            out!("removed version {v}");
        }
        out!(
            "freed {} in {} objects; {} manifests removed",
            bytes(r.bytes_freed),
            r.objects_removed,
            r.manifests_removed
        );
    }
    Ok(ExitCode::SUCCESS)
}
