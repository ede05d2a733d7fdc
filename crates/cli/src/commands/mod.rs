//! One module per command, each exposing `run(ctx, args)`; this module only dispatches.
//!
//! A command builds the objects that do the work from its validated arguments (`crate::cli`)
//! and prints their report as text, or as JSON with `--json`, on stdout; diagnostics go to
//! stderr. Helpers shared by several commands live in the leaf modules `crate::context`
//! (opening stores and versions, the runtime), `crate::output` (printing, exit codes) and
//! `crate::serving` (running a server until it drains).

mod agent;
mod audit;
mod cat;
mod checkout;
mod csi;
mod delta;
mod edge;
mod fsck;
mod gc;
mod image;
mod init;
mod key;
mod log;
mod publish;
mod pull;
mod purge;
mod replay;
mod report;
mod serve;
mod show;
mod sign;
mod site;
mod snapshot;
mod stats;
mod trust;
mod vault;
mod volumes;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::context::Ctx;

/// Runs the parsed command line.
pub fn run(cli: &Cli) -> Result<ExitCode> {
    let ctx = &Ctx::new(cli.json, cli.quiet);
    match &cli.command {
        Command::Init(a) => init::run(ctx, a),
        Command::Key { command } => key::run(ctx, command),
        Command::Trust { command } => trust::run(ctx, command),
        Command::Sign(a) => sign::run(ctx, a),
        Command::Snapshot(a) => snapshot::snapshot(ctx, a),
        Command::Timestamp(a) => snapshot::timestamp(ctx, a),
        Command::Delta { command } => delta::run(ctx, command),
        Command::Publish(a) => publish::run(ctx, a),
        Command::Site { command } => site::run(ctx, command),
        Command::Volumes(a) => volumes::run(ctx, a),
        Command::Show(a) => show::run(ctx, a),
        Command::Cat(a) => cat::run(ctx, a),
        Command::Checkout(a) => checkout::run(ctx, a),
        Command::Fsck(a) => fsck::run(ctx, a),
        Command::Vault { command } => vault::run(ctx, command),
        Command::Gc(a) => gc::run(ctx, a),
        Command::Pull(a) => pull::run(ctx, a),
        Command::Agent(a) => agent::run(ctx, a),
        Command::Csi { command } => csi::run(ctx, command),
        Command::Serve(a) => serve::run(ctx, a),
        Command::Edge(a) => edge::run(ctx, a),
        Command::Purge(a) => purge::run(ctx, a),
        Command::Image(a) => image::run(ctx, a),
        Command::SignUrl(a) => image::sign_url(ctx, a),
        Command::Log { command } => log::run(ctx, command),
        Command::Audit(a) => audit::run(ctx, a),
        Command::Replay(a) => replay::run(ctx, a),
        Command::Report(a) => report::run(ctx, a),
        Command::Stats(a) => stats::run(ctx, a),
    }
}
