//! `tinycdn image` (a variant made offline, by the edge's code) and `tinycdn sign-url`.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::json;
use tinycdn_image::params::{self, FormatChoice};
use tinycdn_image::{inspect, own_format, transform, Limits};

use crate::cli::ImageArgs;
use crate::context::Ctx;
use crate::output;
use crate::output::print_json;

/// The query an edge URL would carry for these arguments: parsed by the same code, so the CLI
/// takes exactly what the edge takes.
fn query(a: &ImageArgs) -> String {
    let mut q = Vec::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            q.push(format!("{k}={v}"));
        }
    };
    put("w", a.w.map(|v| v.to_string()));
    put("h", a.h.map(|v| v.to_string()));
    put("fit", a.fit.clone());
    put("g", a.g.clone());
    put("fmt", a.fmt.clone());
    put("q", a.q.map(|v| v.to_string()));
    put("dpr", a.dpr.clone());
    put("up", a.upscale.then(|| "1".to_owned()));
    q.join("&")
}

/// `tinycdn image PATH … -o OUT`.
pub fn run(ctx: &Ctx, a: &ImageArgs) -> Result<std::process::ExitCode> {
    image(ctx, a)?;
    Ok(std::process::ExitCode::SUCCESS)
}

fn image(ctx: &Ctx, a: &ImageArgs) -> Result<()> {
    if a.fmt.as_deref() == Some("auto") {
        bail!("--fmt auto needs a client's Accept header: name a format (jpeg, webp, avif, png)");
    }
    let split = params::split(&query(a))?;
    let p = split.map(|s| s.params).unwrap_or_default();
    let bytes = std::fs::read(&a.path).with_context(|| format!("reading {}", a.path.display()))?;
    let limits = Limits::default();
    let started = Instant::now();
    let info = inspect(&bytes, &limits)
        .with_context(|| format!("{} cannot be transformed", a.path.display()))?;
    let format = match p.format {
        FormatChoice::Fixed(f) => f,
        _ => own_format(&info),
    };
    let n = p.normalised(format);
    let out = transform(&bytes, &info, &n, &limits, None)
        .with_context(|| format!("{} cannot be transformed", a.path.display()))?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if a.out.as_os_str() == "-" {
        std::io::stdout().lock().write_all(&out.bytes)?;
    } else {
        tinycdn_store::local::write_file_atomic(&a.out, &out.bytes, 0o644, true)
            .with_context(|| format!("writing {}", a.out.display()))?;
    }
    let report = json!({
        "source": { "path": a.path, "format": info.format.media_type(), "width": info.width,
                    "height": info.height, "orientation": info.orientation, "bytes": bytes.len() },
        "output": { "path": a.out, "format": out.format.media_type(), "width": out.width,
                    "height": out.height, "bytes": out.bytes.len() },
        "parameters": n.to_string(),
        "milliseconds": (ms * 10.0).round() / 10.0,
    });
    if ctx.json && a.out.as_os_str() != "-" {
        print_json(&report)?;
    } else {
        eprintln!(
            "{}: {}x{} {} -> {}x{} {}, {} in {:.1} ms",
            a.path.display(),
            info.width,
            info.height,
            info.format.media_type(),
            out.width,
            out.height,
            out.format.name(),
            output::bytes(out.bytes.len() as u64),
            ms
        );
    }
    Ok(())
}

/// `tinycdn sign-url URL --key-file F`: the URL must be absolute (`https://HOST/PATH?QUERY`),
/// since the signature covers its host.
pub fn sign_url(_ctx: &Ctx, a: &crate::cli::SignUrlArgs) -> Result<std::process::ExitCode> {
    sign(&a.url, &a.key_file)?;
    Ok(std::process::ExitCode::SUCCESS)
}

fn sign(url: &str, key_file: &Path) -> Result<()> {
    let text = std::fs::read_to_string(key_file)
        .with_context(|| format!("reading {}", key_file.display()))?;
    let keys = tinycdn_image::policy::parse_keys(&text);
    let Some(key) = keys.first() else {
        bail!("{} holds no key (one per line)", key_file.display());
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!(
            "{url} is not an absolute URL: give https://HOST/PATH?QUERY (the signature covers \
             the host the edge is asked on)"
        );
    };
    let slash = rest.find('/').unwrap_or(rest.len());
    let (host, path_and_query) = rest.split_at(slash);
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    if host.is_empty() || path.is_empty() {
        bail!("{url} has no host or no path");
    }
    let unsigned: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("sig="))
        .collect();
    let query = unsigned.join("&");
    let sig = tinycdn_image::policy::signature(key, host, path, &query);
    let sep = if query.is_empty() { "" } else { "&" };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{scheme}://{host}{path}?{query}{sep}sig={sig}")?;
    Ok(())
}
