//! `tinycdn purge`: drop (or mark stale) stored responses on an edge, by URL, prefix or key.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use serde_json::json;
use tinycdn_edge::proxy::purge::PurgeRequest;

use crate::cli::PurgeArgs;
use crate::context::{runtime, Ctx};
use crate::output::{out, print_json, Usage};

/// Runs `tinycdn purge`: exit 2 when nothing to purge is named.
pub fn run(ctx: &Ctx, a: &PurgeArgs) -> Result<ExitCode> {
    let request = PurgeRequest {
        urls: a.urls.clone(),
        prefixes: a.prefixes.clone(),
        keys: a.keys.clone(),
        soft: a.soft,
    };
    if request.urls.is_empty() && request.prefixes.is_empty() && request.keys.is_empty() {
        return Err(Usage("name something to purge: --url, --prefix or --key".into()).into());
    }
    let token = crate::commands::edge::token(&a.token_file)?;
    let purged = runtime()?
        .block_on(tinycdn_edge::proxy::purge::send(&a.edge, &token, &request))
        .with_context(|| format!("purging at {}", a.edge))?;
    if ctx.json {
        print_json(&json!({ "purged": purged, "soft": request.soft }))?;
    } else {
        out!(
            "{} {purged} stored response{}",
            if request.soft {
                "marked stale"
            } else {
                "purged"
            },
            if purged == 1 { "" } else { "s" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
