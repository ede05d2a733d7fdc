//! The transform on real images (scikit-image's photographs) and on hostile ones: every output
//! rule the issue names, every cap, and bad input that must give an error, not a crash.

use std::time::{Duration, Instant};

use tinycdn_image::params::{split, Format};
use tinycdn_image::probe::probe;
use tinycdn_image::{inspect, transform, Limits, Normalised, Output, TransformError};

fn media(name: &str) -> Vec<u8> {
    std::fs::read(
        tinycdn_store::testing::sample_media()
            .join("images")
            .join(name),
    )
    .expect("media")
}

fn norm(query: &str, f: Format) -> Normalised {
    split(query)
        .expect("valid")
        .expect("image keys")
        .params
        .normalised(f)
}

fn make(bytes: &[u8], query: &str, f: Format) -> Result<Output, TransformError> {
    let limits = Limits::default();
    let info = inspect(bytes, &limits)?;
    transform(bytes, &info, &norm(query, f), &limits, None)
}

/// `jpeg` with an APP1 EXIF segment (orientation `o`, and a GPS IFD pointer) after SOI.
fn with_exif(jpeg: &[u8], o: u16) -> Vec<u8> {
    let mut tiff = b"II*\0\x08\0\0\0".to_vec();
    tiff.extend_from_slice(&2u16.to_le_bytes()); // two entries
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0]);
    tiff.extend_from_slice(&o.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    // GPSInfo IFD pointer (0x8825) to an empty IFD.
    tiff.extend_from_slice(&[0x25, 0x88, 4, 0, 1, 0, 0, 0, 38, 0, 0, 0]);
    tiff.extend_from_slice(&[0, 0, 0, 0]);
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut seg = b"Exif\0\0".to_vec();
    seg.extend_from_slice(&tiff);
    insert_segment(jpeg, 0xE1, &seg)
}

fn insert_segment(jpeg: &[u8], marker: u8, data: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&u16::try_from(data.len() + 2).expect("small").to_be_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_photograph_fits_inside_the_box_in_every_format() {
    let src = media("hubble_deep_field.jpg"); // 1000 x 872
    for f in [Format::Jpeg, Format::Webp, Format::Avif, Format::Png] {
        let out = make(&src, "w=500", f).expect("transform");
        assert_eq!((out.width, out.height, out.format), (500, 436, f));
        let back = probe(&out.bytes).expect("the output is an image");
        assert_eq!((back.width, back.height), (500, 436), "{f:?}");
        assert_eq!(back.format.media_type(), f.media_type());
    }
    // No upscaling unless asked.
    let out = make(&src, "w=2000", Format::Jpeg).expect("transform");
    assert_eq!((out.width, out.height), (1000, 872));
    let out = make(&src, "w=2000&up=1", Format::Jpeg).expect("transform");
    assert_eq!(out.width, 2000);
    // Cover crops to the box.
    let out = make(&src, "w=300&h=100&fit=cover&g=n", Format::Webp).expect("transform");
    assert_eq!((out.width, out.height), (300, 100));
}

#[test]
fn jpegs_are_progressive_and_carry_no_metadata() {
    let src = with_exif(&media("rocket.jpg"), 1);
    assert!(contains(&src, b"Exif\0\0"));
    let out = make(&src, "w=320", Format::Jpeg).expect("transform");
    assert!(contains(&out.bytes, &[0xFF, 0xC2]), "SOF2: progressive");
    assert!(
        !contains(&out.bytes, b"Exif"),
        "EXIF (GPS, maker notes) stripped"
    );
    assert!(!contains(&out.bytes, b"ICC_PROFILE"));
}

#[test]
fn exif_orientation_is_applied() {
    let src = media("rocket.jpg"); // 640 x 427
    for (o, size) in [
        (1, (320, 214)),
        (3, (320, 214)),
        (6, (214, 320)),
        (8, (214, 320)),
    ] {
        let tagged = with_exif(&src, o);
        assert_eq!(
            probe(&tagged).expect("probe").orientation,
            u8::try_from(o).expect("small")
        );
        let out = make(&tagged, "w=320&h=320", Format::Png).expect("transform");
        assert_eq!((out.width, out.height), size, "orientation {o}");
    }
    // Rotating by 180 degrees puts the top-left pixel at the bottom right.
    let up = make(&with_exif(&src, 1), "w=64", Format::Png).expect("transform");
    let down = make(&with_exif(&src, 3), "w=64", Format::Png).expect("transform");
    assert_ne!(up.bytes, down.bytes);
}

/// An ICC profile whose red and green primaries are swapped.
fn swapped_profile() -> Vec<u8> {
    use lcms2::{CIExyY, CIExyYTRIPLE, Profile, ToneCurve};
    let white = CIExyY {
        x: 0.3127,
        y: 0.3290,
        Y: 1.0,
    };
    let primaries = CIExyYTRIPLE {
        Red: CIExyY {
            x: 0.30,
            y: 0.60,
            Y: 1.0,
        },
        Green: CIExyY {
            x: 0.64,
            y: 0.33,
            Y: 1.0,
        },
        Blue: CIExyY {
            x: 0.15,
            y: 0.06,
            Y: 1.0,
        },
    };
    let curve = ToneCurve::new(2.2);
    let p = Profile::new_rgb(&white, &primaries, &[&curve, &curve, &curve]).expect("profile");
    p.icc().expect("serialise")
}

#[test]
fn icc_profiles_are_converted_to_srgb_and_dropped() {
    // A red image: encoded plainly, then tagged with a profile that calls that red green.
    let red = tinycdn_image::pixels::Pixels {
        width: 32,
        height: 32,
        channels: 3,
        data: [220u8, 30, 30].repeat(32 * 32),
        icc: None,
    };
    let plain = tinycdn_image::encode::encode(&red, Format::Jpeg, 95).expect("encode");
    let mut seg = b"ICC_PROFILE\0\x01\x01".to_vec();
    seg.extend_from_slice(&swapped_profile());
    let tagged = insert_segment(&plain, 0xE2, &seg);
    let limits = Limits::default();
    let info = inspect(&tagged, &limits).expect("inspect");
    let out = transform(&tagged, &info, &norm("w=16", Format::Png), &limits, None).expect("png");
    assert!(!contains(&out.bytes, b"iCCP"));
    let px = decode_png(&out.bytes);
    let (r, g) = (px[0], px[1]);
    assert!(
        g > r,
        "the profile's meaning is kept: red pixels in that space are green ({r}, {g})"
    );
    let untagged =
        transform(&plain, &info, &norm("w=16", Format::Png), &limits, None).expect("png");
    let px = decode_png(&untagged.bytes);
    assert!(px[0] > px[1], "without a profile red stays red");
}

fn decode_png(b: &[u8]) -> Vec<u8> {
    let mut r = png::Decoder::new(std::io::Cursor::new(b))
        .read_info()
        .expect("png");
    let mut buf = vec![0; r.output_buffer_size().expect("size")];
    r.next_frame(&mut buf).expect("frame");
    buf
}

#[test]
fn alpha_is_kept_where_the_format_has_it_and_flattened_on_white_for_jpeg() {
    // logo.png is RGBA but fully opaque: its alpha is dropped (smaller files); horse.png is not.
    let opaque = make(&media("logo.png"), "w=100", Format::Webp).expect("webp");
    assert!(!probe(&opaque.bytes).expect("probe").alpha);
    let src = media("horse.png");
    let webp = make(&src, "w=100", Format::Webp).expect("webp");
    assert!(probe(&webp.bytes).expect("probe").alpha, "WebP keeps alpha");
    let png = make(&src, "w=100", Format::Png).expect("png");
    assert!(probe(&png.bytes).expect("probe").alpha);
    let jpeg = make(&src, "w=100", Format::Jpeg).expect("jpeg");
    assert!(!probe(&jpeg.bytes).expect("probe").alpha);
    // 16-bit and grey sources work too.
    assert!(make(&media("chessboard_RGB.png"), "w=50", Format::Jpeg).is_ok());
    assert!(make(&media("camera.png"), "w=50", Format::Webp).is_ok());
}

fn png_header(w: u32, h: u32, extra: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |ty: &[u8; 4], data: &[u8]| {
        v.extend_from_slice(&u32::try_from(data.len()).expect("small").to_be_bytes());
        v.extend_from_slice(ty);
        v.extend_from_slice(data);
        v.extend_from_slice(&[0; 4]);
    };
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    for (t, d) in extra {
        chunk(t, d);
    }
    chunk(b"IDAT", &[0; 16]);
    v
}

#[test]
fn bombs_are_refused_from_the_header_before_any_decoding() {
    let started = Instant::now();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("png 100000 x 100000", png_header(100_000, 100_000, &[])),
        (
            "apng 1000 x 1000 x 100 frames",
            png_header(1000, 1000, &[(b"acTL", vec![0, 0, 0, 100, 0, 0, 0, 0])]),
        ),
        ("jpeg 60000 x 60000", {
            let mut j = vec![0xFF, 0xD8];
            j.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8, 0xEA, 0x60, 0xEA, 0x60, 1, 1, 0x11, 0]);
            j
        }),
        ("webp 16384 x 16384", {
            let mut w = b"RIFF\x16\0\0\0WEBPVP8X\x0a\0\0\0".to_vec();
            w.extend_from_slice(&[0, 0, 0, 0, 0xff, 0x3f, 0, 0xff, 0x3f, 0]);
            w
        }),
    ];
    for (what, bytes) in cases {
        let e = inspect(&bytes, &Limits::default()).expect_err(what);
        assert!(
            matches!(e, TransformError::SourcePixels { .. }),
            "{what}: {e}"
        );
        assert_eq!(e.status(), 422, "{what}");
    }
    let apng = png_header(1000, 1000, &[(b"acTL", vec![0, 0, 0, 100, 0, 0, 0, 0])]);
    let e = inspect(&apng, &Limits::default()).expect_err("frames count");
    assert!(e.to_string().contains("over 100 frames"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "nothing was decoded"
    );
}

#[test]
fn corrupt_and_truncated_images_give_errors_not_crashes() {
    let jpeg = media("hubble_deep_field.jpg");
    let e = make(&jpeg[..jpeg.len() / 2], "w=100", Format::Jpeg).expect_err("truncated");
    assert!(matches!(e, TransformError::Corrupt(_)), "{e}");
    assert_eq!(e.status(), 422);
    let mut scrambled = jpeg.clone();
    for b in scrambled.iter_mut().skip(600).step_by(97) {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    // Whatever libjpeg makes of it, it is an error or an image, never a crash.
    let _ = make(&scrambled, "w=100", Format::Jpeg);
    let png = media("chelsea.png");
    assert!(make(&png[..png.len() / 3], "w=100", Format::Png).is_err());
    // A chunk claiming four gigabytes.
    let mut liar = png_header(10, 10, &[]);
    let idat = liar.len() - 28;
    liar[idat..idat + 4].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
    assert!(make(&liar, "w=5", Format::Png).is_err());
    let e = make(b"<html>not an image</html>", "w=5", Format::Png).expect_err("garbage");
    assert_eq!(e.status(), 415);
    let gif = media("no_time_for_that_tiny.gif");
    assert_eq!(
        make(&gif, "w=5", Format::Png).expect_err("gif").status(),
        415
    );
}

#[test]
fn output_memory_and_time_caps() {
    let src = media("rocket.jpg");
    let e = make(&src, "w=8192&h=8192&fit=fill&up=1", Format::Jpeg).expect_err("output cap");
    assert!(matches!(e, TransformError::OutputPixels(..)), "{e}");
    let limits = Limits {
        max_memory: 100_000,
        ..Limits::default()
    };
    let info = inspect(&src, &limits).expect("inspect");
    let e =
        transform(&src, &info, &norm("w=600", Format::Jpeg), &limits, None).expect_err("memory");
    assert!(matches!(e, TransformError::Memory(..)), "{e}");
    let limits = Limits::default();
    let past = Instant::now().checked_sub(Duration::from_millis(1));
    let e = transform(&src, &info, &norm("w=600", Format::Jpeg), &limits, past).expect_err("late");
    assert!(matches!(e, TransformError::Timeout));
    let e = inspect(
        &src,
        &Limits {
            max_source_bytes: 1000,
            ..limits
        },
    )
    .expect_err("bytes");
    assert!(matches!(e, TransformError::SourceBytes(..)));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
        #[test]
        fn on_damaged_real_images(seed in any::<u64>(), cut in 0.0f64..1.0, flips in 0usize..40) {
            let names = ["rocket.jpg", "chelsea.png", "logo.png"];
            let mut b = media(names[usize::try_from(seed % 3).unwrap_or(0)]);
            let mut x = seed | 1;
            for _ in 0..flips {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                let i = usize::try_from(x % b.len() as u64).unwrap_or(0);
                b[i] ^= u8::try_from(x >> 56).unwrap_or(1);
            }
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            b.truncate(((b.len() as f64) * (0.2 + 0.8 * cut)) as usize);
            let _ = make(&b, "w=64", Format::Webp);
        }
    }
}
