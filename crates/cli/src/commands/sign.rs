//! `tinycdn sign`: co-sign a version's manifest, its delta index and its tag.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;
use tinycdn_volume::reference::Reference;

use crate::cli::SignArgs;
use crate::commands::trust::secret_key;
use crate::context::{open_store, Ctx};
use crate::output::{out, print_json};

/// Runs `tinycdn sign`.
pub fn run(ctx: &Ctx, a: &SignArgs) -> Result<ExitCode> {
    let key = secret_key(&a.key)?;
    let reference: Reference = a.reference.parse()?;
    let done = tinycdn_volume::reference::cosign(&open_store(&a.store.store)?, &reference, &key)?;
    if ctx.json {
        print_json(&json!({
            "version": done.version.to_string(), "key": key.public().id().to_string(),
            "delta_index": done.delta_index, "tag": done.tag,
        }))?;
    } else {
        out!(
            "signed {} version {} by key {}{}{}",
            reference.volume,
            done.version.short(),
            key.public().id().short(),
            if done.delta_index {
                ", its delta index"
            } else {
                ""
            },
            if done.tag { ", and the tag" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
