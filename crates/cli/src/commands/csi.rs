//! `tinycdn csi probe|publish|unpublish|stats`: a kubelet's calls to a CSI node plugin, by hand
//! (the same client the tests use). Exit 0 on success; the gRPC status and message on stderr
//! and exit 1 otherwise.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;
use tinycdn_csi::Client;

use crate::cli::{CsiCommand, CsiEndpointArgs};
use crate::context::{runtime, Ctx};
use crate::output::{out, print_json, Usage};

/// Runs `tinycdn csi`.
pub fn run(ctx: &Ctx, command: &CsiCommand) -> Result<ExitCode> {
    let rt = runtime()?;
    rt.block_on(async {
        match command {
            CsiCommand::Probe(a) => probe(ctx, a).await,
            CsiCommand::Publish(a) => {
                let mut client = connect(&a.target.endpoint).await?;
                let attributes = a.attributes.iter().cloned().collect();
                let start = Instant::now();
                let result = client
                    .publish(&a.target.volume_id, &a.target.target, attributes)
                    .await;
                done(ctx, "published", &a.target, start, result)
            }
            CsiCommand::Unpublish(a) => {
                let mut client = connect(&a.endpoint).await?;
                let start = Instant::now();
                let result = client.unpublish(&a.volume_id, &a.target).await;
                done(ctx, "unpublished", a, start, result)
            }
            CsiCommand::Stats(a) => {
                let mut client = connect(&a.endpoint).await?;
                match client.stats(&a.volume_id, &a.target).await {
                    Ok(s) => stats(ctx, &s),
                    Err(status) => Ok(failed(&status)),
                }
            }
        }
    })
}

async fn connect(a: &CsiEndpointArgs) -> Result<Client> {
    let path = tinycdn_csi::endpoint::parse(&a.endpoint).map_err(|e| Usage(e.to_string()))?;
    Client::connect(&path, Duration::from_secs(a.timeout))
        .await
        .with_context(|| format!("cannot connect to the plugin at {}", path.display()))
}

fn failed(status: &tonic::Status) -> ExitCode {
    eprintln!(
        "error: {}: {}",
        tinycdn_csi::status::code_name(status.code()),
        status.message()
    );
    ExitCode::FAILURE
}

fn done(
    ctx: &Ctx,
    what: &str,
    a: &crate::cli::CsiTargetArgs,
    start: Instant,
    result: Result<(), tonic::Status>,
) -> Result<ExitCode> {
    let elapsed = start.elapsed();
    if let Err(status) = result {
        return Ok(failed(&status));
    }
    if ctx.json {
        print_json(&json!({
            "ok": true, "volume_id": a.volume_id, "target": a.target,
            "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
        }))?;
    } else if !ctx.quiet {
        out!(
            "{what} {} at {} in {:.1} ms",
            a.volume_id,
            a.target.display(),
            elapsed.as_secs_f64() * 1000.0
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn probe(ctx: &Ctx, a: &CsiEndpointArgs) -> Result<ExitCode> {
    let mut client = connect(a).await?;
    let p = match client.probe().await {
        Ok(p) => p,
        Err(status) => return Ok(failed(&status)),
    };
    if ctx.json {
        print_json(&json!({
            "name": p.info.name, "vendor_version": p.info.vendor_version, "ready": p.ready,
            "node_id": p.node.node_id, "capabilities": p.capabilities,
        }))?;
    } else {
        out!(
            "{} {}: {}",
            p.info.name,
            p.info.vendor_version,
            if p.ready { "ready" } else { "not ready" }
        );
        out!("node: {}", p.node.node_id);
        out!("capabilities: {}", p.capabilities.join(", "));
    }
    Ok(if p.ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn stats(ctx: &Ctx, s: &tinycdn_csi::proto::NodeGetVolumeStatsResponse) -> Result<ExitCode> {
    let of = |unit: tinycdn_csi::proto::volume_usage::Unit| {
        s.usage
            .iter()
            .find(|u| u.unit == unit as i32)
            .map_or(0, |u| u.used)
    };
    let bytes = of(tinycdn_csi::proto::volume_usage::Unit::Bytes);
    let inodes = of(tinycdn_csi::proto::volume_usage::Unit::Inodes);
    let (abnormal, message) = s
        .volume_condition
        .as_ref()
        .map_or((false, String::new()), |c| (c.abnormal, c.message.clone()));
    if ctx.json {
        print_json(&json!({
            "bytes": bytes, "inodes": inodes, "abnormal": abnormal, "message": message,
        }))?;
    } else {
        let state = if abnormal { "ABNORMAL: " } else { "" };
        out!("{bytes} bytes, {inodes} entries; {state}{message}");
    }
    Ok(if abnormal {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
