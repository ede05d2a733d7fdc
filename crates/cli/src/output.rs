//! Presentation: progress bars on a terminal, human sizes, exit codes and hints for errors.

use std::io::IsTerminal;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};
use tinycdn_core::error::{Classified, ErrorClass};
use tinycdn_volume::Progress;

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

/// The class of an error: the first error in its chain that knows its class (every library
/// error does, exhaustively), or `Usage` anywhere in it. Errors of the standalone crates (the
/// transparency log's) are integrity problems; anything else is a plain failure.
pub fn class(err: &anyhow::Error) -> ErrorClass {
    if err.chain().any(|e| e.downcast_ref::<Usage>().is_some()) {
        return ErrorClass::Usage;
    }
    err.chain()
        .find_map(|e| classified(e).map(Classified::class).or_else(|| tlog(e)))
        .unwrap_or(ErrorClass::Failure)
}

/// The library error `e` is, as the trait every library error implements.
fn classified<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a dyn Classified> {
    macro_rules! try_types {
        ($($t:ty),* $(,)?) => {
            $(if let Some(x) = e.downcast_ref::<$t>() { return Some(x); })*
        };
    }
    try_types!(
        tinycdn_sync::vault::VaultError,
        tinycdn_sync::PullError,
        tinycdn_sync::log::LogCheckError,
        tinycdn_volume::VolumeError,
        tinycdn_volume::log::LogError,
        tinycdn_objstore::ObjStoreError,
        tinycdn_store::StoreError,
        tinycdn_fetch::FetchError,
        tinycdn_core::root::RootError,
        tinycdn_core::SignatureError,
        tinycdn_core::DecodeError,
        tinycdn_core::NameError,
        tinycdn_core::chunking::ChunkParamsError,
    );
    None
}

/// The transparency log crate stands alone (no tinycdn error model): a checkpoint, tile or
/// proof that does not verify is an integrity problem.
fn tlog(e: &(dyn std::error::Error + 'static)) -> Option<ErrorClass> {
    (e.is::<tinycdn_tlog::CheckpointError>()
        || e.is::<tinycdn_tlog::tile::TileError>()
        || e.is::<tinycdn_tlog::proof::ProofError>())
    .then_some(ErrorClass::Integrity)
}

/// The exit code for an error: 2 bad usage, 3 integrity, 1 anything else.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    match class(err) {
        ErrorClass::Usage => ExitCode::from(EXIT_USAGE),
        ErrorClass::Integrity => ExitCode::from(EXIT_INTEGRITY),
        ErrorClass::Transient | ErrorClass::Failure => ExitCode::FAILURE,
    }
}

/// A `hint:` line for errors where the next step is not obvious: the first in the chain.
pub fn hint(err: &anyhow::Error) -> Option<&'static str> {
    err.chain()
        .find_map(|e| classified(e).and_then(Classified::hint))
}

/// The error and its causes on one line, each cause once: a cause whose text its parent
/// already includes (`{source}` in the message) is not repeated.
pub fn render(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
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

    #[test]
    fn a_cause_the_message_already_holds_is_printed_once() {
        let io = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
        let err = anyhow::Error::new(tinycdn_store::StoreError::Io {
            op: "create",
            path: "/s/x".into(),
            source: io,
        });
        let line = render(&err);
        assert_eq!(line.matches("entity already exists").count(), 1, "{line}");
        let wrapped = anyhow::Error::new(std::io::Error::other("inner")).context("outer");
        assert_eq!(render(&wrapped), "outer: inner");
    }

    #[test]
    fn classes_come_from_the_outermost_library_error() {
        use tinycdn_volume::VolumeError;
        let corrupt = tinycdn_store::StoreError::Corrupt {
            key: "objects/ab".into(),
            actual: "cd".into(),
        };
        let err = anyhow::Error::new(VolumeError::Store(corrupt)).context("checking out");
        assert_eq!(class(&err), ErrorClass::Integrity);
        let name = tinycdn_core::names::VolumeName::new("a/b").expect_err("refused");
        assert_eq!(
            class(&anyhow::Error::new(VolumeError::Name(name))),
            ErrorClass::Failure
        );
        let reference = VolumeError::BadReference {
            reference: "vol@@x".into(),
        };
        assert_eq!(class(&anyhow::Error::new(reference)), ErrorClass::Usage);
        assert_eq!(class(&anyhow::anyhow!("plain")), ErrorClass::Failure);
        let usage = anyhow::Error::new(Usage("bad flag".into())).context("starting");
        assert_eq!(class(&usage), ErrorClass::Usage);
    }
}
