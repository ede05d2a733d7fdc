//! Decoded pixels (8-bit RGB or RGBA, rows packed) and EXIF orientation applied to them.

/// 8-bit RGB or RGBA pixels, rows packed, with the ICC profile they are in (none: sRGB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixels {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// 3 (RGB) or 4 (RGBA, not premultiplied).
    pub channels: u8,
    /// `width * height * channels` bytes.
    pub data: Vec<u8>,
    /// The ICC profile, when the source had one.
    pub icc: Option<Vec<u8>>,
}

impl Pixels {
    /// Whether any pixel is not opaque.
    #[must_use]
    pub fn has_translucency(&self) -> bool {
        self.channels == 4 && self.data.chunks_exact(4).any(|p| p[3] != 255)
    }

    /// The same pixels without alpha (composited over white).
    #[must_use]
    pub fn flattened(self) -> Self {
        if self.channels != 4 {
            return self;
        }
        let data = self
            .data
            .chunks_exact(4)
            .flat_map(|p| {
                let a = u32::from(p[3]);
                let over = |c: u8| {
                    let v = (u32::from(c) * a + 255 * (255 - a) + 127) / 255;
                    u8::try_from(v).unwrap_or(255)
                };
                [over(p[0]), over(p[1]), over(p[2])]
            })
            .collect();
        Self {
            channels: 3,
            data,
            ..self
        }
    }

    /// With EXIF orientation `o` (1–8) applied: the pixels as they are meant to be displayed.
    #[must_use]
    pub fn oriented(self, o: u8) -> Self {
        if !(2..=8).contains(&o) {
            return self;
        }
        let (w, h) = (self.width as usize, self.height as usize);
        let ch = usize::from(self.channels);
        let swap = o >= 5;
        let (ow, oh) = if swap { (h, w) } else { (w, h) };
        let mut out = vec![0u8; self.data.len()];
        for y in 0..oh {
            for x in 0..ow {
                // The stored pixel that lands at displayed (x, y).
                let (sx, sy) = match o {
                    2 => (w - 1 - x, y),
                    3 => (w - 1 - x, h - 1 - y),
                    4 => (x, h - 1 - y),
                    5 => (y, x),
                    6 => (y, h - 1 - x),
                    7 => (w - 1 - y, h - 1 - x),
                    _ => (w - 1 - y, x),
                };
                let (d, s) = ((y * ow + x) * ch, (sy * w + sx) * ch);
                out[d..d + ch].copy_from_slice(&self.data[s..s + ch]);
            }
        }
        Self {
            width: u32::try_from(ow).unwrap_or(u32::MAX),
            height: u32::try_from(oh).unwrap_or(u32::MAX),
            data: out,
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3 x 2 gray image whose pixel values are their stored index.
    fn numbered() -> Pixels {
        Pixels {
            width: 3,
            height: 2,
            channels: 3,
            data: (0u8..6).flat_map(|i| [i, i, i]).collect(),
            icc: None,
        }
    }

    fn firsts(p: &Pixels) -> Vec<u8> {
        p.data.chunks(3).map(|c| c[0]).collect()
    }

    #[test]
    fn every_orientation_puts_the_stored_pixels_where_exif_says() {
        // Stored:  0 1 2 / 3 4 5.
        let cases: [(u8, (u32, u32), [u8; 6]); 8] = [
            (1, (3, 2), [0, 1, 2, 3, 4, 5]),
            (2, (3, 2), [2, 1, 0, 5, 4, 3]),
            (3, (3, 2), [5, 4, 3, 2, 1, 0]),
            (4, (3, 2), [3, 4, 5, 0, 1, 2]),
            (5, (2, 3), [0, 3, 1, 4, 2, 5]),
            (6, (2, 3), [3, 0, 4, 1, 5, 2]),
            (7, (2, 3), [5, 2, 4, 1, 3, 0]),
            (8, (2, 3), [2, 5, 1, 4, 0, 3]),
        ];
        for (o, size, want) in cases {
            let p = numbered().oriented(o);
            assert_eq!((p.width, p.height), size, "orientation {o}");
            assert_eq!(firsts(&p), want, "orientation {o}");
        }
    }

    #[test]
    fn flattening_composites_over_white() {
        let p = Pixels {
            width: 2,
            height: 1,
            channels: 4,
            data: vec![0, 0, 0, 0, 10, 20, 30, 255],
            icc: None,
        };
        assert!(p.has_translucency());
        assert_eq!(p.flattened().data, vec![255, 255, 255, 10, 20, 30]);
    }
}
