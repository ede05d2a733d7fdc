//! `tinycdn site`: check a site's `_headers` and `_redirects` before publishing, generate the
//! cache-first service worker of a published version, and diff two versions as a site.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde_json::json;
use tinycdn_site::precache::{entries, manifest_json, service_worker, worker_version};
use tinycdn_site::{HeaderRules, Redirects, Site};
use tinycdn_store::Store;
use tinycdn_volume::read::{copy_file, find_file, FileRef};
use tinycdn_volume::trust::OpenedVersion;

use crate::cli::SiteCommand;
use crate::context::{open_version, Ctx};
use crate::output::bytes;
use crate::output::print_json;

/// The rules of a site directory (missing files are no rules).
///
/// # Errors
/// A rules file that does not parse (its line named), or cannot be read.
pub fn check_dir(dir: &Path, allow_external: bool) -> Result<Site> {
    let read = |name: &str| -> Result<Option<String>> {
        let p = dir.join(name);
        match std::fs::read(&p) {
            Ok(b) => String::from_utf8(b)
                .map(Some)
                .with_context(|| format!("{} is not UTF-8", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", p.display())),
        }
    };
    rules(
        read("_redirects")?.as_deref(),
        read("_headers")?.as_deref(),
        allow_external,
    )
}

fn rules(redirects: Option<&str>, headers: Option<&str>, allow_external: bool) -> Result<Site> {
    Ok(Site {
        redirects: redirects
            .map(|t| Redirects::parse(t, allow_external))
            .transpose()?
            .unwrap_or_default(),
        headers: headers
            .map(HeaderRules::parse)
            .transpose()?
            .unwrap_or_default(),
        spa: false,
    })
}

/// Runs `tinycdn site …`.
pub fn run(ctx: &Ctx, command: &SiteCommand) -> Result<ExitCode> {
    match command {
        SiteCommand::Check {
            dir,
            allow_external_redirects,
        } => check(dir, *allow_external_redirects, ctx.json)?,
        SiteCommand::Sw {
            reference,
            store,
            trust,
            out,
            worker_path,
        } => {
            let (store, r, v) = open_version(&store.store, &trust.trust, reference)?;
            sw(
                &store,
                &v,
                &r.to_string(),
                worker_path,
                out.as_deref(),
                ctx.json,
            )?;
        }
        SiteCommand::Diff {
            from,
            to,
            store,
            trust,
        } => {
            let (store_a, ra, va) = open_version(&store.store, &trust.trust, from)?;
            let (_, rb, vb) = open_version(&store.store, &trust.trust, to)?;
            diff(
                &store_a,
                (&va, &ra.to_string()),
                (&vb, &rb.to_string()),
                ctx.json,
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `site check DIR`.
pub fn check(dir: &Path, allow_external: bool, json: bool) -> Result<()> {
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let site = check_dir(dir, allow_external)?;
    let (r, h) = (site.redirects.rules().len(), site.headers.rules().len());
    if json {
        print_json(&json!({"dir": dir.display().to_string(), "redirects": r, "header_rules": h}))?;
    } else {
        println!(
            "{}: {r} redirect rule(s), {h} header rule(s): ok",
            dir.display()
        );
    }
    Ok(())
}

/// A version's regular files with their bytes, verified.
fn files(
    store: &Store,
    v: &OpenedVersion,
    reference: &str,
) -> Result<Vec<(String, String, Vec<u8>)>> {
    let mut out = Vec::new();
    for e in &v.manifest.entries {
        if e.file().is_none() {
            continue;
        }
        let file: FileRef<'_> = find_file(&v.manifest, e.path.as_str(), reference)?;
        let mut buf = Vec::new();
        copy_file(store, file, reference, &mut buf)?;
        let hash = e.file().map(|f| f.hash.to_hex()).unwrap_or_default();
        out.push((e.path.as_str().to_owned(), hash, buf));
    }
    Ok(out)
}

/// A version's rules, from its own `_headers` and `_redirects`.
fn version_rules(files: &[(String, String, Vec<u8>)]) -> Result<Site> {
    let text = |name: &str| {
        files
            .iter()
            .find(|(p, _, _)| p == name)
            .map(|(_, _, b)| String::from_utf8_lossy(b).into_owned())
    };
    rules(
        text("_redirects").as_deref(),
        text("_headers").as_deref(),
        true,
    )
}

/// `site sw`: the service worker of a version, to `out` or stdout.
pub fn sw(
    store: &Store,
    v: &OpenedVersion,
    reference: &str,
    worker: &str,
    out: Option<&Path>,
    json: bool,
) -> Result<()> {
    let files = files(store, v, reference)?;
    let list = entries(
        files
            .iter()
            .map(|(p, h, b)| (p.as_str(), h.clone(), b.as_slice())),
        worker,
    )?;
    let script = service_worker(&worker_version(&list), &list);
    match out {
        Some(p) => {
            tinycdn_store::local::write_file_atomic(p, script.as_bytes(), 0o644, true)?;
            eprintln!("wrote {} ({} files precached)", p.display(), list.len());
        }
        None if !json => print!("{script}"),
        None => {}
    }
    if json {
        let precache: serde_json::Value = serde_json::from_str(&manifest_json(&list))?;
        print_json(&json!({
            "version": v.id.to_string(),
            "worker_version": worker_version(&list),
            "precache": precache,
        }))?;
    }
    Ok(())
}

/// `site diff A B`: files added, removed and changed, with sizes and the headers a site serves
/// them with (each version under its own `_headers`).
pub fn diff(
    store: &Store,
    a: (&OpenedVersion, &str),
    b: (&OpenedVersion, &str),
    json: bool,
) -> Result<()> {
    let fa = files(store, a.0, a.1)?;
    let fb = files(store, b.0, b.1)?;
    let (sa, sb) = (version_rules(&fa)?, version_rules(&fb)?);
    let index = |f: &[(String, String, Vec<u8>)]| -> BTreeMap<String, (String, u64)> {
        f.iter()
            .map(|(p, h, bytes)| (p.clone(), (h.clone(), bytes.len() as u64)))
            .collect()
    };
    let (ia, ib) = (index(&fa), index(&fb));
    let mut rows = Vec::new();
    for path in ia.keys().chain(ib.keys().filter(|k| !ia.contains_key(*k))) {
        let url = format!("/{path}");
        let ha = ia.get(path).map(|_| sa.headers(&url, path));
        let hb = ib.get(path).map(|_| sb.headers(&url, path));
        let change = match (ia.get(path), ib.get(path)) {
            (Some(_), None) => "removed",
            (None, Some(_)) => "added",
            (Some(x), Some(y)) if x.0 != y.0 => "changed",
            _ if ha != hb => "headers",
            _ => continue,
        };
        rows.push(json!({
            "path": path,
            "change": change,
            "size_before": ia.get(path).map(|x| x.1),
            "size_after": ib.get(path).map(|x| x.1),
            "headers_before": ha.map(|h| h.into_iter().map(|(n, v)| format!("{n}: {v}")).collect::<Vec<_>>()),
            "headers_after": hb.map(|h| h.into_iter().map(|(n, v)| format!("{n}: {v}")).collect::<Vec<_>>()),
        }));
    }
    if json {
        return print_json(&json!({"from": a.1, "to": b.1, "files": rows}));
    }
    if rows.is_empty() {
        println!("{} and {} serve the same site", a.1, b.1);
    }
    for r in &rows {
        let size = |k: &str| r[k].as_u64().map_or_else(|| "-".to_owned(), bytes);
        println!(
            "{:<8} {:>10} -> {:<10} /{}",
            r["change"].as_str().unwrap_or(""),
            size("size_before"),
            size("size_after"),
            r["path"].as_str().unwrap_or("")
        );
        if (r["change"] == "headers" || r["change"] == "changed")
            && r["headers_before"] != r["headers_after"]
        {
            println!(
                "         headers {} -> {}",
                r["headers_before"], r["headers_after"]
            );
        }
    }
    Ok(())
}

/// The regular files under `dir` (volume paths, sorted), for `publish --pwa`; symlinks are left
/// to the published tree and not precached.
fn tree_files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>, prefix: &str) -> Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    names.sort_by_key(std::fs::DirEntry::file_name);
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            // Never precached (made variants, dot files).
            continue;
        }
        let path = format!("{prefix}{name}");
        let kind = e.file_type()?;
        if kind.is_dir() {
            tree_files(&e.path(), out, &format!("{path}/"))?;
        } else if kind.is_file() {
            let len = e.metadata()?.len();
            // Only files a worker may precache are read; the rest need no bytes here.
            if len <= tinycdn_site::precache::MAX_FILE {
                out.push((path, std::fs::read(e.path())?));
            }
        }
    }
    Ok(())
}

/// `publish --pwa`: writes the service worker of the tree `source` (+ `overlay`) into
/// `into/sw.js` (`worker` is its URL path); returns how many files it precaches.
///
/// # Errors
/// The source already has a file at the worker's path; unreadable files; a precache over
/// its bound.
pub fn write_worker(
    source: &Path,
    overlay: Option<&Path>,
    into: &Path,
    worker: &str,
) -> Result<usize> {
    let rel = worker.trim_start_matches('/');
    if source.join(rel).exists() || into.join(rel).exists() {
        bail!(
            "{} already has {rel}: publish --pwa writes the service worker itself\nhint: remove it, or publish without --pwa",
            source.display()
        );
    }
    let mut files = Vec::new();
    tree_files(source, &mut files, "")?;
    if let Some(o) = overlay {
        tree_files(o, &mut files, "")?;
    }
    let list = entries(
        files.iter().map(|(p, b)| {
            (
                p.as_str(),
                tinycdn_core::FileId::of(b).to_hex(),
                b.as_slice(),
            )
        }),
        worker,
    )?;
    let script = service_worker(&worker_version(&list), &list);
    tinycdn_store::local::write_file_atomic(&into.join(rel), script.as_bytes(), 0o644, true)?;
    Ok(list.len())
}
