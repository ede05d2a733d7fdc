//! `tinycdn init`: create an empty store.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use crate::cli::InitArgs;
use crate::context::Ctx;
use crate::output::{out, print_json};

/// Runs `tinycdn init`.
pub fn run(ctx: &Ctx, a: &InitArgs) -> Result<ExitCode> {
    tinycdn_objstore::init(&a.store.store)?;
    if ctx.json {
        print_json(&json!({ "store": a.store.store.to_string() }))?;
    } else {
        out!("initialised store {}", a.store.store);
    }
    Ok(ExitCode::SUCCESS)
}
