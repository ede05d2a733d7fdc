//! Writes the command reference (`docs/cli.md`) to stdout, or with `--check FILE` exits 1 when
//! FILE differs from what the binary's flags say (CI runs the check).

use std::process::ExitCode;

fn main() -> ExitCode {
    let doc = tinycdn_cli::docs::render();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            print!("{doc}");
            ExitCode::SUCCESS
        }
        [flag, file] if flag == "--check" => match std::fs::read_to_string(file) {
            Ok(on_disk) if on_disk == doc => ExitCode::SUCCESS,
            Ok(_) => {
                eprintln!(
                    "error: {file} is stale; regenerate it with \
                     `cargo run -p tinycdn --bin tinycdn-cli-docs > {file}`"
                );
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("error: cannot read {file}: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: tinycdn-cli-docs [--check FILE]");
            ExitCode::from(2)
        }
    }
}
