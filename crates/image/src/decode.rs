//! Decoding to 8-bit RGB(A): JPEG through libjpeg-turbo (mozjpeg's build) with DCT scaling on
//! load, PNG through the `png` crate, WebP through libwebp. The caller has probed the header and
//! checked the limits; each decoder also bounds its own allocations.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::limits::TransformError;
use crate::pixels::Pixels;
use crate::probe::{Info, SourceFormat};

/// How much larger than the output a scaled decode of a baseline JPEG stays (libvips and sharp
/// use 1: the decode may be as small as the output).
pub const JPEG_SCALE_MARGIN: f64 = 1.0;
/// The same for a progressive JPEG, whose decoding is dominated by entropy decoding whatever the
/// scale: a larger decode costs little there and gives the Lanczos pass more detail (SSIM +0.02 on
/// the 17.9 MP photograph of BENCHMARKS.md, for 3% more time).
pub const JPEG_SCALE_MARGIN_PROGRESSIVE: f64 = 1.5;

/// The DCT scale (in eighths: 1, 2, 4 or 8) that decodes a JPEG as small as possible while every
/// side stays at least the margin times the output's. `reduction` is how much the source shrinks
/// to the output (see [`crate::plan::Plan::reduction`]).
#[must_use]
pub fn jpeg_scale(reduction: f64, progressive: bool) -> u8 {
    let margin = if progressive {
        JPEG_SCALE_MARGIN_PROGRESSIVE
    } else {
        JPEG_SCALE_MARGIN
    };
    [1u8, 2, 4]
        .into_iter()
        .find(|n| reduction >= 8.0 / f64::from(*n) * margin)
        .unwrap_or(8)
}

/// Decoded pixel bytes for a source of `info` decoded at `scale` eighths.
#[must_use]
pub fn decoded_bytes(info: &Info, scale: u8) -> u64 {
    let side = |v: u32| u64::from(v).div_ceil(8) * u64::from(scale);
    let ch = if info.alpha { 4 } else { 3 };
    side(info.width) * side(info.height) * ch
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "libjpeg failed".into())
}

/// Decodes `bytes` (probed as `info`); JPEGs at `scale` eighths.
///
/// # Errors
/// [`TransformError::Corrupt`], [`TransformError::Unsupported`].
pub fn decode(bytes: &[u8], info: &Info, scale: u8) -> Result<Pixels, TransformError> {
    match info.format {
        SourceFormat::Jpeg => jpeg(bytes, scale),
        SourceFormat::Png => png(bytes),
        SourceFormat::Webp => webp(bytes, info),
        SourceFormat::Avif | SourceFormat::Gif => Err(TransformError::Unsupported(format!(
            "{} sources are served as they are: this edge makes variants of JPEG, PNG and WebP",
            info.format.media_type()
        ))),
    }
}

/// Reassembles an ICC profile from APP2 `ICC_PROFILE` segments (in sequence order).
fn icc_from_app2<'a>(segments: impl Iterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut parts: Vec<(u8, &[u8])> = segments
        .filter_map(|s| s.strip_prefix(b"ICC_PROFILE\0"))
        .filter_map(|s| Some((*s.first()?, s.get(2..)?)))
        .collect();
    if parts.is_empty() {
        return None;
    }
    parts.sort_by_key(|(seq, _)| *seq);
    Some(
        parts
            .into_iter()
            .flat_map(|(_, d)| d.iter().copied())
            .collect(),
    )
}

fn jpeg(bytes: &[u8], scale: u8) -> Result<Pixels, TransformError> {
    if !crate::probe::jpeg_complete(bytes) {
        return Err(TransformError::Corrupt(
            "the JPEG ends before its end-of-image marker (truncated)".into(),
        ));
    }
    let run = || -> std::io::Result<Pixels> {
        let mut d =
            mozjpeg::Decompress::with_markers(&[mozjpeg::Marker::APP(2)]).from_mem(bytes)?;
        d.scale(scale);
        let icc = icc_from_app2(d.markers().map(|m| m.data));
        let cmyk = matches!(
            d.color_space(),
            mozjpeg::ColorSpace::JCS_CMYK | mozjpeg::ColorSpace::JCS_YCCK
        );
        if cmyk {
            let mut s = d.to_colorspace(mozjpeg::ColorSpace::JCS_CMYK)?;
            let (w, h) = (s.width(), s.height());
            let raw: Vec<u8> = s.read_scanlines()?;
            s.finish()?;
            let data = crate::color::cmyk_to_rgb(&raw, icc.as_deref());
            return Ok(Pixels {
                width: u32::try_from(w).unwrap_or(0),
                height: u32::try_from(h).unwrap_or(0),
                channels: 3,
                data,
                icc: None,
            });
        }
        let mut s = d.rgb()?;
        let (w, h) = (s.width(), s.height());
        let data: Vec<u8> = s.read_scanlines()?;
        s.finish()?;
        Ok(Pixels {
            width: u32::try_from(w).unwrap_or(0),
            height: u32::try_from(h).unwrap_or(0),
            channels: 3,
            data,
            icc,
        })
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(p)) if p.data.len() == p.width as usize * p.height as usize * 3 => Ok(p),
        Ok(Ok(_)) => Err(TransformError::Corrupt("the JPEG decoded short".into())),
        Ok(Err(e)) => Err(TransformError::Corrupt(e.to_string())),
        Err(p) => Err(TransformError::Corrupt(panic_text(&*p))),
    }
}

fn png(bytes: &[u8]) -> Result<Pixels, TransformError> {
    let corrupt = |e: png::DecodingError| TransformError::Corrupt(e.to_string());
    let mut d = png::Decoder::new_with_limits(
        std::io::Cursor::new(bytes),
        png::Limits {
            bytes: usize::MAX >> 1,
        },
    );
    d.set_transformations(png::Transformations::normalize_to_color8());
    let mut r = d.read_info().map_err(corrupt)?;
    let icc = r.info().icc_profile.as_ref().map(|c| c.to_vec());
    let size = r
        .output_buffer_size()
        .ok_or_else(|| TransformError::Corrupt("the PNG's size overflows".into()))?;
    let mut buf = vec![0u8; size];
    let out = r.next_frame(&mut buf).map_err(corrupt)?;
    buf.truncate(out.buffer_size());
    let (w, h) = (out.width, out.height);
    let (channels, data) = match out.color_type {
        png::ColorType::Rgb => (3, buf),
        png::ColorType::Rgba => (4, buf),
        png::ColorType::Grayscale => (3, buf.iter().flat_map(|&g| [g, g, g]).collect()),
        png::ColorType::GrayscaleAlpha => (
            4,
            buf.chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0], p[1]])
                .collect(),
        ),
        png::ColorType::Indexed => {
            return Err(TransformError::Corrupt(
                "the PNG palette did not expand".into(),
            ))
        }
    };
    Ok(Pixels {
        width: w,
        height: h,
        channels,
        data,
        icc,
    })
}

/// The `ICCP` chunk of an extended WebP.
fn webp_icc(b: &[u8]) -> Option<Vec<u8>> {
    let mut at = 12usize;
    while let (Some(ty), Some(len)) = (b.get(at..at + 4), b.get(at + 4..at + 8)) {
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        if ty == b"ICCP" {
            return b.get(at + 8..at + 8 + len).map(<[u8]>::to_vec);
        }
        at = at.checked_add(8 + len + (len & 1))?;
    }
    None
}

/// A WebP decoded by libwebp, in libwebp's own buffer (resized from there without a copy: at
/// 16.8 MP that copy would be 50 MB more per transform).
pub struct WebpPixels {
    image: webp::WebPImage,
    /// 3 or 4.
    pub channels: u8,
    /// Its ICC profile.
    pub icc: Option<Vec<u8>>,
}

impl std::fmt::Debug for WebpPixels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WebpPixels({}x{}x{})",
            self.image.width(),
            self.image.height(),
            self.channels
        )
    }
}

impl WebpPixels {
    /// The pixels, borrowed.
    #[must_use]
    pub fn source(&self) -> crate::resize::Source<'_> {
        crate::resize::Source {
            data: &self.image,
            width: self.image.width(),
            height: self.image.height(),
            channels: self.channels,
        }
    }

    /// The pixels, copied into an owned buffer.
    #[must_use]
    pub fn into_pixels(self) -> Pixels {
        Pixels {
            width: self.image.width(),
            height: self.image.height(),
            channels: self.channels,
            data: self.image.to_vec(),
            icc: self.icc,
        }
    }
}

/// Decodes a WebP into libwebp's buffer.
///
/// # Errors
/// [`TransformError::Corrupt`], [`TransformError::Unsupported`] (animations).
pub fn webp_borrowed(bytes: &[u8], info: &Info) -> Result<WebpPixels, TransformError> {
    if info.frames > 1 {
        return Err(TransformError::Unsupported(
            "animated WebP sources are served as they are".into(),
        ));
    }
    let image = webp::Decoder::new(bytes)
        .decode()
        .ok_or_else(|| TransformError::Corrupt("libwebp could not decode it".into()))?;
    let channels: u8 = if image.is_alpha() { 4 } else { 3 };
    if image.len() != image.width() as usize * image.height() as usize * usize::from(channels) {
        return Err(TransformError::Corrupt("the WebP decoded short".into()));
    }
    Ok(WebpPixels {
        image,
        channels,
        icc: webp_icc(bytes),
    })
}

fn webp(bytes: &[u8], info: &Info) -> Result<Pixels, TransformError> {
    webp_borrowed(bytes, info).map(WebpPixels::into_pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_scaling_keeps_enough_detail_for_the_output() {
        for (m, progressive) in [
            (JPEG_SCALE_MARGIN, false),
            (JPEG_SCALE_MARGIN_PROGRESSIVE, true),
        ] {
            assert_eq!(jpeg_scale(1.0, progressive), 8);
            assert_eq!(jpeg_scale(2.0 * m - 0.01, progressive), 8);
            assert_eq!(jpeg_scale(2.0 * m, progressive), 4);
            assert_eq!(jpeg_scale(4.0 * m, progressive), 2);
            assert_eq!(jpeg_scale(8.0 * m - 0.01, progressive), 2);
            assert_eq!(jpeg_scale(8.0 * m, progressive), 1);
        }
    }

    #[test]
    fn icc_segments_are_joined_in_sequence_order() {
        let a = b"ICC_PROFILE\0\x02\x02world".to_vec();
        let b = b"ICC_PROFILE\0\x01\x02hello ".to_vec();
        let joined = icc_from_app2([&a[..], &b[..], b"other"].into_iter());
        assert_eq!(joined.as_deref(), Some(&b"hello world"[..]));
    }
}
