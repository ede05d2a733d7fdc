//! `tinycdn key generate`: a new Ed25519 signing key pair.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use serde_json::json;
use tinycdn_core::sign::SecretKey;
use tinycdn_store::local::write_file_atomic;

use crate::cli::KeyCommand;
use crate::context::Ctx;
use crate::output::{out, print_json};

/// Runs `tinycdn key …`.
pub fn run(ctx: &Ctx, command: &KeyCommand) -> Result<ExitCode> {
    match command {
        KeyCommand::Generate { out, force } => generate(ctx, out, *force)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn generate(ctx: &Ctx, out: &Path, force: bool) -> Result<()> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let key = SecretKey::from_seed(seed);
    let mut pub_path = out.as_os_str().to_owned();
    pub_path.push(".pub");
    let pub_path = PathBuf::from(pub_path);
    write_file_atomic(out, key.to_text().as_bytes(), 0o600, force)
        .with_context(|| format!("writing {} (use --force to replace a key)", out.display()))?;
    write_file_atomic(&pub_path, key.public().to_text().as_bytes(), 0o644, force)
        .with_context(|| format!("writing {}", pub_path.display()))?;
    let id = key.public().id();
    if ctx.json {
        print_json(
            &json!({ "secret_key": out, "public_key": pub_path, "key_id": id.to_string() }),
        )?;
    } else {
        out!(
            "key {} written to {} and {}",
            id.short(),
            out.display(),
            pub_path.display()
        );
    }
    Ok(())
}
