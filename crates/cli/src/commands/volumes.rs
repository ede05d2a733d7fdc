//! `tinycdn volumes`: the volumes of a store, their versions and tags.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::cli::VolumesArgs;
use crate::context::{open_store, Ctx};
use crate::output::{out, print_json};

/// One volume and its versions.
#[derive(Serialize)]
struct Volume {
    name: String,
    versions: Vec<Version>,
}

/// One version: its number, id, creation time and the tags naming it.
#[derive(Serialize)]
struct Version {
    number: u64,
    version: String,
    created: Option<i64>,
    tags: Vec<String>,
}

/// Runs `tinycdn volumes`.
pub fn run(ctx: &Ctx, a: &VolumesArgs) -> Result<ExitCode> {
    let store = open_store(&a.store.store)?;
    let mut all = Vec::new();
    for name in store.volumes()? {
        let tags = store.tags(&name)?;
        let versions = store
            .versions(&name)?
            .into_iter()
            .map(|(number, id)| Version {
                number,
                version: id.to_string(),
                created: store.read_manifest(&id).map(|(m, _)| m.created).ok(),
                tags: tags
                    .iter()
                    .filter(|t| t.record.version == id)
                    .map(|t| t.record.tag.to_string())
                    .collect(),
            })
            .collect();
        all.push(Volume {
            name: name.to_string(),
            versions,
        });
    }
    if ctx.json {
        print_json(&serde_json::json!({ "volumes": all }))?;
        return Ok(ExitCode::SUCCESS);
    }
    if all.is_empty() {
        eprintln!("the store has no volumes yet (publish one with `tinycdn publish`)");
    }
    for v in &all {
        out!("{}", v.name);
        for ver in &v.versions {
            out!(
                "  {:>4}  {}  {}",
                ver.number,
                &ver.version[..12.min(ver.version.len())],
                ver.tags.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
