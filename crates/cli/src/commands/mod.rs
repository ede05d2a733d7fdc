//! Running each command: build the objects that do the work from validated arguments, print the
//! result as text or JSON on stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tinycdn_core::chunking::ChunkParams;
use tinycdn_core::manifest::EntryKind;
use tinycdn_core::names::{TagName, VolumeName};
use tinycdn_core::sign::SecretKey;
use tinycdn_store::local::write_file_atomic;
use tinycdn_store::Store;
use tinycdn_volume::checkout::checkout;
use tinycdn_volume::deltas::DeltaOptions;
use tinycdn_volume::fsck::fsck;
use tinycdn_volume::gc::gc;
use tinycdn_volume::publish::{publish, PublishOptions};
use tinycdn_volume::read::{copy_file, find_file};
use tinycdn_volume::reference::Reference;
use tinycdn_volume::snapshot::Freshness;
use tinycdn_volume::stats::stats;
use tinycdn_volume::trust::{OpenedVersion, SignatureReport, Trust};

use crate::cli::{Cli, Command, DeltaCommand, DeltaMethod, KeyCommand, SiteCommand};
use crate::output::{bytes, Bar, EXIT_INTEGRITY};

/// `println!` that returns an error instead of panicking when stdout is closed.
macro_rules! out {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout().lock(), $($arg)*)?
    };
}

pub(crate) fn print_json(v: &Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn open_store(location: &tinycdn_objstore::Location) -> Result<Store> {
    Ok(tinycdn_objstore::open(location)?)
}

/// Opens the store and the version a reference names, verified against the trusted keys.
fn open_version(
    store: &tinycdn_objstore::Location,
    trust: &[PathBuf],
    reference: &str,
) -> Result<(Store, Reference, OpenedVersion)> {
    let store = open_store(store)?;
    let trust = Trust::load(trust)?.followed_in(&store)?;
    let reference: Reference = reference.parse()?;
    let version = reference.open(&store, &trust)?;
    Ok((store, reference, version))
}

/// The multi-threaded async runtime the servers and `pull` run on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Parses `20GiB`, `512MiB`, `500MB`, `4096` (bytes), as the configuration file does.
pub(crate) fn parse_size(s: &str) -> Result<u64> {
    tinycdn_edge::config::size::parse(s).map_err(anyhow::Error::msg)
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn created_time(flag: Option<i64>) -> Result<i64> {
    if let Some(t) = flag {
        return Ok(t);
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds")),
        Err(_) => Ok(now()),
    }
}

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

/// Runs the parsed command.
pub fn run(cli: &Cli) -> Result<ExitCode> {
    let bar = Bar::new(!cli.json && !cli.quiet);
    match &cli.command {
        Command::Init { store } => {
            tinycdn_objstore::init(&store.store)?;
            if cli.json {
                print_json(&json!({ "store": store.store.to_string() }))?;
            } else {
                out!("initialised store {}", store.store);
            }
        }
        Command::Key {
            command: KeyCommand::Generate { out, force },
        } => key_generate(cli, out, *force)?,
        Command::Delta { command } => return delta(cli, command),
        Command::Trust { command } => return crate::trust::run(cli, command),
        Command::Snapshot {
            store,
            key,
            lifetime_days,
            timestamp_key,
            timestamp_lifetime_hours,
        } => {
            let key = crate::trust::secret_key(key)?;
            let timestamp_key = timestamp_key
                .as_deref()
                .map(crate::trust::secret_key)
                .transpose()?;
            let freshness = Freshness {
                snapshot_expires: now() + i64::from(*lifetime_days) * 86_400,
                timestamp_expires: now() + i64::from(*timestamp_lifetime_hours) * 3_600,
            };
            let (s, t) = tinycdn_volume::snapshot::refresh(
                &open_store(&store.store)?,
                &key,
                timestamp_key.as_ref().unwrap_or(&key),
                freshness,
            )?;
            if cli.json {
                print_json(&json!({
                    "version": s.snapshot.version, "expires": s.snapshot.expires,
                    "tags": s.snapshot.tags.len(),
                    "timestamp": { "version": t.timestamp.version, "expires": t.timestamp.expires },
                }))?;
            } else {
                out!(
                    "snapshot version {} of {} tags, valid until {}; timestamp version {}, valid until {} (Unix seconds)",
                    s.snapshot.version,
                    s.snapshot.tags.len(),
                    s.snapshot.expires,
                    t.timestamp.version,
                    t.timestamp.expires
                );
            }
        }
        Command::Timestamp {
            store,
            key,
            lifetime_hours,
        } => {
            let key = crate::trust::secret_key(key)?;
            let expires = now() + i64::from(*lifetime_hours) * 3_600;
            let t = tinycdn_volume::snapshot::refresh_timestamp(
                &open_store(&store.store)?,
                &key,
                expires,
            )?;
            if cli.json {
                print_json(&json!({
                    "version": t.timestamp.version, "expires": t.timestamp.expires,
                    "snapshot_version": t.timestamp.snapshot_version,
                }))?;
            } else {
                out!(
                    "timestamp version {} naming snapshot version {}, valid until {} (Unix seconds)",
                    t.timestamp.version,
                    t.timestamp.snapshot_version,
                    t.timestamp.expires
                );
            }
        }
        Command::Sign {
            reference,
            store,
            key,
        } => {
            let key = crate::trust::secret_key(key)?;
            let reference: Reference = reference.parse()?;
            let done =
                tinycdn_volume::reference::cosign(&open_store(&store.store)?, &reference, &key)?;
            if cli.json {
                print_json(&json!({
                    "version": done.version.to_string(), "key": key.public().id().to_string(),
                    "delta_index": done.delta_index, "tag": done.tag,
                }))?;
            } else {
                out!(
                    "signed {} version {} by key {}{}{}",
                    reference.volume,
                    done.version.short(),
                    key.public().id().short(),
                    if done.delta_index {
                        ", its delta index"
                    } else {
                        ""
                    },
                    if done.tag { ", and the tag" } else { "" }
                );
            }
        }
        Command::Publish {
            source,
            store,
            volume,
            tag,
            key,
            created,
            chunk_sizes,
            no_deltas,
            delta_cpu_budget,
            delta_max_file,
            snapshot_lifetime_days,
            timestamp_lifetime_hours,
            variants,
            site,
            allow_external_redirects,
            pwa,
        } => {
            if *site {
                crate::site::check_dir(source, *allow_external_redirects)?;
            }
            let volume = VolumeName::new(volume)?;
            let tag = tag.as_deref().map(TagName::new).transpose()?;
            let key = crate::trust::secret_key(key)?;
            let store = open_store(&store.store)?;
            let made = variants
                .as_deref()
                .map(|spec| crate::variants::make(spec, source, &store, &volume))
                .transpose()?;
            if let (Some(m), false) = (&made, cli.json) {
                eprintln!(
                    "image variants: {} ({} made now, the rest kept from the previous version), {}",
                    m.variants,
                    m.transformed,
                    bytes(m.bytes)
                );
            }
            let mut variants_dir = made.as_ref().map(|m| m.dir.path().to_path_buf());
            // The worker joins the made files (a directory of our own), or one made for it.
            let worker_dir = if *pwa && variants_dir.is_none() {
                let dir = tempfile::tempdir()?;
                variants_dir = Some(dir.path().to_path_buf());
                Some(dir)
            } else {
                None
            };
            if let (true, Some(dir)) = (*pwa, &variants_dir) {
                let n = crate::site::write_worker(source, Some(dir), dir, "/sw.js")?;
                if !cli.json {
                    eprintln!("service worker: /sw.js precaching {n} files");
                }
            }
            let opts = PublishOptions {
                source,
                volume,
                tag: tag.clone(),
                key: &key,
                created: created_time(*created)?,
                chunking: chunk_params(chunk_sizes.as_deref())?,
                deltas: DeltaOptions {
                    enabled: !no_deltas,
                    cpu_budget: Duration::try_from_secs_f64(*delta_cpu_budget)
                        .context("--delta-cpu-budget must be a non-negative number of seconds")?,
                    max_file: *delta_max_file,
                },
                overlay: variants_dir.as_deref(),
                freshness: Some(Freshness {
                    snapshot_expires: now() + i64::from(*snapshot_lifetime_days) * 86_400,
                    timestamp_expires: now() + i64::from(*timestamp_lifetime_hours) * 3_600,
                }),
            };
            let start = Instant::now();
            let r = publish(&store, &opts, &bar)?;
            drop(worker_dir);
            let secs = start.elapsed().as_secs_f64();
            if cli.json {
                print_json(&json!({
                    "volume": opts.volume.as_str(),
                    "version": r.version.to_string(),
                    "number": r.number,
                    "unchanged": r.unchanged,
                    "tag": tag.map(|t| t.to_string()),
                    "files": r.files, "dirs": r.dirs, "symlinks": r.symlinks,
                    "logical_bytes": r.logical_bytes,
                    "chunks": r.chunks, "new_objects": r.new_objects, "new_bytes": r.new_bytes,
                    "deltas": {
                        "candidates": r.deltas.candidates, "kept": r.deltas.kept,
                        "rejected": r.deltas.rejected, "skipped_budget": r.deltas.skipped_budget,
                        "delta_bytes": r.deltas.delta_bytes, "replaced_bytes": r.deltas.replaced_bytes,
                        "cpu_seconds": r.deltas.cpu.as_secs_f64(),
                    },
                    "seconds": secs,
                    "variants": made.as_ref().map(|m| json!({
                        "variants": m.variants, "transformed": m.transformed, "bytes": m.bytes,
                    })),
                    "preview_label": site.then(|| tinycdn_site::host::preview_label(r.version.as_bytes())),
                }))?;
            } else {
                let what = if r.unchanged {
                    "unchanged at"
                } else {
                    "published"
                };
                let tagged = tag.map(|t| format!(", tagged {t}")).unwrap_or_default();
                out!(
                    "{what} {} version {} ({}){tagged}",
                    opts.volume,
                    r.number,
                    r.version.short()
                );
                if *site {
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
            }
        }
        Command::Volumes { store } => volumes(cli, &open_store(&store.store)?)?,
        Command::Show {
            reference,
            store,
            trust,
        } => {
            let store = open_store(&store.store)?;
            let trust = Trust::load(&trust.trust)?.followed_in(&store)?;
            let reference: Reference = reference.parse()?;
            // Show reports signatures that do not verify instead of refusing the version.
            let v = reference.inspect(&store, &trust)?;
            show(cli, &v)?;
            if matches!(v.signatures.verified, Some(Err(_))) || matches!(v.tag, Some(Err(_))) {
                return Ok(ExitCode::from(EXIT_INTEGRITY));
            }
        }
        Command::Cat {
            reference,
            path,
            store,
            trust,
        } => {
            let (store, reference, v) = open_version(&store.store, &trust.trust, reference)?;
            let file = find_file(&v.manifest, path, &reference.to_string())?;
            let mut out = std::io::stdout().lock();
            copy_file(&store, file, &reference.to_string(), &mut out)?;
            out.flush()?;
        }
        Command::Checkout {
            reference,
            dest,
            store,
            trust,
        } => {
            let (store, _, v) = open_version(&store.store, &trust.trust, reference)?;
            let r = checkout(&store, &v, dest, &bar)?;
            if cli.json {
                print_json(&json!({
                    "dest": r.dest, "version_dir": r.version_dir, "version": v.id.to_string(),
                    "number": v.manifest.version, "files": r.files, "linked": r.linked,
                    "copied": r.copied, "reused": r.reused,
                }))?;
            } else {
                out!(
                    "{} -> {} version {} ({})",
                    r.dest.display(),
                    v.manifest.volume,
                    v.manifest.version,
                    v.id.short()
                );
                out!(
                    "  {} files: {} hardlinked, {} copied{}",
                    r.files,
                    r.linked,
                    r.copied,
                    if r.reused {
                        " (version directory reused)"
                    } else {
                        ""
                    }
                );
            }
        }
        Command::Fsck {
            store,
            trust,
            repair,
            from,
        } => {
            let store = std::sync::Arc::new(open_store(&store.store)?);
            let trust = Trust::load(&trust.trust)?.followed_in(&store)?;
            let mut r = fsck(&store, &trust, &bar)?;
            let repaired = if *repair {
                let done = crate::vault::repair(&store, from, &trust, &bar)?;
                let before = r.clone();
                r = fsck(&store, &trust, &bar)?;
                // What the first pass quarantined stays listed.
                r.quarantined = before.quarantined;
                Some(done)
            } else {
                None
            };
            if let Some(done) = &repaired {
                crate::vault::print_repair(cli, done)?;
            }
            if cli.json {
                print_json(&json!({
                    "repaired": repaired.as_ref().map(|d| json!({"manifests": d.manifests, "objects": d.objects, "unrepaired": d.unrepaired, "bytes": d.bytes})),
                    "clean": r.is_clean(), "objects": r.objects, "bytes": r.bytes,
                    "manifests": r.manifests, "versions": r.versions, "tags": r.tags,
                    "unreferenced_objects": r.unreferenced_objects,
                    "problems": r.problems.iter().map(|p| json!({"kind": p.kind, "subject": p.subject, "detail": p.detail})).collect::<Vec<_>>(),
                    "quarantined": r.quarantined,
                }))?;
            } else {
                out!(
                    "checked {} objects ({}), {} manifests, {} versions, {} tags",
                    r.objects,
                    bytes(r.bytes),
                    r.manifests,
                    r.versions,
                    r.tags
                );
                if r.unreferenced_objects > 0 {
                    out!(
                        "{} objects are unreferenced (`tinycdn gc` removes them)",
                        r.unreferenced_objects
                    );
                }
                for p in &r.problems {
                    out!("{}: {}: {}", p.kind, p.subject, p.detail);
                }
                for q in &r.quarantined {
                    out!("quarantined {q}");
                }
                out!("{}", if r.is_clean() { "ok" } else { "DAMAGED" });
            }
            if !r.is_clean() {
                return Ok(ExitCode::from(EXIT_INTEGRITY));
            }
        }
        Command::Gc { store, keep } => {
            let store = open_store(&store.store)?;
            let r = gc(&store, *keep, &bar)?;
            if cli.json {
                print_json(&json!({
                    "versions_removed": r.versions_removed, "manifests_removed": r.manifests_removed,
                    "objects_removed": r.objects_removed, "bytes_freed": r.bytes_freed,
                    "checkouts_forgotten": r.checkouts_forgotten,
                }))?;
            } else {
                for v in &r.versions_removed {
                    out!("removed version {v}");
                }
                out!(
                    "freed {} in {} objects; {} manifests removed",
                    bytes(r.bytes_freed),
                    r.objects_removed,
                    r.manifests_removed
                );
            }
        }
        Command::Serve {
            store,
            listen,
            server,
        } => {
            let store = open_store(&store.store)?;
            let what = format!(
                "serving {} as an origin",
                store
                    .root()
                    .map_or_else(|| "store".into(), |p| p.display().to_string())
            );
            let pop = server.pop.clone();
            let serving = crate::serve::Serving::from_args(listen, server);
            crate::serve::run_server(&serving, &what, move || {
                let origin = tinycdn_server::Origin::new(store);
                origin.metrics().set_pop(&pop);
                Ok(origin)
            })?;
        }
        Command::Pull {
            reference,
            from,
            trust,
            store,
            checkout: dest,
            keep,
            concurrency,
            timeout,
            log_key,
            require_log,
        } => {
            let log = log_key
                .as_deref()
                .map(|k| -> Result<tinycdn_sync::LogPolicy> {
                    Ok(tinycdn_sync::LogPolicy {
                        verifier: crate::log::verifier(k)?,
                        require: *require_log,
                    })
                })
                .transpose()?;
            return pull(
                cli,
                &bar,
                reference,
                from,
                trust,
                &store.store,
                dest.as_deref(),
                (*keep, *concurrency, *timeout),
                log.as_ref(),
            );
        }
        Command::Log { command } => return crate::log::run(cli, command),
        Command::Site { command } => match command {
            SiteCommand::Check {
                dir,
                allow_external_redirects,
            } => crate::site::check(dir, *allow_external_redirects, cli.json)?,
            SiteCommand::Sw {
                reference,
                store,
                trust,
                out,
                worker_path,
            } => {
                let (store, r, v) = open_version(&store.store, &trust.trust, reference)?;
                crate::site::sw(
                    &store,
                    &v,
                    &r.to_string(),
                    worker_path,
                    out.as_deref(),
                    cli.json,
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
                crate::site::diff(
                    &store_a,
                    (&va, &ra.to_string()),
                    (&vb, &rb.to_string()),
                    cli.json,
                )?;
            }
        },
        Command::Vault { command } => return crate::vault::run(cli, command, &bar),
        Command::Audit {
            logs,
            format,
            cache_sizes,
            policies,
            top,
            sample,
            sample_budget,
            target_hit,
            threads,
            edge_memory,
            report,
        } => crate::audit::run(&crate::audit::Args {
            logs,
            format,
            cache_sizes: cache_sizes.as_deref(),
            policies: policies.as_deref(),
            top: *top,
            sample: *sample,
            sample_budget: *sample_budget,
            target_hit,
            threads: *threads,
            edge_memory: edge_memory.as_deref(),
            report: report.as_deref(),
            json: cli.json,
            quiet: cli.quiet,
        })?,
        Command::Replay {
            logs,
            targets,
            format,
            rate,
            duration,
            limit,
            concurrency,
            timeout,
            keep_host,
        } => crate::replay::run(&crate::replay::Args {
            logs,
            format,
            targets,
            rate: *rate,
            duration: *duration,
            limit: *limit,
            concurrency: *concurrency,
            timeout: *timeout,
            keep_host: *keep_host,
            json: cli.json,
        })?,
        Command::Report { store, edges, out } => {
            crate::report::run(cli, store.as_deref(), edges, out.as_deref())?;
        }
        Command::Edge(args) => crate::edge::edge(args)?,
        Command::Agent {
            config,
            once,
            listen,
        } => return crate::agent::run(cli, config, *once, listen.as_deref()),
        Command::Purge {
            edge,
            token_file,
            urls,
            prefixes,
            keys,
            soft,
        } => {
            let request = tinycdn_edge::proxy::purge::PurgeRequest {
                urls: urls.clone(),
                prefixes: prefixes.clone(),
                keys: keys.clone(),
                soft: *soft,
            };
            crate::edge::purge(cli, edge, token_file, &request)?;
        }
        Command::Image(args) => crate::image::image(cli, args)?,
        Command::SignUrl { url, key_file } => crate::image::sign_url(url, key_file)?,
        Command::Stats { store } => {
            let s = stats(&open_store(&store.store)?)?;
            if cli.json {
                print_json(&json!({
                    "volumes": s.volumes.iter().map(|v| json!({
                        "name": v.name, "versions": v.versions, "latest": v.latest,
                        "latest_bytes": v.latest_bytes, "logical_bytes": v.logical_bytes,
                    })).collect::<Vec<_>>(),
                    "logical_bytes": s.logical_bytes, "objects": s.objects,
                    "physical_bytes": s.physical_bytes, "unique_chunks": s.unique_chunks,
                    "unique_chunk_bytes": s.unique_chunk_bytes, "dedup_ratio": s.dedup_ratio,
                    "duplication_factor": s.duplication_factor,
                    "deltas": s.deltas.iter().map(|d| json!({
                        "method": d.method, "count": d.count, "target_bytes": d.target_bytes,
                        "delta_bytes": d.delta_bytes, "replaced_chunk_bytes": d.replaced_bytes,
                        "cpu_seconds": d.cpu_seconds, "rejected": d.rejected,
                        "rejected_cpu_seconds": d.rejected_cpu_seconds,
                        "compression_ratio": d.compression_ratio(),
                        "saving_over_chunks": d.saving_over_chunks(),
                        "saved_bytes_per_cpu_second": d.saved_bytes_per_cpu_second(),
                    })).collect::<Vec<_>>(),
                }))?;
            } else {
                for v in &s.volumes {
                    out!(
                        "{}: {} versions, latest {} ({}), all versions {}",
                        v.name,
                        v.versions,
                        v.latest,
                        bytes(v.latest_bytes),
                        bytes(v.logical_bytes)
                    );
                }
                out!(
                    "logical bytes      {} ({})",
                    s.logical_bytes,
                    bytes(s.logical_bytes)
                );
                out!(
                    "physical bytes     {} ({}) in {} objects",
                    s.physical_bytes,
                    bytes(s.physical_bytes),
                    s.objects
                );
                out!(
                    "unique chunk bytes {} ({}) in {} chunks",
                    s.unique_chunk_bytes,
                    bytes(s.unique_chunk_bytes),
                    s.unique_chunks
                );
                out!("dedup ratio        {:.3}", s.dedup_ratio);
                out!("duplication factor {:.3}", s.duplication_factor);
                for d in &s.deltas {
                    out!(
                        "deltas {:<11} {} kept: {} -> {} (ratio {:.1}x, {:.1}x fewer bytes than the missing chunks) in {:.2} CPU s{}",
                        d.method,
                        d.count,
                        bytes(d.target_bytes),
                        bytes(d.delta_bytes),
                        d.compression_ratio(),
                        d.saving_over_chunks(),
                        d.cpu_seconds,
                        if d.method == "all" {
                            format!(
                                "; {} not kept ({:.2} CPU s); {}/CPU s saved",
                                d.rejected,
                                d.rejected_cpu_seconds,
                                bytes(d.saved_bytes_per_cpu_second() as u64)
                            )
                        } else {
                            String::new()
                        }
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
fn pull(
    cli: &Cli,
    bar: &Bar,
    reference: &str,
    from: &[String],
    trust: &[PathBuf],
    store_path: &tinycdn_objstore::Location,
    dest: Option<&Path>,
    (keep, concurrency, timeout): (Option<usize>, usize, u64),
    log: Option<&tinycdn_sync::LogPolicy>,
) -> Result<ExitCode> {
    let r: Reference = reference.parse()?;
    // Freshness is checked by the pull, after it has looked for a newer root.
    let trust = Trust::load(trust)?;
    // A node's first pull makes its store, as `git clone` makes its repository (an existing
    // directory must be empty; an existing store is opened).
    let existed = tinycdn_objstore::open(store_path).is_ok();
    let store = std::sync::Arc::new(tinycdn_objstore::init(store_path)?);
    if !existed && !cli.quiet {
        eprintln!("created store {store_path}");
    }
    let upstreams = std::sync::Arc::new(tinycdn_fetch::Upstreams::new(
        from,
        std::time::Duration::from_secs(timeout),
    )?);
    let report = runtime()?.block_on(tinycdn_sync::pull_logged(
        store.clone(),
        upstreams,
        &trust,
        &r.volume,
        &r.spec,
        concurrency,
        bar,
        log,
    ))?;
    let version = report.version.map(|v| v.to_string()).unwrap_or_default();
    let given_root = trust.root().map(|g| g.root.version);
    let root_version = report.root.as_ref().map(|n| n.root.version);
    if root_version > given_root {
        eprintln!(
            "note: using trust root version {} (the file given is version {}): rotations published by the mirrors or pinned in the store",
            root_version.unwrap_or_default(),
            given_root.unwrap_or_default()
        );
    }
    let trust = report.root.clone().map_or(trust, Trust::from_root);
    let checked_out = match dest {
        Some(d) => {
            let pinned: Reference = format!("{}@{version}", r.volume).parse()?;
            let v = pinned.open(&store, &trust)?;
            Some(checkout(&store, &v, d, bar)?.version_dir)
        }
        None => None,
    };
    let collected = keep.map(|k| gc(&store, k, bar)).transpose()?;
    let saved = report.volume_bytes.saturating_sub(report.bytes_transferred);
    if cli.json {
        print_json(&json!({
            "volume": r.volume.as_str(), "version": version, "number": report.number,
            "already_had": report.already_had,
            "volume_bytes": report.volume_bytes,
            "bytes_transferred": report.bytes_transferred,
            "bytes_saved": saved,
            "bytes_already_present": report.bytes_already_present,
            "bytes_from_local_chunks": report.bytes_from_local_chunks,
            "bytes_from_staging": report.bytes_from_staging,
            "bytes_from_deltas": report.bytes_from_deltas,
            "deltas_applied": report.deltas_applied,
            "delta_bytes": report.delta_bytes,
            "deltas_failed": report.deltas_failed,
            "chunks_fetched": report.chunks_fetched,
            "requests": report.requests,
            "checkout": checked_out,
            "root_version": root_version,
            "log_size": report.log_size,
            "log_index": report.log_index,
            "versions_removed": collected.map(|c| c.versions_removed),
        }))?;
    } else {
        out!(
            "pulled {} version {} ({}){}",
            r.volume,
            report.number,
            &version[..12.min(version.len())],
            if report.already_had {
                ", already here"
            } else {
                ""
            }
        );
        out!(
            "  volume {}, transferred {}, saved {}: {} in files already here, {} from local chunks, {} staged by an earlier pull, {} from {} deltas ({}); {} chunks in {} requests",
            bytes(report.volume_bytes),
            bytes(report.bytes_transferred),
            bytes(saved),
            bytes(report.bytes_already_present),
            bytes(report.bytes_from_local_chunks),
            bytes(report.bytes_from_staging),
            bytes(report.bytes_from_deltas),
            report.deltas_applied,
            bytes(report.delta_bytes),
            report.chunks_fetched,
            report.requests
        );
        if report.deltas_failed > 0 {
            eprintln!(
                "warning: {} deltas failed to fetch, verify or apply; those files came as chunks",
                report.deltas_failed
            );
        }
        if let Some(d) = checked_out {
            out!("  checked out at {}", d.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn delta(cli: &Cli, command: &DeltaCommand) -> Result<ExitCode> {
    use tinycdn_delta::Method;
    match command {
        DeltaCommand::Create {
            old,
            new,
            out,
            method,
        } => {
            let (base, target) = (read_file(old)?, read_file(new)?);
            let created = match method {
                DeltaMethod::Auto => tinycdn_delta::create_auto(&base, &target)?,
                DeltaMethod::Zstd => {
                    tinycdn_delta::create(&base, &target, &[Method::ZstdPatchFrom])?
                }
                DeltaMethod::Bsdiff => tinycdn_delta::create(&base, &target, &[Method::Bsdiff])?,
                DeltaMethod::BsdiffLzma => {
                    tinycdn_delta::create(&base, &target, &[Method::BsdiffLzma])?
                }
            };
            let encoded = created.delta.to_bytes();
            write_file_atomic(out, &encoded, 0o644, true)
                .with_context(|| format!("writing {}", out.display()))?;
            let ratio = encoded.len() as f64 / target.len().max(1) as f64;
            if cli.json {
                print_json(&json!({
                    "method": created.delta.header.method.name(),
                    "delta_bytes": encoded.len(),
                    "target_bytes": target.len(),
                    "ratio": ratio,
                    "attempts": created.attempts.iter().map(|a| json!({
                        "method": a.method.name(), "bytes": a.size, "cpu_seconds": a.time.as_secs_f64(),
                    })).collect::<Vec<_>>(),
                }))?;
            } else {
                out!(
                    "{}: {} ({:.2}% of {}) by {}",
                    out.display(),
                    bytes(encoded.len() as u64),
                    ratio * 100.0,
                    bytes(target.len() as u64),
                    created.delta.header.method.name()
                );
                for a in &created.attempts {
                    out!(
                        "  {:<11} {:>12} bytes in {:.3}s",
                        a.method.name(),
                        a.size,
                        a.time.as_secs_f64()
                    );
                }
            }
        }
        DeltaCommand::Apply { old, delta, out } => {
            let (base, patch) = (read_file(old)?, read_file(delta)?);
            let target = match tinycdn_delta::apply(&base, &patch) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(EXIT_INTEGRITY));
                }
            };
            write_file_atomic(out, &target, 0o644, true)
                .with_context(|| format!("writing {}", out.display()))?;
            if cli.json {
                print_json(&json!({ "target_bytes": target.len(), "verified": true }))?;
            } else {
                out!(
                    "{}: {} (verified)",
                    out.display(),
                    bytes(target.len() as u64)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn key_generate(cli: &Cli, out: &Path, force: bool) -> Result<()> {
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
    if cli.json {
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

fn volumes(cli: &Cli, store: &Store) -> Result<()> {
    let mut all = Vec::new();
    for name in store.volumes()? {
        let versions = store.versions(&name)?;
        let tags = store.tags(&name)?;
        let mut vs = Vec::new();
        for (number, id) in &versions {
            let created = store.read_manifest(id).map(|(m, _)| m.created).ok();
            let names: Vec<String> = tags
                .iter()
                .filter(|t| t.record.version == *id)
                .map(|t| t.record.tag.to_string())
                .collect();
            vs.push(json!({ "number": number, "version": id.to_string(), "created": created, "tags": names }));
        }
        all.push(json!({ "name": name, "versions": vs }));
    }
    if cli.json {
        return print_json(&json!({ "volumes": all }));
    }
    if all.is_empty() {
        eprintln!("the store has no volumes yet (publish one with `tinycdn publish`)");
    }
    for v in &all {
        out!("{}", v["name"].as_str().unwrap_or_default());
        for ver in v["versions"].as_array().into_iter().flatten() {
            let tags: Vec<&str> = ver["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let id = ver["version"].as_str().unwrap_or_default();
            out!(
                "  {:>4}  {}  {}",
                ver["number"],
                &id[..12.min(id.len())],
                tags.join(", ")
            );
        }
    }
    Ok(())
}

fn show(cli: &Cli, v: &OpenedVersion) -> Result<()> {
    let m = &v.manifest;
    let sig = &v.signatures;
    let tag_check = &v.tag;
    if cli.json {
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
        return print_json(&json!({
            "volume": m.volume.as_str(), "version": v.id.to_string(), "number": m.version,
            "parent": m.parent.map(|p| p.to_string()), "created": m.created,
            "chunking": {"min": m.chunking.min, "avg": m.chunking.avg, "max": m.chunking.max},
            "logical_bytes": m.logical_size(),
            "signature": signature_json(sig),
            "tag_verified": tag_check.as_ref().map(Result::is_ok),
            "entries": entries,
        }));
    }
    out!("volume   {}", m.volume);
    out!("version  {} ({})", m.version, v.id);
    out!(
        "parent   {}",
        m.parent
            .map_or_else(|| "none".to_owned(), |p| p.to_string())
    );
    out!("created  {}", m.created);
    out!("signer   {}", signature_text(sig));
    if let Some(t) = &tag_check {
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
