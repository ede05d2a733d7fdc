//! Colour: ICC profiles converted to sRGB (lcms2), CMYK to RGB.

use lcms2::{Intent, PixelFormat, Profile, Transform};

use crate::pixels::Pixels;

/// `p` converted from its ICC profile to sRGB (perceptual intent), the profile dropped. A
/// profile lcms2 cannot read is dropped and the pixels taken as sRGB (what browsers do).
#[must_use]
pub fn to_srgb(mut p: Pixels) -> Pixels {
    let Some(icc) = p.icc.take() else {
        return p;
    };
    let Ok(src) = Profile::new_icc(&icc) else {
        return p;
    };
    let srgb = Profile::new_srgb();
    if p.channels == 4 {
        if let Ok(t) = Transform::<[u8; 4], [u8; 4]>::new(
            &src,
            PixelFormat::RGBA_8,
            &srgb,
            PixelFormat::RGBA_8,
            Intent::Perceptual,
        ) {
            t.transform_in_place(p.data.as_chunks_mut::<4>().0);
        }
    } else if let Ok(t) = Transform::<[u8; 3], [u8; 3]>::new(
        &src,
        PixelFormat::RGB_8,
        &srgb,
        PixelFormat::RGB_8,
        Intent::Perceptual,
    ) {
        t.transform_in_place(p.data.as_chunks_mut::<3>().0);
    }
    p
}

/// CMYK as Adobe applications store it in JPEGs (inverted) to RGB: through the embedded
/// profile when there is one lcms2 reads, else by the naive formula.
#[must_use]
pub fn cmyk_to_rgb(raw: &[u8], icc: Option<&[u8]>) -> Vec<u8> {
    let cmyk = raw.as_chunks::<4>().0;
    if let Some(src) = icc.and_then(|i| Profile::new_icc(i).ok()) {
        if let Ok(t) = Transform::<[u8; 4], [u8; 3]>::new(
            &src,
            PixelFormat::CMYK_8_REV,
            &Profile::new_srgb(),
            PixelFormat::RGB_8,
            Intent::Perceptual,
        ) {
            let mut out = vec![[0u8; 3]; cmyk.len()];
            t.transform_pixels(cmyk, &mut out);
            return out.into_iter().flatten().collect();
        }
    }
    cmyk.iter()
        .flat_map(|&[c, m, y, k]| {
            let k = u32::from(k);
            let v = |x: u8| u8::try_from((u32::from(x) * k + 127) / 255).unwrap_or(255);
            [v(c), v(m), v(y)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_srgb_profile_leaves_pixels_about_the_same_and_is_dropped() {
        let icc = Profile::new_srgb().icc().expect("serialise sRGB");
        let p = Pixels {
            width: 2,
            height: 1,
            channels: 3,
            data: vec![10, 128, 250, 0, 255, 64],
            icc: Some(icc),
        };
        let out = to_srgb(p.clone());
        assert!(out.icc.is_none());
        for (a, b) in out.data.iter().zip(&p.data) {
            assert!(a.abs_diff(*b) <= 2, "{a} vs {b}");
        }
    }

    #[test]
    fn a_profile_that_does_not_parse_is_dropped() {
        let p = Pixels {
            width: 1,
            height: 1,
            channels: 3,
            data: vec![1, 2, 3],
            icc: Some(b"not a profile".to_vec()),
        };
        let out = to_srgb(p);
        assert_eq!((out.data, out.icc), (vec![1, 2, 3], None));
    }

    #[test]
    fn inverted_cmyk_without_a_profile() {
        // Adobe-inverted: 255 is no ink.
        assert_eq!(
            cmyk_to_rgb(&[255, 255, 255, 255], None),
            vec![255, 255, 255]
        );
        assert_eq!(cmyk_to_rgb(&[255, 0, 255, 255], None), vec![255, 0, 255]);
        assert_eq!(cmyk_to_rgb(&[255, 255, 255, 0], None), vec![0, 0, 0]);
    }
}
