//! `tinycdn show`: a version's manifest, its signatures and the tag's.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{json, Value};
use tinycdn_core::manifest::EntryKind;
use tinycdn_volume::reference::Reference;
use tinycdn_volume::trust::{OpenedVersion, SignatureReport, Trust};

use crate::cli::ShowArgs;
use crate::context::{open_store, Ctx};
use crate::output::{bytes, out, print_json, time, EXIT_INTEGRITY};

/// Runs `tinycdn show`: exit 3 when a signature does not verify (the manifest is still shown).
pub fn run(ctx: &Ctx, a: &ShowArgs) -> Result<ExitCode> {
    let store = open_store(&a.store.store)?;
    let trust = Trust::load(&a.trust.trust)?.followed_in(&store)?;
    let reference: Reference = a.reference.parse()?;
    // Show reports signatures that do not verify instead of refusing the version.
    let v = reference.inspect(&store, &trust)?;
    if ctx.json {
        print_json(&to_json(&v))?;
    } else {
        print_text(&v)?;
    }
    if matches!(v.signatures.verified, Some(Err(_))) || matches!(v.tag, Some(Err(_))) {
        return Ok(ExitCode::from(EXIT_INTEGRITY));
    }
    Ok(ExitCode::SUCCESS)
}

fn to_json(v: &OpenedVersion) -> Value {
    let m = &v.manifest;
    let entries: Vec<Value> = m
        .entries
        .iter()
        .map(|e| match &e.kind {
            EntryKind::Dir => json!({"path": e.path.as_str(), "kind": "dir", "mode": format!("{:o}", e.mode)}),
            EntryKind::Symlink { target } => json!({"path": e.path.as_str(), "kind": "symlink", "mode": format!("{:o}", e.mode), "target": target}),
            EntryKind::File(f) => json!({
                "path": e.path.as_str(), "kind": "file", "mode": format!("{:o}", e.mode),
                "size": f.size, "media_type": f.media_type, "hash": f.hash.to_string(),
                "chunks": f.chunks.iter().map(|c| json!({"id": c.id.to_string(), "len": c.len})).collect::<Vec<_>>(),
            }),
        })
        .collect();
    json!({
        "volume": m.volume.as_str(), "version": v.id.to_string(), "number": m.version,
        "parent": m.parent.map(|p| p.to_string()), "created": m.created,
        "chunking": {"min": m.chunking.min, "avg": m.chunking.avg, "max": m.chunking.max},
        "logical_bytes": m.logical_size(),
        "signature": signature_json(&v.signatures),
        "tag_verified": v.tag.as_ref().map(Result::is_ok),
        "entries": entries,
    })
}

fn print_text(v: &OpenedVersion) -> Result<()> {
    let m = &v.manifest;
    out!("volume   {}", m.volume);
    out!("version  {} ({})", m.version, v.id);
    out!(
        "parent   {}",
        m.parent
            .map_or_else(|| "none".to_owned(), |p| p.to_string())
    );
    out!("created  {} ({})", time(m.created), m.created);
    out!("signer   {}", signature_text(&v.signatures));
    if let Some(t) = &v.tag {
        out!(
            "tag      {}",
            match t {
                Ok(_) => "signature verified".to_owned(),
                Err(e) => format!("NOT VERIFIED: {e}"),
            }
        );
    }
    out!(
        "size     {} in {} files",
        bytes(m.logical_size()),
        m.files().count()
    );
    for e in &m.entries {
        match &e.kind {
            EntryKind::Dir => out!("d {:o} {:>12} {}/", e.mode, "", e.path),
            EntryKind::Symlink { target } => {
                out!("l {:o} {:>12} {} -> {target}", e.mode, "", e.path)
            }
            EntryKind::File(f) => out!(
                "f {:o} {:>12} {}  {}  {} chunks  {}",
                e.mode,
                f.size,
                f.hash.short(),
                f.media_type,
                f.chunks.len(),
                e.path
            ),
        }
    }
    Ok(())
}

fn signature_json(report: &SignatureReport) -> Value {
    json!({
        "signers": report.signers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "verified": match &report.verified {
            None => Value::Null,
            Some(Ok(_)) => Value::Bool(true),
            Some(Err(_)) => Value::Bool(false),
        },
        "verified_by": match &report.verified {
            Some(Ok(k)) => Value::String(k.to_string()),
            _ => Value::Null,
        },
    })
}

fn signature_text(report: &SignatureReport) -> String {
    let signers = report
        .signers
        .iter()
        .map(tinycdn_core::KeyId::short)
        .collect::<Vec<_>>()
        .join(", ");
    match &report.verified {
        None => format!("{signers} (not verified: no --trust given)"),
        Some(Ok(k)) => format!("{} (verified)", k.short()),
        Some(Err(e)) => format!("{signers} (NOT VERIFIED: {e})"),
    }
}
