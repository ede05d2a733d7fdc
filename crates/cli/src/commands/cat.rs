//! `tinycdn cat`: one file of a version to stdout, verified chunk by chunk.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use tinycdn_volume::read::{copy_file, find_file};

use crate::cli::CatArgs;
use crate::context::{open_version, Ctx};

/// Runs `tinycdn cat`.
pub fn run(_ctx: &Ctx, a: &CatArgs) -> Result<ExitCode> {
    let (store, reference, v) = open_version(&a.store.store, &a.trust.trust, &a.reference)?;
    let file = find_file(&v.manifest, &a.path, &reference.to_string())?;
    let mut out = std::io::stdout().lock();
    copy_file(&store, file, &reference.to_string(), &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
