//! What the `tinycdn` binary accepts, as a library: the clap definition of every command and
//! flag ([`cli`]) and its rendering as the command reference `docs/cli.md` ([`docs`]).
//!
//! The binary (`src/main.rs`) runs the commands; `tinycdn-cli-docs` writes or checks the
//! reference, so the documentation cannot drift from the flags the binary takes.

pub mod cli;
pub mod docs;
