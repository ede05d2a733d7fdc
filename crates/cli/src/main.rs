//! The `tinycdn` binary: parse arguments, run the command, map errors to exit codes.
//!
//! Exit codes: 0 success; 1 the operation failed; 2 bad usage; 3 an integrity problem (a signature
//! that does not verify, corrupt or missing data, `fsck` found damage, expired trust, a rollback).

mod commands;
mod context;
mod logs;
mod output;
mod serving;

use std::process::ExitCode;

use clap::Parser;
use tinycdn_cli::cli;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(&cli) {
        Ok(code) => code,
        Err(err) => {
            if output::is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", output::render(&err));
            if let Some(hint) = output::hint(&err) {
                eprintln!("hint: {hint}");
            }
            output::exit_code(&err)
        }
    }
}
