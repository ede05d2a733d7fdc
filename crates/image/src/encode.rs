//! Encoding: progressive JPEG (mozjpeg: optimised Huffman tables, trellis quantisation), lossy
//! WebP (libwebp), AVIF (rav1e through ravif) and PNG. Output carries no metadata: no EXIF (GPS,
//! maker notes), no XMP, no ICC profile (pixels are sRGB by then).

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::limits::TransformError;
use crate::params::Format;
use crate::pixels::Pixels;

/// rav1e's speed for AVIF (0 slowest, 10 fastest): 9 is 2-3x faster than 8 for about 1.5% more
/// bytes at the same SSIM; 10 drops its RDO and costs 15% (BENCHMARKS.md).
pub const AVIF_SPEED: u8 = 9;
/// libwebp's method (0 fastest, 6 slowest); libwebp's default.
pub const WEBP_METHOD: i32 = 4;

fn enc(e: impl std::fmt::Display) -> TransformError {
    TransformError::Encode(e.to_string())
}

/// Encodes `p` (sRGB; RGBA only for formats with alpha) as `format` at quality `q`.
///
/// # Errors
/// [`TransformError::Encode`].
pub fn encode(p: &Pixels, format: Format, q: u8) -> Result<Vec<u8>, TransformError> {
    match format {
        Format::Jpeg => jpeg(p, q),
        Format::Webp => webp(p, q),
        Format::Avif => avif(p, q),
        Format::Png => png(p),
    }
}

fn jpeg(p: &Pixels, q: u8) -> Result<Vec<u8>, TransformError> {
    let run = || -> std::io::Result<Vec<u8>> {
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        c.set_size(p.width as usize, p.height as usize);
        c.set_quality(f32::from(q));
        c.set_progressive_mode();
        c.set_optimize_coding(true);
        let mut s = c.start_compress(Vec::new())?;
        s.write_scanlines(&p.data)?;
        s.finish()
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(r) => r.map_err(enc),
        Err(_) => Err(TransformError::Encode("libjpeg failed".into())),
    }
}

fn webp(p: &Pixels, q: u8) -> Result<Vec<u8>, TransformError> {
    let layout = if p.channels == 4 {
        webp::PixelLayout::Rgba
    } else {
        webp::PixelLayout::Rgb
    };
    let e = webp::Encoder::new(&p.data, layout, p.width, p.height);
    let mut config = webp::WebPConfig::new().map_err(|()| enc("libwebp config"))?;
    config.quality = f32::from(q);
    config.method = WEBP_METHOD;
    let out = e
        .encode_advanced(&config)
        .map_err(|e| enc(format!("libwebp: {e:?}")))?;
    Ok(out.to_vec())
}

fn avif(p: &Pixels, q: u8) -> Result<Vec<u8>, TransformError> {
    let e = ravif::Encoder::new()
        .with_quality(f32::from(q))
        .with_speed(AVIF_SPEED)
        .with_num_threads(Some(1));
    let (w, h) = (p.width as usize, p.height as usize);
    let out = if p.channels == 4 {
        let px: &[rgb::RGBA8] = rgb::bytemuck::cast_slice(&p.data);
        e.encode_rgba(ravif::Img::new(px, w, h))
    } else {
        let px: &[rgb::RGB8] = rgb::bytemuck::cast_slice(&p.data);
        e.encode_rgb(ravif::Img::new(px, w, h))
    };
    out.map(|o| o.avif_file).map_err(enc)
}

fn png(p: &Pixels) -> Result<Vec<u8>, TransformError> {
    let mut out = Vec::new();
    {
        let mut e = png::Encoder::new(&mut out, p.width, p.height);
        e.set_color(if p.channels == 4 {
            png::ColorType::Rgba
        } else {
            png::ColorType::Rgb
        });
        e.set_depth(png::BitDepth::Eight);
        e.set_compression(png::Compression::Balanced);
        let mut w = e.write_header().map_err(enc)?;
        w.write_image_data(&p.data).map_err(enc)?;
        w.finish().map_err(enc)?;
    }
    Ok(out)
}
