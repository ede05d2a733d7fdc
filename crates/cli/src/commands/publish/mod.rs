//! `tinycdn publish`: a directory becomes a new signed version of a volume, with its image
//! variants (`--variants`) and, for a website, its checked rules and service worker.

mod variants;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde_json::json;
use tinycdn_core::chunking::ChunkParams;
use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::time::unix_now;
use tinycdn_volume::deltas::DeltaOptions;
use tinycdn_volume::publish::{publish, PublishOptions, PublishReport};
use tinycdn_volume::snapshot::Freshness;

use crate::cli::PublishArgs;
use crate::commands::trust::secret_key;
use crate::context::{open_store, Ctx};
use crate::output::{bytes, out, print_json};

use variants::make as make_variants;

/// Runs `tinycdn publish`.
pub fn run(ctx: &Ctx, a: &PublishArgs) -> Result<ExitCode> {
    if a.site {
        crate::commands::site::check_dir(&a.source, a.allow_external_redirects)?;
    }
    let volume = VolumeName::new(&a.volume)?;
    let tag = a.tag.as_deref().map(TagName::new).transpose()?;
    let key = secret_key(&a.key)?;
    let store = open_store(&a.store.store)?;
    let made = a
        .variants
        .as_deref()
        .map(|spec| make_variants(spec, &a.source, &store, &volume))
        .transpose()?;
    if let (Some(m), false) = (&made, ctx.json) {
        eprintln!(
            "image variants: {} ({} made now, the rest kept from the previous version), {}",
            m.variants,
            m.transformed,
            bytes(m.bytes)
        );
    }
    let mut overlay = made.as_ref().map(|m| m.dir.path().to_path_buf());
    // The worker joins the made files (a directory of our own), or one made for it.
    let worker_dir = if a.pwa && overlay.is_none() {
        let dir = tempfile::tempdir()?;
        overlay = Some(dir.path().to_path_buf());
        Some(dir)
    } else {
        None
    };
    if let (true, Some(dir)) = (a.pwa, &overlay) {
        let n = crate::commands::site::write_worker(&a.source, Some(dir), dir, "/sw.js")?;
        if !ctx.json {
            eprintln!("service worker: /sw.js precaching {n} files");
        }
    }
    let opts = options(a, volume, tag, &key, overlay.as_ref())?;
    let start = Instant::now();
    let r = publish(&store, &opts, &ctx.bar)?;
    drop(worker_dir);
    let secs = start.elapsed().as_secs_f64();
    if ctx.json {
        print_json(&json!({
            "volume": opts.volume.as_str(),
            "version": r.version.to_string(),
            "number": r.number,
            "unchanged": r.unchanged,
            "tag": opts.tag.as_ref().map(ToString::to_string),
            "files": r.files, "dirs": r.dirs, "symlinks": r.symlinks,
            "logical_bytes": r.logical_bytes,
            "chunks": r.chunks, "new_objects": r.new_objects, "new_bytes": r.new_bytes,
            "deltas": r.deltas,
            "seconds": secs,
            "variants": made.as_ref(),
            "preview_label": a.site.then(|| tinycdn_site::host::preview_label(r.version.as_bytes())),
        }))?;
    } else {
        print_text(a, &opts, &r, secs)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What to publish, from the arguments.
fn options<'a>(
    a: &'a PublishArgs,
    volume: VolumeName,
    tag: Option<TagName>,
    key: &'a tinycdn_core::sign::SecretKey,
    overlay: Option<&'a PathBuf>,
) -> Result<PublishOptions<'a>> {
    Ok(PublishOptions {
        source: &a.source,
        volume,
        tag,
        key,
        created: created_time(a.created)?,
        chunking: chunk_params(a.chunk_sizes.as_deref())?,
        deltas: DeltaOptions {
            enabled: !a.no_deltas,
            cpu_budget: Duration::try_from_secs_f64(a.delta_cpu_budget)
                .context("--delta-cpu-budget must be a non-negative number of seconds")?,
            max_file: a.delta_max_file,
        },
        overlay: overlay.map(PathBuf::as_path),
        freshness: Some(Freshness {
            snapshot_expires: unix_now() + i64::from(a.snapshot_lifetime_days) * 86_400,
            timestamp_expires: unix_now() + i64::from(a.timestamp_lifetime_hours) * 3_600,
        }),
    })
}

fn print_text(a: &PublishArgs, opts: &PublishOptions, r: &PublishReport, secs: f64) -> Result<()> {
    let what = if r.unchanged {
        "unchanged at"
    } else {
        "published"
    };
    let tagged = opts
        .tag
        .as_ref()
        .map(|t| format!(", tagged {t}"))
        .unwrap_or_default();
    out!(
        "{what} {} version {} ({}){tagged}",
        opts.volume,
        r.number,
        r.version.short()
    );
    if a.site {
        out!(
            "  preview: http://{}.HOST/ on an edge serving it with --site HOST=…",
            tinycdn_site::host::preview_label(r.version.as_bytes())
        );
    }
    out!(
        "  {} files, {} dirs, {} symlinks, {} in {} chunks; {} new objects ({}) in {secs:.2}s",
        r.files,
        r.dirs,
        r.symlinks,
        bytes(r.logical_bytes),
        r.chunks,
        r.new_objects,
        bytes(r.new_bytes),
    );
    let d = &r.deltas;
    if d.candidates > 0 {
        out!(
            "  deltas: {} kept ({} replacing {} of chunks), {} not worth keeping, {} over budget; {:.2} CPU s",
            d.kept,
            bytes(d.delta_bytes),
            bytes(d.replaced_bytes),
            d.rejected,
            d.skipped_budget,
            d.cpu.as_secs_f64()
        );
    }
    Ok(())
}

/// `--created`, else `SOURCE_DATE_EPOCH`, else now.
fn created_time(flag: Option<i64>) -> Result<i64> {
    if let Some(t) = flag {
        return Ok(t);
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds")),
        Err(_) => Ok(unix_now()),
    }
}

/// `--chunk-sizes MIN,AVG,MAX`.
fn chunk_params(spec: Option<&str>) -> Result<ChunkParams> {
    let Some(spec) = spec else {
        return Ok(ChunkParams::DEFAULT);
    };
    let parts: Vec<u32> = spec
        .split(',')
        .map(|p| p.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--chunk-sizes {spec:?} is not MIN,AVG,MAX in bytes"))?;
    let [min, avg, max] = parts[..] else {
        bail!("--chunk-sizes {spec:?} is not MIN,AVG,MAX in bytes");
    };
    Ok(ChunkParams { min, avg, max })
}
