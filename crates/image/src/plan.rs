//! The geometry of a variant, without I/O: from the displayed source size and the normalised
//! parameters, the output size and the window of the source it is made from.

use crate::params::{Fit, Normalised};

/// Output size and source window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
    /// The window of the (oriented) source: left, top, width, height, in source pixels.
    pub window: (f64, f64, f64, f64),
}

impl Plan {
    /// How much the window shrinks to the output (1 or more means downscaling), the smaller of
    /// the two axes: what decoding may reduce by without losing detail the output needs.
    #[must_use]
    pub fn reduction(&self) -> f64 {
        (self.window.2 / f64::from(self.width)).min(self.window.3 / f64::from(self.height))
    }
}

fn px(v: f64) -> u32 {
    // Saturating float-to-int conversion, never below one pixel.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let n = v.round().clamp(1.0, f64::from(u32::MAX)) as u32;
    n
}

/// Plans a variant of a `sw` x `sh` (displayed) source.
#[must_use]
pub fn plan(sw: u32, sh: u32, p: &Normalised) -> Plan {
    let (fw, fh) = (f64::from(sw), f64::from(sh));
    let whole = (0.0, 0.0, fw, fh);
    let cap = |s: f64| if p.upscale { s } else { s.min(1.0) };
    match (p.w, p.h, p.fit) {
        (None, None, _) => Plan {
            width: sw,
            height: sh,
            window: whole,
        },
        (Some(w), Some(h), Fit::Cover) => {
            let (bw, bh) = (f64::from(w), f64::from(h));
            let s = (bw / fw).max(bh / fh);
            // Without upscaling, a box larger than the source shrinks, keeping its shape.
            let (bw, bh, s) = if s > 1.0 && !p.upscale {
                (bw / s, bh / s, 1.0)
            } else {
                (bw, bh, s)
            };
            let (width, height) = (px(bw), px(bh));
            let (cw, ch) = (
                (f64::from(width) / s).min(fw),
                (f64::from(height) / s).min(fh),
            );
            let (ax, ay) = p.gravity.anchor();
            Plan {
                width,
                height,
                window: ((fw - cw) * ax, (fh - ch) * ay, cw, ch),
            }
        }
        (Some(w), Some(h), Fit::Fill) => Plan {
            width: if p.upscale { w } else { w.min(sw) },
            height: if p.upscale { h } else { h.min(sh) },
            window: whole,
        },
        (w, h, _) => {
            let sx = w.map_or(f64::INFINITY, |w| f64::from(w) / fw);
            let sy = h.map_or(f64::INFINITY, |h| f64::from(h) / fh);
            let s = cap(sx.min(sy));
            Plan {
                width: px(fw * s),
                height: px(fh * s),
                window: whole,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{Format, Gravity};
    use proptest::prelude::*;

    fn n(w: Option<u32>, h: Option<u32>, fit: Fit, up: bool) -> Normalised {
        Normalised {
            w,
            h,
            fit,
            gravity: Gravity::Centre,
            format: Format::Jpeg,
            q: 80,
            upscale: up,
        }
    }

    #[test]
    fn inside_keeps_the_aspect_and_never_upscales_unless_asked() {
        let p = plan(6000, 4000, &n(Some(512), Some(512), Fit::Inside, false));
        assert_eq!((p.width, p.height), (512, 341));
        let p = plan(400, 300, &n(Some(800), None, Fit::Inside, false));
        assert_eq!((p.width, p.height), (400, 300));
        let p = plan(400, 300, &n(Some(800), None, Fit::Inside, true));
        assert_eq!((p.width, p.height), (800, 600));
    }

    #[test]
    fn cover_crops_at_the_gravity() {
        let mut q = n(Some(100), Some(100), Fit::Cover, false);
        let p = plan(400, 200, &q);
        assert_eq!((p.width, p.height), (100, 100));
        assert_eq!(p.window, (100.0, 0.0, 200.0, 200.0));
        q.gravity = Gravity::West;
        assert_eq!(plan(400, 200, &q).window.0, 0.0);
        q.gravity = Gravity::East;
        assert_eq!(plan(400, 200, &q).window.0, 200.0);
        // A box larger than the source shrinks to it, keeping its shape.
        let p = plan(100, 50, &n(Some(400), Some(400), Fit::Cover, false));
        assert_eq!((p.width, p.height), (50, 50));
        assert_eq!(p.window, (25.0, 0.0, 50.0, 50.0));
    }

    #[test]
    fn fill_stretches() {
        let p = plan(400, 200, &n(Some(100), Some(100), Fit::Fill, false));
        assert_eq!((p.width, p.height), (100, 100));
        assert_eq!(p.window, (0.0, 0.0, 400.0, 200.0));
    }

    proptest! {
        #[test]
        fn outputs_fit_the_box_and_windows_fit_the_source(
            sw in 1u32..20_000, sh in 1u32..20_000,
            w in proptest::option::of(1u32..16_384), h in proptest::option::of(1u32..16_384),
            fit in prop_oneof![Just(Fit::Inside), Just(Fit::Cover), Just(Fit::Fill)],
            up: bool,
        ) {
            let q = n(w, h, fit, up);
            let p = plan(sw, sh, &q);
            prop_assert!(p.width >= 1 && p.height >= 1);
            if let Some(w) = w { prop_assert!(p.width <= w.max(1)); }
            if let Some(h) = h { prop_assert!(p.height <= h.max(1)); }
            if !up && fit != Fit::Cover {
                prop_assert!(p.width <= sw.max(1) && p.height <= sh.max(1));
            }
            let (x, y, cw, ch) = p.window;
            prop_assert!(x >= 0.0 && y >= 0.0 && cw > 0.0 && ch > 0.0);
            prop_assert!(x + cw <= f64::from(sw) + 1e-6 && y + ch <= f64::from(sh) + 1e-6);
        }
    }
}
