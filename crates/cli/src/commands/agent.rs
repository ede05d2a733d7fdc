//! `tinycdn agent --config agent.toml`: the node agent (see `tinycdn-agent`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;
use tinycdn_agent::{Agent, Config, Outcome};

use crate::context::runtime;
use crate::context::Ctx;
use crate::output::{print_json, Usage};

/// Runs `tinycdn agent`.
pub fn run(ctx: &Ctx, a: &crate::cli::AgentArgs) -> Result<ExitCode> {
    agent(
        ctx,
        &a.config,
        a.once,
        a.listen.as_deref(),
        a.csi_endpoint.as_deref(),
    )
}

fn agent(
    ctx: &Ctx,
    path: &Path,
    once: bool,
    listen: Option<&str>,
    csi: Option<&str>,
) -> Result<ExitCode> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the agent's configuration {}", path.display()))?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    let config = Config::parse(&text, &base)
        .with_context(|| format!("{} is not a usable agent configuration", path.display()))?;
    if config.volumes.is_empty() && csi.is_none() {
        return Err(Usage(format!(
            "{} has no [[volume]]: the agent has nothing to keep current without --csi-endpoint",
            path.display()
        ))
        .into());
    }
    let csi = csi
        .map(tinycdn_csi::endpoint::parse)
        .transpose()
        .map_err(|e| Usage(e.to_string()))?;
    let trust = tinycdn_volume::trust::Trust::load(&config.trust)?;
    let log = config
        .log_key
        .as_deref()
        .map(|k| -> Result<tinycdn_sync::LogPolicy> {
            Ok(tinycdn_sync::LogPolicy {
                verifier: crate::commands::log::verifier(k)?,
                require: config.require_log,
            })
        })
        .transpose()?;
    let location = tinycdn_objstore::Location::parse(&config.store)?;
    // A node's first round makes its store, as `pull` does.
    let store = Arc::new(
        tinycdn_objstore::init(&location)
            .with_context(|| format!("cannot open or create the store {location}"))?,
    );
    let upstreams = Arc::new(tinycdn_fetch::Upstreams::new(
        &config.from,
        Duration::from_secs(config.timeout),
    )?);
    let listen = listen.unwrap_or(&config.listen).to_owned();
    let agent = Arc::new(Agent::new(config, store, upstreams, trust, log));
    let rt = runtime()?;
    if once {
        let outcomes = rt.block_on(agent.round());
        return report_once(ctx, &agent, &outcomes);
    }
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        // SIGTERM/SIGINT: the round under way finishes (within 30 s), none starts, the
        // endpoints close, exit 0.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        // The plugin's socket listens before the URL is printed: a caller may dial it then.
        let csi = csi
            .map(|socket| start_csi(&agent, socket, stopped.clone()))
            .transpose()?;
        writeln!(std::io::stdout().lock(), "http://{addr}")?;
        std::io::stdout().flush()?;
        eprintln!(
            "agent: keeping {} volumes current every {} s; /metrics, /healthz, /readyz on http://{addr}",
            agent.config().volumes.len(),
            agent.config().interval
        );
        let rounds = tokio::spawn(agent.clone().run_until(stopped));
        let drain = tinycdn_server::Drain::new();
        let signals = tokio::spawn(crate::serving::drain_on_signal(
            drain.clone(),
            agent.clone(),
            Duration::ZERO,
            std::sync::Arc::new(tokio::sync::Notify::new()),
        ));
        let limits = tinycdn_server::Limits::default();
        tinycdn_server::serve_until(listener, agent, limits, None, drain).await?;
        stop.send_replace(true);
        if tokio::time::timeout(Duration::from_secs(30), rounds).await.is_err() {
            eprintln!("agent: the round under way did not finish within 30 s: exiting");
        }
        if let Some(csi) = csi {
            // Calls under way finish; the pods' mounts stay (a new agent takes them over).
            if let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(30), csi).await {
                eprintln!("agent: csi: {e}");
            }
        }
        signals.abort();
        eprintln!("agent: stopped");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Starts the CSI node plugin on `socket`: its state rebuilt from its records and the mount
/// table, then served until `stop` turns true.
fn start_csi(
    agent: &Arc<Agent>,
    socket: std::path::PathBuf,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let (driver, found) = tinycdn_csi::Driver::start(agent.clone())
        .map_err(|f| anyhow::anyhow!("csi: {}", f.message))?;
    let listener = tinycdn_csi::service::bind(&socket)
        .map_err(|e| Usage(format!("csi: cannot listen on {}: {e}", socket.display())))?;
    eprintln!(
        "agent: csi: driver {} on unix://{} (node {}); {} mounts kept, {} stale records dropped, {} unused folders removed",
        tinycdn_csi::DRIVER,
        socket.display(),
        driver.node_id(),
        found.kept,
        found.dropped,
        found.folders_removed
    );
    let driver = Arc::new(driver);
    agent.add_metrics(driver.clone());
    Ok(tokio::spawn(async move {
        tinycdn_csi::service::serve(driver, listener, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await
    }))
}

/// The outcome of `--once`: one line per volume (or JSON); exit 1 when any failed.
fn report_once(ctx: &Ctx, agent: &Agent, outcomes: &[Outcome]) -> Result<ExitCode> {
    let status = agent.status();
    let failed = outcomes.iter().any(|o| matches!(o, Outcome::Failed(_)));
    if ctx.json {
        let volumes: Vec<_> = status
            .iter()
            .zip(outcomes)
            .map(|(s, o)| {
                let (result, error) = match o {
                    Outcome::Updated { .. } => ("updated", None),
                    Outcome::Unchanged { .. } => ("unchanged", None),
                    Outcome::Failed(why) => ("failed", Some(why.clone())),
                };
                json!({
                    "volume": s.reference, "checkout": s.checkout, "result": result,
                    "version": s.version, "number": s.number,
                    "bytes_transferred": s.bytes_transferred, "error": error,
                })
            })
            .collect();
        print_json(&json!({ "volumes": volumes, "ok": !failed }))?;
    } else {
        let mut out = std::io::stdout().lock();
        for (s, o) in status.iter().zip(outcomes) {
            match o {
                Outcome::Updated { number, .. } => writeln!(
                    out,
                    "{}: version {number} checked out at {}",
                    s.reference, s.checkout
                )?,
                Outcome::Unchanged { .. } => writeln!(
                    out,
                    "{}: current (version {}) at {}",
                    s.reference,
                    s.version.as_deref().map_or("?", |v| &v[..12.min(v.len())]),
                    s.checkout
                )?,
                Outcome::Failed(why) => {
                    writeln!(out, "{}: failed; {} unchanged", s.reference, s.checkout)?;
                    eprintln!("error: {}: {why}", s.reference);
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
