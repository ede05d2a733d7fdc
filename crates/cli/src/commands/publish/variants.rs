//! `publish --variants FILE`: image variants made at publish, by the edge's code, into files of
//! the volume itself (`.tinycdn-variants/NAME.FORMAT`, named from the source's content hash and
//! the normalised parameters). The signed manifest lists them like any file, delta sync moves
//! them like any file, and an edge asked for one serves the verified file without transforming.
//!
//! ```toml
//! [[rule]]
//! paths = ["img/**/*.jpg", "hero/*.png"]   # globs over the volume's paths
//! widths = [320, 640, 1280]                # CSS pixels (as `w=`)
//! formats = ["avif", "webp", "jpeg"]       # as `fmt=`
//! quality = 75                             # optional: the format's default
//! height = 480                             # optional, with fit = "cover" or "fill"
//! fit = "inside"                           # optional
//! ```

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use tinycdn_core::names::VolumeName;
use tinycdn_core::FileId;
use tinycdn_image::params::{self, Format, FormatChoice, Params};
use tinycdn_image::{inspect, published_path, transform, variant_name, Limits, VARIANTS_DIR};
use tinycdn_store::Store;
use tinycdn_volume::read::{copy_file, find_file};

/// The variants file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantsFile {
    rule: Vec<Rule>,
}

/// One rule: which paths, which variants.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    paths: Vec<String>,
    widths: Vec<u32>,
    formats: Vec<String>,
    quality: Option<u8>,
    height: Option<u32>,
    fit: Option<String>,
}

/// What was made.
#[derive(Debug, serde::Serialize)]
pub struct Made {
    /// The directory holding `.tinycdn-variants/` (removed when dropped).
    #[serde(skip)]
    pub dir: tempfile::TempDir,
    /// Variants in the volume.
    pub variants: u64,
    /// Of which made now (the others came from the previous version: same source bytes).
    pub transformed: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Every regular file under `root`, as volume paths (`/`-separated, relative).
fn files(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let e = e?;
            let t = e.file_type()?;
            let p = e.path();
            if t.is_dir() {
                stack.push(p);
            } else if t.is_file() {
                if let Ok(rel) = p.strip_prefix(root) {
                    out.push((rel.to_string_lossy().replace('\\', "/"), p));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

fn rule_params(r: &Rule, width: u32, format: Format) -> Result<Params> {
    let mut q = format!("w={width}&fmt={}", format.name());
    if let Some(h) = r.height {
        q.push_str(&format!("&h={h}"));
    }
    if let Some(f) = &r.fit {
        q.push_str(&format!("&fit={f}"));
    }
    if let Some(v) = r.quality {
        q.push_str(&format!("&q={v}"));
    }
    let split = params::split(&q)?.context("image parameters")?;
    Ok(split.params)
}

/// Makes the variants `spec` asks for of the images in `source`, reusing those the volume's
/// current version already holds.
pub fn make(spec: &Path, source: &Path, store: &Store, volume: &VolumeName) -> Result<Made> {
    let text =
        std::fs::read_to_string(spec).with_context(|| format!("reading {}", spec.display()))?;
    let file: VariantsFile = toml::from_str(&text)
        .with_context(|| format!("{} is not a variants file", spec.display()))?;
    if source.join(VARIANTS_DIR).exists() {
        bail!(
            "{} already has a {VARIANTS_DIR}/ folder: publish --variants makes it",
            source.display()
        );
    }
    let mut rules: Vec<(GlobSet, &Rule, Vec<Format>)> = Vec::new();
    for r in &file.rule {
        let mut b = GlobSetBuilder::new();
        for p in &r.paths {
            b.add(Glob::new(p).with_context(|| format!("the glob {p}"))?);
        }
        let formats = r
            .formats
            .iter()
            .map(|f| {
                Format::parse(f).with_context(|| format!("format `{f}`: jpeg, webp, avif or png"))
            })
            .collect::<Result<Vec<_>>>()?;
        if r.widths.is_empty() || formats.is_empty() {
            bail!("each [[rule]] needs widths and formats");
        }
        rules.push((b.build()?, r, formats));
    }
    let previous = tinycdn_volume::publish::head(store, volume)?
        .map(|(_, id)| store.read_manifest(&id).map(|(m, _)| m))
        .transpose()?;
    let dir = tempfile::tempdir()?;
    let out_dir = dir.path().join(VARIANTS_DIR);
    std::fs::create_dir(&out_dir)?;
    let limits = Limits::default();
    let (mut variants, mut transformed, mut bytes) = (0u64, 0u64, 0u64);
    for (path, abs) in files(source)? {
        let matching: Vec<_> = rules.iter().filter(|(g, _, _)| g.is_match(&path)).collect();
        if matching.is_empty() {
            continue;
        }
        let src = std::fs::read(&abs).with_context(|| format!("reading {}", abs.display()))?;
        let info = match inspect(&src, &limits) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("warning: {path}: no variants: {e}");
                continue;
            }
        };
        let hash = FileId::of(&src);
        for (_, rule, formats) in matching {
            for &width in &rule.widths {
                for &format in formats {
                    let mut p = rule_params(rule, width, format)?;
                    p.format = FormatChoice::Fixed(format);
                    let n = p.normalised(format);
                    let rel = published_path(&variant_name(hash.as_bytes(), &n), format);
                    let dest = dir.path().join(&rel);
                    if dest.exists() {
                        continue;
                    }
                    let mut reused = false;
                    if let Some(m) = &previous {
                        if let Ok(f) = find_file(m, &rel, "the previous version") {
                            let mut buf = Vec::new();
                            if copy_file(store, f, "the previous version", &mut buf).is_ok() {
                                std::fs::write(&dest, &buf)?;
                                bytes += buf.len() as u64;
                                reused = true;
                            }
                        }
                    }
                    if !reused {
                        let out = transform(&src, &info, &n, &limits, None)
                            .with_context(|| format!("{path}: variant {n}"))?;
                        std::fs::write(&dest, &out.bytes)?;
                        bytes += out.bytes.len() as u64;
                        transformed += 1;
                    }
                    variants += 1;
                }
            }
        }
    }
    Ok(Made {
        dir,
        variants,
        transformed,
        bytes,
    })
}
