//! Presentation: progress bars on a terminal, human sizes, exit codes and hints for errors.

use std::io::IsTerminal;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use tinycdn_store::StoreError;
use tinycdn_volume::{Progress, VolumeError};

/// `println!` that returns an error instead of panicking when stdout is closed.
macro_rules! out {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout().lock(), $($arg)*)?
    };
}
pub(crate) use out;

/// Prints a JSON document on stdout (`--json`).
pub fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

/// Exit code for an integrity problem.
pub const EXIT_INTEGRITY: u8 = 3;

/// Exit code for bad usage: flags, a configuration file, a listener already in use.
pub const EXIT_USAGE: u8 = 2;

/// An error in what the operator asked for (exit 2): a configuration that does not check, a
/// file it names that cannot be used, an address already in use.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// A progress bar on stderr, drawn only on a terminal and never with `--json` or `--quiet`.
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    /// A bar, hidden unless stderr is a terminal and `enabled`.
    pub fn new(enabled: bool) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal()).then(ProgressBar::hidden);
        Self { bar }
    }
}

impl Progress for Bar {
    fn start(&self, what: &str, total: u64) {
        if let Some(b) = &self.bar {
            b.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            b.set_length(total);
            b.set_position(0);
            b.set_style(
                ProgressStyle::with_template(
                    "{msg:>14} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.set_message(what.to_owned());
        }
    }
    fn advance(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A time in Unix seconds for humans: RFC 3339 in UTC (`2026-12-07T21:46:13Z`).
pub fn time(unix: i64) -> String {
    let Ok(secs) = u64::try_from(unix) else {
        return format!("{unix} (before 1970)");
    };
    std::time::UNIX_EPOCH
        .checked_add(std::time::Duration::from_secs(secs))
        .map_or_else(
            || format!("{unix} (Unix seconds)"),
            |t| humantime::format_rfc3339_seconds(t).to_string(),
        )
}

/// Bytes for humans (binary units).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn volume_error(err: &anyhow::Error) -> Option<&VolumeError> {
    err.chain().find_map(|e| {
        e.downcast_ref::<VolumeError>().or_else(|| {
            match e.downcast_ref::<tinycdn_sync::PullError>() {
                Some(tinycdn_sync::PullError::Volume(v)) => Some(v),
                _ => None,
            }
        })
    })
}

/// Whether the error is only stdout closing early (`tinycdn cat … | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            // `--json`: serde_json wraps the write error (its source skips the io::Error).
            || e.downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// The exit code for an error.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    let integrity = match volume_error(err) {
        Some(
            VolumeError::Signature(_)
            | VolumeError::Damaged { .. }
            | VolumeError::Expired { .. }
            | VolumeError::Root(_)
            | VolumeError::RootConflict { .. },
        ) => true,
        Some(VolumeError::Store(s)) => {
            matches!(s, StoreError::Corrupt { .. } | StoreError::Decode { .. })
        }
        _ => err.chain().any(|e| {
            matches!(
                e.downcast_ref::<StoreError>(),
                Some(StoreError::Corrupt { .. })
            ) || matches!(
                e.downcast_ref::<tinycdn_core::root::RootError>(),
                Some(tinycdn_core::root::RootError::Rollback { .. })
            ) || matches!(
                e.downcast_ref::<tinycdn_sync::PullError>(),
                Some(
                    tinycdn_sync::PullError::Signature(_)
                        | tinycdn_sync::PullError::Rebuild(_)
                        | tinycdn_sync::PullError::Rollback { .. }
                        | tinycdn_sync::PullError::Root(_)
                        | tinycdn_sync::PullError::Snapshot { .. }
                )
            )
        }),
    };
    let integrity = integrity
        || log_integrity(err)
        || matches!(
            err.downcast_ref::<tinycdn_sync::PullError>(),
            Some(tinycdn_sync::PullError::Log(e)) if !matches!(e, tinycdn_sync::log::LogCheckError::Fetch(_) | tinycdn_sync::log::LogCheckError::Store(_))
        );
    if err.chain().any(|e| e.downcast_ref::<Usage>().is_some()) {
        return ExitCode::from(EXIT_USAGE);
    }
    if integrity {
        ExitCode::from(EXIT_INTEGRITY)
    } else {
        ExitCode::FAILURE
    }
}

/// A `hint:` line for errors where the next step is not obvious.
pub fn hint(err: &anyhow::Error) -> Option<&'static str> {
    let store = err.chain().find_map(|e| e.downcast_ref::<StoreError>());
    if store.is_some_and(StoreError::is_disk_full) {
        return Some("the disk is full; free space (`tinycdn gc`) and run the command again: nothing was half-written");
    }
    match volume_error(err)? {
        VolumeError::Signature(_) => Some("check that --trust names the publisher's .pub file"),
        VolumeError::Store(e) if e.is_disk_full() => {
            Some("the disk is full; free space (`tinycdn gc`) and run the command again: nothing was half-written")
        }
        VolumeError::Changing { .. } => Some("stop whatever is writing to the directory, then publish again"),
        _ => None,
    }
}

/// Exit code for log failures that are integrity problems.
#[must_use]
fn log_integrity(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<tinycdn_volume::log::LogError>().is_some_and(|l| {
            !matches!(l, tinycdn_volume::log::LogError::MissingKey | tinycdn_volume::log::LogError::Exists(_) | tinycdn_volume::log::LogError::Empty)
        }) || matches!(
                e.downcast_ref::<tinycdn_volume::VolumeError>(),
                Some(tinycdn_volume::VolumeError::Log(l))
                    if !matches!(**l, tinycdn_volume::log::LogError::MissingKey | tinycdn_volume::log::LogError::Exists(_) | tinycdn_volume::log::LogError::Empty)
            )
            || matches!(
                e.downcast_ref::<tinycdn_sync::log::LogCheckError>(),
                Some(
                    tinycdn_sync::log::LogCheckError::SplitView(_)
                        | tinycdn_sync::log::LogCheckError::NotLogged(_)
                        | tinycdn_sync::log::LogCheckError::Tiles(_)
                )
            )
            || e.downcast_ref::<tinycdn_tlog::CheckpointError>().is_some()
            || matches!(
                e.downcast_ref::<tinycdn_sync::vault::VaultError>(),
                Some(
                    tinycdn_sync::vault::VaultError::Log(
                        tinycdn_sync::log::LogCheckError::SplitView(_)
                            | tinycdn_sync::log::LogCheckError::NotLogged(_)
                            | tinycdn_sync::log::LogCheckError::Tiles(_)
                    ) | tinycdn_sync::vault::VaultError::Volume(tinycdn_volume::VolumeError::Log(_))
                )
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_stdout_is_a_broken_pipe_whatever_wrote_to_it() {
        let io = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(is_broken_pipe(&anyhow::Error::new(io())));
        let json = serde_json::Error::io(io());
        assert!(is_broken_pipe(
            &anyhow::Error::new(json).context("printing")
        ));
        let other = serde_json::Error::io(std::io::Error::from(std::io::ErrorKind::Other));
        assert!(!is_broken_pipe(&anyhow::Error::new(other)));
    }
}
