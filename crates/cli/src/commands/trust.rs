//! `tinycdn trust`: create, rotate, sign and check trust root files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;
use tinycdn_core::root::{Role, Root, SignedRoot};
use tinycdn_core::sign::{PublicKey, SecretKey, SignatureSet};
use tinycdn_store::local::write_file_atomic;
use tinycdn_volume::trust::{load_root, root_from_json, root_to_json};

use crate::cli::TrustCommand;
use crate::context::Ctx;
use crate::output::print_json;
use crate::output::EXIT_INTEGRITY;
use tinycdn_core::time::unix_now;

const DAY: i64 = 86_400;

/// Reads a file that must stay private (a secret key, a token): like OpenSSH, one that other
/// users can read is refused, as already leaked.
pub(crate) fn private_file(path: &Path, what: &str) -> Result<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("cannot read the {what} {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "the {what} {} is readable by other users (mode {:o}); run `chmod 600 {}` (and consider it exposed)",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} {}", path.display()))
}

/// Reads a secret key file.
pub(crate) fn secret_key(path: &Path) -> Result<SecretKey> {
    let text = private_file(path, "secret key")?;
    SecretKey::from_text(&text)
        .with_context(|| format!("{} is not a tinycdn secret key", path.display()))
}

fn public_key(path: &Path) -> Result<PublicKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key {}", path.display()))?;
    PublicKey::from_text(&text)
        .with_context(|| format!("{} is not a tinycdn public key", path.display()))
}

/// Reads a root file without requiring its signatures (it may be waiting for more).
fn read_unchecked(path: &Path) -> Result<SignedRoot> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    root_from_json(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a trust root: {e}", path.display()))
}

fn write_root(path: &Path, root: &SignedRoot, force: bool) -> Result<()> {
    write_file_atomic(path, root_to_json(root).as_bytes(), 0o644, force).with_context(|| {
        if force {
            format!("writing {}", path.display())
        } else {
            format!("writing {} (use --force to replace it)", path.display())
        }
    })
}

fn role_with(
    keys: &[PathBuf],
    threshold: Option<u16>,
    old: &Role,
    all: &mut Vec<PublicKey>,
) -> Result<Role> {
    let mut role = old.clone();
    if !keys.is_empty() {
        role.keys.clear();
        for p in keys {
            let k = public_key(p)?;
            role.keys.push(k.id());
            all.push(k);
        }
    }
    if let Some(t) = threshold {
        role.threshold = t;
    }
    Ok(role)
}

/// Runs a `trust` subcommand.
pub fn run(ctx: &Ctx, command: &TrustCommand) -> Result<ExitCode> {
    match command {
        TrustCommand::Init {
            key,
            out,
            expires_in_days,
            force,
        } => {
            let k = secret_key(key)?;
            let expires = unix_now() + i64::from(*expires_in_days) * DAY;
            let mut root = SignedRoot {
                root: Root::single(&k.public(), expires).normalize()?,
                signatures: SignatureSet::default(),
            };
            root.sign(&k);
            write_root(out, &root, *force)?;
            report(ctx, out, &root, None)
        }
        TrustCommand::Rotate {
            root,
            out,
            root_keys,
            targets_keys,
            root_threshold,
            targets_threshold,
            snapshot_keys,
            snapshot_threshold,
            timestamp_keys,
            timestamp_threshold,
            expires_in_days,
            sign,
        } => {
            let current = load_root(root)?;
            let old = &current.root;
            // Keys still named by a role stay listed; new ones are added.
            let mut keys = Vec::new();
            let root_role = role_with(root_keys, *root_threshold, &old.root, &mut keys)?;
            let targets = role_with(targets_keys, *targets_threshold, &old.targets, &mut keys)?;
            let snapshot = role_with(snapshot_keys, *snapshot_threshold, &old.snapshot, &mut keys)?;
            let timestamp = role_with(
                timestamp_keys,
                *timestamp_threshold,
                &old.timestamp,
                &mut keys,
            )?;
            for k in &old.keys {
                if [&root_role, &targets, &snapshot, &timestamp]
                    .iter()
                    .any(|r| r.keys.contains(&k.id()))
                {
                    keys.push(k.clone());
                }
            }
            let next = Root {
                version: old.version + 1,
                expires: unix_now() + i64::from(*expires_in_days) * DAY,
                keys,
                root: root_role,
                targets,
                snapshot,
                timestamp,
            }
            .normalize()?;
            let mut signed = SignedRoot {
                root: next,
                signatures: SignatureSet::default(),
            };
            for k in sign {
                signed.sign(&secret_key(k)?);
            }
            write_root(out, &signed, false)?;
            report(ctx, out, &signed, Some(&current))
        }
        TrustCommand::Publish { file, store } => {
            // publish_root checks the signatures (exit 3 when they fall short).
            let root = read_unchecked(file)?;
            let store = tinycdn_objstore::open(&store.store)?;
            let chained = tinycdn_volume::trust::publish_root(&store, &root)?;
            let version = root.root.version;
            if !chained && version > 1 {
                eprintln!(
                    "warning: root version {} is not published in this store: nodes holding it cannot walk to version {version} (publish every version, in order)",
                    version - 1
                );
            }
            if ctx.json {
                print_json(&json!({ "version": version, "predecessor_checked": chained }))?;
            } else {
                println!("published trust root version {version} (served as /r/{version})");
            }
            Ok(ExitCode::SUCCESS)
        }
        TrustCommand::Sign { file, key } => {
            let mut root = read_unchecked(file)?;
            root.sign(&secret_key(key)?);
            write_root(file, &root, true)?;
            report(ctx, file, &root, None)
        }
        TrustCommand::Show { file, previous } => {
            let root = read_unchecked(file)?;
            let previous = previous.as_deref().map(load_root).transpose()?;
            report(ctx, file, &root, previous.as_ref())
        }
    }
}

/// Prints a root and whether it is usable; exit 3 when it is not (yet).
fn report(
    ctx: &Ctx,
    path: &Path,
    root: &SignedRoot,
    previous: Option<&SignedRoot>,
) -> Result<ExitCode> {
    let r = &root.root;
    let self_ok = root.verify_self();
    let successor = previous.map(|p| p.verify_successor(root));
    let expired = r.expired(unix_now());
    let usable = self_ok.is_ok() && successor.as_ref().is_none_or(Result::is_ok) && !expired;
    let role = |role: &Role| {
        json!({
            "threshold": role.threshold,
            "keys": role.keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        })
    };
    if ctx.json {
        print_json(&json!({
            "file": path,
            "version": r.version,
            "expires": r.expires,
            "expired": expired,
            "roles": r.roles().iter().map(|(name, r)| (name.to_string(), role(r))).collect::<serde_json::Map<_, _>>(),
            "signed_by": root.signatures.signatures().iter().map(|s| s.key.to_string()).collect::<Vec<_>>(),
            "self_signed": self_ok.is_ok(),
            "valid_successor": successor.as_ref().map(Result::is_ok),
            "usable": usable,
        }))?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}: trust root version {}, expires {}{}",
            path.display(),
            r.version,
            crate::output::time(r.expires),
            if expired { ", EXPIRED" } else { "" }
        )?;
        for (name, role) in r.roles() {
            let ids: Vec<String> = role.keys.iter().map(|k| k.short()).collect();
            writeln!(
                out,
                "  {name:<9} {} of {}: {}",
                role.threshold,
                role.keys.len(),
                ids.join(", ")
            )?;
        }
        let signers: Vec<String> = root
            .signatures
            .signatures()
            .iter()
            .map(|s| s.key.short())
            .collect();
        writeln!(
            out,
            "  signed by {}",
            if signers.is_empty() {
                "nobody".into()
            } else {
                signers.join(", ")
            }
        )?;
    }
    if let Err(e) = &self_ok {
        eprintln!(
            "warning: not yet usable: {e}; more root keys must sign it (`tinycdn trust sign`)"
        );
    }
    if let Some(Err(e)) = &successor {
        eprintln!("warning: not yet a valid successor: {e}");
    }
    if expired {
        eprintln!("warning: this root has expired");
    }
    if usable {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(EXIT_INTEGRITY))
    }
}
