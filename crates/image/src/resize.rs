//! Resampling with `fast_image_resize` (SIMD convolution): Lanczos3 in linear light, alpha
//! premultiplied. A large reduction first box-shrinks by a whole factor to about twice the output
//! (as libvips' shrink does), but in linear light and straight from the 8-bit pixels through a
//! table, so the 16-bit linear buffer is only ever the shrunk size.

use std::sync::LazyLock;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{
    create_srgb_mapper, FilterType, PixelComponentMapper, PixelType, ResizeAlg, ResizeOptions,
    Resizer,
};

use crate::limits::TransformError;
use crate::pixels::Pixels;

/// The sRGB transfer curve tables, built once.
static SRGB: LazyLock<PixelComponentMapper> = LazyLock::new(create_srgb_mapper);

/// Reductions at or above this box-shrink first.
const PRESHRINK_AT: f64 = 3.0;

/// sRGB 8-bit to linear 16-bit.
static TO_LINEAR: LazyLock<[u16; 256]> = LazyLock::new(|| {
    let mut t = [0u16; 256];
    for (i, v) in t.iter_mut().enumerate() {
        let c = i as f64 / 255.0;
        let l = if c < 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = (l * 65535.0).round() as u16;
        *v = n;
    }
    t
});

/// Box-shrinks the whole-pixel `window` (left, top, width, height) of 8-bit `src` (`sw` wide,
/// `ch` channels) by `k` into linear 16-bit pixels (native-endian bytes, as
/// `fast_image_resize` reads them); alpha-weighted, so transparent pixels give no colour.
fn shrink_linear(
    src: &[u8],
    sw: usize,
    ch: usize,
    window: (usize, usize, usize, usize),
    k: usize,
) -> (Vec<u8>, usize, usize) {
    let (x0, y0, w, h) = window;
    let (ow, oh) = ((w / k).max(1), (h / k).max(1));
    let lut = &*TO_LINEAR;
    let mut out = Vec::with_capacity(ow * oh * ch * 2);
    let mut acc = vec![0u64; ow * ch];
    for oy in 0..oh {
        acc.fill(0);
        let rows = (y0 + oy * k)..(y0 + ((oy + 1) * k).min(h));
        let n_rows = rows.len();
        for y in rows {
            let row = &src[(y * sw + x0) * ch..(y * sw + x0 + w) * ch];
            for ox in 0..ow {
                let a = &mut acc[ox * ch..(ox + 1) * ch];
                let cols = (ox * k)..((ox + 1) * k).min(w);
                for px in row[cols.start * ch..cols.end * ch].chunks_exact(ch) {
                    if ch == 4 {
                        let alpha = u64::from(px[3]);
                        for c in 0..3 {
                            a[c] += u64::from(lut[usize::from(px[c])]) * alpha;
                        }
                        a[3] += alpha;
                    } else {
                        for c in 0..3 {
                            a[c] += u64::from(lut[usize::from(px[c])]);
                        }
                    }
                }
            }
        }
        for ox in 0..ow {
            let n = (((ox + 1) * k).min(w) - ox * k) * n_rows;
            let a = &acc[ox * ch..(ox + 1) * ch];
            let mut put = |v: u64| {
                out.extend_from_slice(
                    &u16::try_from(v.min(65535))
                        .unwrap_or(u16::MAX)
                        .to_ne_bytes(),
                );
            };
            if ch == 4 {
                let alpha = a[3];
                for &c in &a[..3] {
                    put(c.checked_div(alpha).unwrap_or(0));
                }
                // 8-bit alpha mean, widened to 16 bits.
                put(alpha * 257 / n as u64);
            } else {
                for &c in a {
                    put(c / n as u64);
                }
            }
        }
    }
    (out, ow, oh)
}

fn err(e: impl std::fmt::Display) -> TransformError {
    TransformError::Encode(format!("resampling: {e}"))
}

fn types(channels: u8) -> (PixelType, PixelType) {
    if channels == 4 {
        (PixelType::U8x4, PixelType::U16x4)
    } else {
        (PixelType::U8x3, PixelType::U16x3)
    }
}

/// Pixel memory a resize of a `w` x `h` window to `ow` x `oh` holds at its peak, besides the
/// source.
#[must_use]
pub fn working_bytes(window: (f64, f64), out: (u32, u32), channels: u8) -> u64 {
    let (ow, oh) = (u64::from(out.0), u64::from(out.1));
    let ch = u64::from(channels);
    let reduction = (window.0 / out.0 as f64).min(window.1 / out.1 as f64);
    // The linear buffers: the (shrunk) window and the output, 2 bytes a component; then the
    // 8-bit output.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let lin_in = if reduction >= PRESHRINK_AT {
        16 * ow * oh
    } else {
        (window.0 * window.1) as u64
    };
    (lin_in * 2 + ow * oh * 3) * ch
}

/// Resizes the `window` (left, top, width, height) of `p` to `width` x `height`.
///
/// # Errors
/// [`TransformError::Encode`] if the resampler refuses its input (a bug, not bad data).
pub fn resize(
    p: Pixels,
    window: (f64, f64, f64, f64),
    width: u32,
    height: u32,
) -> Result<Pixels, TransformError> {
    let whole = window == (0.0, 0.0, f64::from(p.width), f64::from(p.height));
    if whole && (p.width, p.height) == (width, height) {
        return Ok(p);
    }
    let Pixels {
        width: sw,
        height: sh,
        channels,
        data,
        icc,
    } = p;
    resize_slice(
        Source {
            data: &data,
            width: sw,
            height: sh,
            channels,
        },
        icc,
        window,
        width,
        height,
    )
}

/// Borrowed 8-bit pixels to resize from (a decoder's own buffer, not copied).
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// `width * height * channels` bytes.
    pub data: &'a [u8],
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// 3 or 4.
    pub channels: u8,
}

/// [`resize`] from borrowed pixels (`icc` is the profile they are in).
///
/// # Errors
/// [`TransformError::Encode`] if the resampler refuses its input (a bug, not bad data).
pub fn resize_slice(
    src: Source<'_>,
    icc: Option<Vec<u8>>,
    window: (f64, f64, f64, f64),
    width: u32,
    height: u32,
) -> Result<Pixels, TransformError> {
    let Source {
        data,
        width: sw,
        height: sh,
        channels,
    } = src;
    let (t8, t16) = types(channels);
    let mut resizer = Resizer::new();
    let reduction = (window.2 / f64::from(width)).min(window.3 / f64::from(height));
    let (lin, window) = if reduction >= PRESHRINK_AT {
        // A whole factor leaving about 2x for the Lanczos pass.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let k = ((reduction / 2.0).floor() as usize).max(1);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let whole_px = |v: f64, max: u32| (v.round() as usize).min(max as usize);
        let (x0, y0) = (whole_px(window.0, sw), whole_px(window.1, sh));
        let (w, h) = (
            whole_px(window.2, sw).clamp(1, sw as usize - x0.min(sw as usize - 1)),
            whole_px(window.3, sh).clamp(1, sh as usize - y0.min(sh as usize - 1)),
        );
        let ch = usize::from(channels);
        let (buf, ow, oh) = shrink_linear(data, sw as usize, ch, (x0, y0, w, h), k);
        let (ow, oh) = (
            u32::try_from(ow).unwrap_or(u32::MAX),
            u32::try_from(oh).unwrap_or(u32::MAX),
        );
        let lin = Image::from_vec_u8(ow, oh, buf, t16).map_err(err)?;
        (lin, (0.0, 0.0, f64::from(ow), f64::from(oh)))
    } else {
        let src = ImageRef::new(sw, sh, data, t8).map_err(err)?;
        let mut lin = Image::new(sw, sh, t16);
        SRGB.forward_map(&src, &mut lin).map_err(err)?;
        (lin, window)
    };
    let mut out16 = Image::new(width, height, t16);
    let opts = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(window.0, window.1, window.2, window.3);
    resizer.resize(&lin, &mut out16, &opts).map_err(err)?;
    drop(lin);
    let mut out = Image::new(width, height, t8);
    SRGB.backward_map(&out16, &mut out).map_err(err)?;
    Ok(Pixels {
        width,
        height,
        channels,
        data: out.into_vec(),
        icc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(w: u32, h: u32, ch: u8, px: &[u8]) -> Pixels {
        Pixels {
            width: w,
            height: h,
            channels: ch,
            data: px.repeat((w * h) as usize),
            icc: None,
        }
    }

    #[test]
    fn a_flat_colour_stays_that_colour_at_any_scale() {
        for (w, h) in [(7, 5), (300, 200), (1, 1)] {
            let out = resize(
                flat(600, 400, 3, &[200, 100, 30]),
                (0.0, 0.0, 600.0, 400.0),
                w,
                h,
            )
            .expect("resize");
            assert_eq!((out.width, out.height), (w, h));
            for p in out.data.chunks(3) {
                assert!(
                    p[0].abs_diff(200) <= 1 && p[1].abs_diff(100) <= 1 && p[2].abs_diff(30) <= 1
                );
            }
        }
    }

    #[test]
    fn black_and_white_average_in_linear_light() {
        // Alternating black and white columns: in linear light they average to 50% intensity,
        // which is sRGB 188, not the 128 a gamma-space average gives.
        let mut p = flat(64, 4, 3, &[0, 0, 0]);
        for (i, px) in p.data.chunks_mut(3).enumerate() {
            if i % 2 == 0 {
                px.copy_from_slice(&[255, 255, 255]);
            }
        }
        let out = resize(p, (0.0, 0.0, 64.0, 4.0), 8, 1).expect("resize");
        for v in out.data {
            assert!((180..=196).contains(&v), "{v}");
        }
    }

    #[test]
    fn transparent_pixels_do_not_bleed_their_colour() {
        // Half opaque red, half fully transparent green: premultiplied, no green fringe.
        let mut p = flat(64, 2, 4, &[255, 0, 0, 255]);
        for (i, px) in p.data.chunks_mut(4).enumerate() {
            if i % 64 >= 32 {
                px.copy_from_slice(&[0, 255, 0, 0]);
            }
        }
        let out = resize(p, (0.0, 0.0, 64.0, 2.0), 4, 1).expect("resize");
        for px in out.data.chunks(4) {
            if px[3] > 0 {
                assert!(px[1] < 8, "green bled into {px:?}");
            }
        }
    }
}
