//! One variant from one source: probe, check every cap, decode (JPEGs scaled on load), orient,
//! crop and resize in linear light, convert to sRGB, encode. The same code runs in the edge, in
//! `tinycdn image` and at publish.

use std::time::Instant;

use crate::decode::{decode, decoded_bytes, jpeg_scale};
use crate::encode::encode;
use crate::limits::{Limits, TransformError};
use crate::params::{Format, Normalised};
use crate::plan::plan;
use crate::probe::{probe, Info, SourceFormat};

/// An encoded variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The encoded bytes.
    pub bytes: Vec<u8>,
    /// Their format.
    pub format: Format,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// The output format that stands for a source's own (`fmt` not given).
#[must_use]
pub fn own_format(info: &Info) -> Format {
    info.format.own_format()
}

/// Probes `bytes` and checks the source caps: what the edge may learn before any decoding.
///
/// # Errors
/// [`TransformError::Probe`], [`TransformError::SourceBytes`], [`TransformError::SourcePixels`].
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<Info, TransformError> {
    let len = bytes.len() as u64;
    if len > limits.max_source_bytes {
        return Err(TransformError::SourceBytes(len, limits.max_source_bytes));
    }
    let info = probe(bytes)?;
    if info.pixels() > limits.max_source_pixels {
        return Err(TransformError::SourcePixels {
            pixels: info.pixels(),
            frames: if info.frames > 1 {
                format!(" over {} frames", info.frames)
            } else {
                String::new()
            },
            cap: limits.max_source_pixels,
        });
    }
    Ok(info)
}

fn check(deadline: Option<Instant>) -> Result<(), TransformError> {
    match deadline {
        Some(d) if Instant::now() > d => Err(TransformError::Timeout),
        _ => Ok(()),
    }
}

/// Makes the variant `p` of `bytes` (already [`inspect`]ed as `info`). Stops between stages
/// once `deadline` has passed.
///
/// # Errors
/// [`TransformError`].
pub fn transform(
    bytes: &[u8],
    info: &Info,
    p: &Normalised,
    limits: &Limits,
    deadline: Option<Instant>,
) -> Result<Output, TransformError> {
    let (dw, dh) = info.oriented();
    let plan = plan(dw, dh, p);
    let out_px = u64::from(plan.width) * u64::from(plan.height);
    if out_px > limits.max_output_pixels {
        return Err(TransformError::OutputPixels(
            out_px,
            limits.max_output_pixels,
        ));
    }
    let scale = if info.format == SourceFormat::Jpeg {
        jpeg_scale(plan.reduction(), info.progressive)
    } else {
        8
    };
    let ch = if info.alpha { 4 } else { 3 };
    let f = f64::from(scale) / 8.0;
    let need = decoded_bytes(info, scale)
        + crate::resize::working_bytes(
            (plan.window.2 * f, plan.window.3 * f),
            (plan.width, plan.height),
            ch,
        );
    if need > limits.max_memory {
        return Err(TransformError::Memory(need, limits.max_memory));
    }
    check(deadline)?;
    // The plan's window is in displayed source pixels; the decode may be smaller.
    let window_in = |w: u32, h: u32| {
        let (fx, fy) = (f64::from(w) / f64::from(dw), f64::from(h) / f64::from(dh));
        let (x, y, ww, wh) = plan.window;
        (
            x * fx,
            y * fy,
            (ww * fx).min(f64::from(w) - x * fx),
            (wh * fy).min(f64::from(h) - y * fy),
        )
    };
    let resized = if info.format == SourceFormat::Webp && info.orientation == 1 {
        // Resized straight from libwebp's buffer.
        let webp = crate::decode::webp_borrowed(bytes, info)?;
        check(deadline)?;
        let src = webp.source();
        let window = window_in(src.width, src.height);
        crate::resize::resize_slice(src, webp.icc.clone(), window, plan.width, plan.height)?
    } else {
        let decoded = decode(bytes, info, scale)?.oriented(info.orientation);
        check(deadline)?;
        let window = window_in(decoded.width, decoded.height);
        crate::resize::resize(decoded, window, plan.width, plan.height)?
    };
    check(deadline)?;
    let mut px = crate::color::to_srgb(resized);
    if !p.format.has_alpha() || !px.has_translucency() {
        px = px.flattened();
    }
    let encoded = encode(&px, p.format, p.q)?;
    let len = encoded.len() as u64;
    if len > limits.max_output_bytes {
        return Err(TransformError::OutputBytes(len, limits.max_output_bytes));
    }
    Ok(Output {
        bytes: encoded,
        format: p.format,
        width: px.width,
        height: px.height,
    })
}

/// The name of a variant: BLAKE3 over the source's content hash and the normalised parameters
/// (which include the output format). What the cache and a publish-time index key on.
#[must_use]
pub fn variant_name(source: &[u8; 32], p: &Normalised) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("tinycdn 2026 image variant v1");
    h.update(source);
    h.update(p.to_string().as_bytes());
    *h.finalize().as_bytes()
}

/// The folder of a volume holding its publish-time variants.
pub const VARIANTS_DIR: &str = ".tinycdn-variants";

/// Where a publish-time variant lives in its volume: named by [`variant_name`], so that an
/// edge finds it from a request alone and an unchanged source keeps its variants' paths (and
/// chunks) from version to version.
#[must_use]
pub fn published_path(name: &[u8; 32], format: Format) -> String {
    format!("{VARIANTS_DIR}/{}.{}", hex::encode(name), format.name())
}
