//! `tinycdn stats`: logical and physical bytes, the duplication factor and the delta economy.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;
use tinycdn_volume::stats::{stats, StoreStats as Stats};

use crate::cli::StatsArgs;
use crate::context::{open_store, Ctx};
use crate::output::{bytes, out, print_json};

/// Runs `tinycdn stats`.
pub fn run(ctx: &Ctx, a: &StatsArgs) -> Result<ExitCode> {
    let s = stats(&open_store(&a.store.store)?)?;
    if ctx.json {
        print_json(&to_json(&s))?;
    } else {
        print_text(&s)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn to_json(s: &Stats) -> serde_json::Value {
    json!({
        "volumes": s.volumes,
        "logical_bytes": s.logical_bytes, "objects": s.objects,
        "physical_bytes": s.physical_bytes, "unique_chunks": s.unique_chunks,
        "unique_chunk_bytes": s.unique_chunk_bytes, "dedup_ratio": s.dedup_ratio,
        "duplication_factor": s.duplication_factor,
        "deltas": s.deltas.iter().map(|d| json!({
            "method": d.method, "count": d.count, "target_bytes": d.target_bytes,
            "delta_bytes": d.delta_bytes, "replaced_chunk_bytes": d.replaced_bytes,
            "cpu_seconds": d.cpu_seconds, "rejected": d.rejected,
            "rejected_cpu_seconds": d.rejected_cpu_seconds,
            "compression_ratio": d.compression_ratio(),
            "saving_over_chunks": d.saving_over_chunks(),
            "saved_bytes_per_cpu_second": d.saved_bytes_per_cpu_second(),
        })).collect::<Vec<_>>(),
    })
}

fn print_text(s: &Stats) -> Result<()> {
    for v in &s.volumes {
        out!(
            "{}: {} versions, latest {} ({}), all versions {}",
            v.name,
            v.versions,
            v.latest,
            bytes(v.latest_bytes),
            bytes(v.logical_bytes)
        );
    }
    out!(
        "logical bytes      {} ({})",
        s.logical_bytes,
        bytes(s.logical_bytes)
    );
    out!(
        "physical bytes     {} ({}) in {} objects",
        s.physical_bytes,
        bytes(s.physical_bytes),
        s.objects
    );
    out!(
        "unique chunk bytes {} ({}) in {} chunks",
        s.unique_chunk_bytes,
        bytes(s.unique_chunk_bytes),
        s.unique_chunks
    );
    out!("dedup ratio        {:.3}", s.dedup_ratio);
    out!("duplication factor {:.3}", s.duplication_factor);
    for d in &s.deltas {
        let all = if d.method == "all" {
            format!(
                "; {} not kept ({:.2} CPU s); {}/CPU s saved",
                d.rejected,
                d.rejected_cpu_seconds,
                bytes(d.saved_bytes_per_cpu_second() as u64)
            )
        } else {
            String::new()
        };
        out!(
            "deltas {:<11} {} kept: {} -> {} (ratio {:.1}x, {:.1}x fewer bytes than the missing chunks) in {:.2} CPU s{all}",
            d.method,
            d.count,
            bytes(d.target_bytes),
            bytes(d.delta_bytes),
            d.compression_ratio(),
            d.saving_over_chunks(),
            d.cpu_seconds,
        );
    }
    Ok(())
}
