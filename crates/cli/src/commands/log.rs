//! `tinycdn log`: the transparency log of a local store or of mirrors — init, key, show, verify
//! (whole, and against an older checkpoint), prove.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tinycdn_core::log_entry::LogEntry;
use tinycdn_core::VersionId;
use tinycdn_fetch::Upstreams;
use tinycdn_store::local::write_file_atomic;
use tinycdn_store::Store;
use tinycdn_sync::log::RemoteLog;
use tinycdn_tlog::{Checkpoint, Hash, LogVerifier};
use tinycdn_volume::log;
use tinycdn_volume::reference::Reference;

use crate::cli::{LogCommand, LogSource};
use crate::context::runtime;
use crate::context::Ctx;
use crate::output::print_json;

/// A verifier key given inline (`NAME+ID+KEY`) or as a file holding it.
pub(crate) fn verifier(arg: &str) -> Result<LogVerifier> {
    let text = if arg.contains('+') && !Path::new(arg).exists() {
        arg.to_owned()
    } else {
        std::fs::read_to_string(arg)
            .with_context(|| format!("--log-key {arg:?} is neither a key nor a readable file"))?
    };
    LogVerifier::new(text.trim()).context("--log-key")
}

enum Source {
    Local(Store),
    Remote(Box<(Upstreams, LogVerifier)>),
}

fn open(source: &LogSource) -> Result<Source> {
    match (&source.store, source.from.is_empty()) {
        (Some(dir), true) => Ok(Source::Local(Store::open(dir)?)),
        (None, false) => {
            let key = source
                .log_key
                .as_deref()
                .context("--from needs --log-key")?;
            let up = Upstreams::new(&source.from, std::time::Duration::from_secs(source.timeout))?;
            Ok(Source::Remote(Box::new((up, verifier(key)?))))
        }
        _ => bail!("give --store DIR or --from URL --log-key KEY"),
    }
}

fn checkpoint_json(cp: &Checkpoint) -> Value {
    json!({"origin": cp.origin, "size": cp.size, "root": cp.root.to_base64()})
}

fn entry_json(index: u64, e: &LogEntry) -> Value {
    let fields: serde_json::Map<String, Value> = e
        .event
        .fields()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v)))
        .collect();
    json!({"index": index, "time": e.time, "kind": e.event.kind(), "fields": fields})
}

/// `publish volume=media version=3f2a91c0ab12` — ids cut to 12 digits for reading.
fn entry_text(e: &LogEntry) -> String {
    let mut out = e.event.kind().to_owned();
    for (k, v) in e.event.fields() {
        let v: String = v
            .split(',')
            .map(|part| {
                if part.len() == 64 {
                    part[..12].to_owned()
                } else {
                    part.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        out.push_str(&format!(" {k}={v}"));
    }
    out
}

/// Runs a `tinycdn log` command.
pub(crate) fn run(ctx: &Ctx, command: &LogCommand) -> Result<ExitCode> {
    match command {
        LogCommand::Init { store, name } => {
            let s = tinycdn_objstore::open(&store.store)?;
            let _lock = s.lock()?;
            let key = log::init(&s, name.as_deref())?;
            println!("{key}");
        }
        LogCommand::Key { store } => {
            let s = tinycdn_objstore::open(&store.store)?;
            match log::verifier_key(&s)? {
                Some(k) => println!("{k}"),
                None => bail!("the store has no log yet\nhint: `tinycdn log init --store {}` makes its key; the first publish does too", store.store),
            }
        }
        LogCommand::Show {
            source,
            start,
            limit,
        } => show(ctx, &open(source)?, *start, *limit)?,
        LogCommand::Verify {
            source,
            against,
            save,
        } => return verify(ctx, &open(source)?, against.as_deref(), save.as_deref()),
        LogCommand::Prove { reference, source } => prove(ctx, &open(source)?, reference)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn show(ctx: &Ctx, source: &Source, start: u64, limit: u64) -> Result<()> {
    let (cp, list) = match source {
        Source::Local(store) => log::entries(store, start, limit)?,
        Source::Remote(boxed) => runtime()?.block_on(async {
            let (up, v) = (&boxed.0, &boxed.1);
            let remote = RemoteLog::new(up, v);
            let (cp, _) = remote.checkpoint().await?;
            let all = remote.entries(&cp).await?;
            let list: Vec<(u64, LogEntry)> = (0u64..)
                .zip(all)
                .skip(usize::try_from(start).unwrap_or(usize::MAX))
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .collect();
            anyhow::Ok((cp, list))
        })?,
    };
    if ctx.json {
        return print_json(&json!({
            "checkpoint": checkpoint_json(&cp),
            "entries": list.iter().map(|(i, e)| entry_json(*i, e)).collect::<Vec<_>>(),
        }));
    }
    if !ctx.quiet {
        eprintln!("log {}: {} entries, root {}", cp.origin, cp.size, cp.root);
    }
    let mut out = std::io::stdout().lock();
    for (i, e) in &list {
        writeln!(out, "{i:>7} {} {}", e.time, entry_text(e))?;
    }
    Ok(())
}

fn verify(
    ctx: &Ctx,
    source: &Source,
    against: Option<&Path>,
    save: Option<&Path>,
) -> Result<ExitCode> {
    let old = against
        .map(|p| std::fs::read(p).with_context(|| format!("cannot read {}", p.display())))
        .transpose()?;
    let (cp, note, kinds, unlogged) = match source {
        Source::Local(store) => {
            let report = log::verify(store)?;
            let (cp, note) = log::checkpoint(store)?.context("the store has no log yet")?;
            if let Some(old) = &old {
                log::check_extends(store, old)?;
            }
            let kinds: Vec<(String, u64)> = report
                .kinds
                .iter()
                .map(|(k, n)| ((*k).to_owned(), *n))
                .collect();
            (cp, note, kinds, report.unlogged)
        }
        Source::Remote(boxed) => runtime()?.block_on(async {
            let (up, v) = (&boxed.0, &boxed.1);
            let remote = RemoteLog::new(up, v);
            let (cp, note) = remote.checkpoint().await?;
            let entries = remote.entries(&cp).await?;
            if let Some(old) = &old {
                let old = v.open(old).context("the --against checkpoint")?;
                remote.check_extends(&old, &cp).await?;
            }
            let mut kinds = std::collections::BTreeMap::<String, u64>::new();
            for e in &entries {
                *kinds.entry(e.event.kind().to_owned()).or_default() += 1;
            }
            anyhow::Ok((cp, note, kinds.into_iter().collect(), Vec::new()))
        })?,
    };
    if let Some(path) = save {
        write_file_atomic(path, &note, 0o644, true)?;
    }
    if ctx.json {
        print_json(&json!({
            "checkpoint": checkpoint_json(&cp),
            "kinds": kinds.iter().map(|(k, n)| (k.clone(), json!(n))).collect::<serde_json::Map<String, Value>>(),
            "extends_against": against.is_some(),
            "unlogged": unlogged,
        }))?;
    } else {
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        println!(
            "log {}: {} entries verified ({}), root {}{}",
            cp.origin,
            cp.size,
            kinds.join(", "),
            cp.root,
            if against.is_some() {
                "; it extends the older checkpoint"
            } else {
                ""
            }
        );
        for u in &unlogged {
            eprintln!("warning: not in the log: {u}");
        }
        if !unlogged.is_empty() {
            eprintln!("hint: changes made before the log existed are not in it; nodes with --require-log refuse such versions until they are published again");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn prove(ctx: &Ctx, source: &Source, reference: &str) -> Result<()> {
    let (cp, index, entry, proof): (Checkpoint, u64, LogEntry, Vec<Hash>) = match source {
        Source::Local(store) => {
            let id = match reference.parse::<VersionId>() {
                Ok(id) if reference.len() == 64 => id,
                _ => reference.parse::<Reference>()?.resolve(store)?.id,
            };
            let inc = log::prove(store, &id)?;
            (inc.checkpoint, inc.index, inc.entry, inc.proof)
        }
        Source::Remote(boxed) => {
            let (up, v) = (&boxed.0, &boxed.1);
            let id = if reference.len() == 64 {
                reference.parse::<VersionId>()?
            } else {
                let r: Reference = reference.parse()?;
                let bytes = runtime()?.block_on(up.fetch(
                    &format!("/t/{}/{}", r.volume, r.spec),
                    None,
                    1 << 16,
                    |_| true,
                ))?;
                tinycdn_core::tag::SignedTag::from_bytes(&bytes)?
                    .record
                    .version
            };
            runtime()?.block_on(async {
                let remote = RemoteLog::new(up, v);
                let (cp, _) = remote.checkpoint().await?;
                let p = remote.prove(&cp, &id).await?;
                anyhow::Ok((cp, p.index, p.entry, p.proof))
            })?
        }
    };
    if ctx.json {
        print_json(&json!({
            "checkpoint": checkpoint_json(&cp),
            "index": index,
            "entry": entry.to_line(),
            "leaf_hash": tinycdn_tlog::leaf_hash(entry.to_line().as_bytes()).to_base64(),
            "proof": proof.iter().map(Hash::to_base64).collect::<Vec<_>>(),
        }))
    } else {
        println!(
            "entry {index} of {} ({} entries, root {}): {}",
            cp.origin,
            cp.size,
            cp.root,
            entry_text(&entry)
        );
        println!("proof: {} hashes, verified", proof.len());
        Ok(())
    }
}
