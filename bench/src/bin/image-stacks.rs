//! The library choice for image variants, by measurement on the benchmark's photographs
//! (`scripts/fetch-photos.sh`): JPEG decoding with libjpeg-turbo's DCT scaling on load (mozjpeg's
//! build, what tinycdn uses) against a full decode by libjpeg-turbo and by pure-Rust zune-jpeg
//! (what the `image` crate uses); resampling to 512 px with `fast_image_resize` (in linear light,
//! as tinycdn does) against the `image` crate's Lanczos3; AVIF encoding with rav1e at several
//! speeds. Median of 5 runs each, one thread. The libvips stack is measured whole by
//! bench/images.sh (vipsthumbnail, sharp).
//!
//! Usage: image-stacks PHOTO_DIR

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tinycdn_image::pixels::Pixels;
use tinycdn_image::probe::probe;

fn median(mut f: impl FnMut() -> Result<()>) -> Result<Duration> {
    let mut t = Vec::new();
    for _ in 0..5 {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed());
    }
    t.sort();
    Ok(t[2])
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() -> Result<()> {
    let dir = std::env::args()
        .nth(1)
        .context("usage: image-stacks PHOTO_DIR")?;
    println!("| photo | libjpeg-turbo full | scaled on load (1/8) | zune-jpeg full | fast_image_resize linear 512 | image Lanczos3 512 |");
    println!("|---|---|---|---|---|---|");
    for name in [
        "elephants-17.9mp.jpg",
        "elephants-8.3mp.jpg",
        "leaf-4.1mp.jpg",
        "cups-4.1mp.jpg",
    ] {
        let bytes = std::fs::read(format!("{dir}/{name}"))?;
        let info = probe(&bytes)?;
        let full = median(|| {
            tinycdn_image::decode::decode(&bytes, &info, 8)?;
            Ok(())
        })?;
        let scaled = median(|| {
            tinycdn_image::decode::decode(&bytes, &info, 1)?;
            Ok(())
        })?;
        let zune = median(|| {
            let mut d = zune_jpeg::JpegDecoder::new(std::io::Cursor::new(&bytes));
            d.decode().map_err(|e| anyhow::anyhow!("{e:?}"))?;
            Ok(())
        })?;
        let px = tinycdn_image::decode::decode(&bytes, &info, 8)?;
        let (w, h) = (px.width, px.height);
        let oh = (f64::from(h) * 512.0 / f64::from(w)).round() as u32;
        let fir = median(|| {
            let p = Pixels {
                data: px.data.clone(),
                ..px.clone()
            };
            tinycdn_image::resize::resize(p, (0.0, 0.0, f64::from(w), f64::from(h)), 512, oh)?;
            Ok(())
        })?;
        let buf = image::RgbImage::from_raw(w, h, px.data.clone()).context("buffer")?;
        let img = median(|| {
            let _ = image::imageops::resize(&buf, 512, oh, image::imageops::FilterType::Lanczos3);
            Ok(())
        })?;
        println!(
            "| {name} ({}x{}{}) | {} ms | {} ms | {} ms | {} ms | {} ms |",
            info.width,
            info.height,
            if info.progressive {
                ", progressive"
            } else {
                ""
            },
            ms(full),
            ms(scaled),
            ms(zune),
            ms(fir),
            ms(img)
        );
    }
    // JPEG encoding settings on a 512 px thumbnail.
    let leaf = std::fs::read(format!("{dir}/leaf-4.1mp.jpg"))?;
    let li = probe(&leaf)?;
    let lp = tinycdn_image::decode::decode(&leaf, &li, 2)?;
    let small = tinycdn_image::resize::resize(
        lp.clone(),
        (0.0, 0.0, f64::from(lp.width), f64::from(lp.height)),
        512,
        320,
    )?;
    println!("\n| JPEG encoder (leaf, 512x320, q80) | ms | bytes |");
    println!("|---|---|---|");
    for (label, trellis) in [
        ("mozjpeg defaults (trellis, progressive)", true),
        (
            "libjpeg-turbo defaults + progressive + optimised Huffman",
            false,
        ),
    ] {
        let mut size = 0;
        let t = median(|| {
            let out = std::panic::catch_unwind(|| -> std::io::Result<Vec<u8>> {
                let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
                if !trellis {
                    c.set_fastest_defaults();
                }
                c.set_size(512, 320);
                c.set_quality(80.0);
                c.set_progressive_mode();
                c.set_optimize_coding(true);
                let mut s = c.start_compress(Vec::new())?;
                s.write_scanlines(&small.data)?;
                s.finish()
            })
            .map_err(|_| anyhow::anyhow!("libjpeg"))??;
            size = out.len();
            if let Ok(d) = std::env::var("IMAGE_STACKS_SWEEP") {
                std::fs::write(format!("{d}/leaf-jpeg-trellis-{trellis}.jpg"), &out)?;
            }
            Ok(())
        })?;
        println!("| {label} | {} | {size} |", ms(t));
    }
    // AVIF: rav1e's speed against time and bytes, on a 512 px thumbnail.
    let bytes = std::fs::read(format!("{dir}/leaf-4.1mp.jpg"))?;
    let info = probe(&bytes)?;
    let px = tinycdn_image::decode::decode(&bytes, &info, 2)?;
    let thumb = tinycdn_image::resize::resize(
        px.clone(),
        (0.0, 0.0, f64::from(px.width), f64::from(px.height)),
        512,
        320,
    )?;
    println!("\n| rav1e speed (leaf, 512x320, quality 60) | ms | bytes |");
    println!("|---|---|---|");
    for speed in [4u8, 6, 8, 10] {
        let mut size = 0;
        let t = median(|| {
            let rgb: Vec<rgb::RGB8> = thumb
                .data
                .chunks_exact(3)
                .map(|c| rgb::RGB8::new(c[0], c[1], c[2]))
                .collect();
            let out = ravif::Encoder::new()
                .with_quality(60.0)
                .with_speed(speed)
                .with_num_threads(Some(1))
                .encode_rgb(ravif::Img::new(&rgb[..], 512, 320))?;
            size = out.avif_file.len();
            Ok(())
        })?;
        println!("| {speed} | {} | {size} |", ms(t));
    }
    if let Ok(out) = std::env::var("IMAGE_STACKS_SWEEP") {
        // AVIF speed x quality sweep, files written for an SSIM check (bench/images.py's method).
        for name in ["leaf-4.1mp.jpg", "elephants-17.9mp.jpg"] {
            let b = std::fs::read(format!("{dir}/{name}"))?;
            let i = probe(&b)?;
            for speed in [8u8, 9, 10] {
                for q in [50u8, 60, 70, 80] {
                    let px = {
                        let n = tinycdn_image::params::split("w=512&h=512")?
                            .context("keys")?
                            .params
                            .normalised(tinycdn_image::Format::Png);
                        tinycdn_image::transform(
                            &b,
                            &i,
                            &n,
                            &tinycdn_image::Limits::default(),
                            None,
                        )?
                    };
                    let dec = decode_png(&px.bytes)?;
                    let rgb: Vec<rgb::RGB8> = dec
                        .chunks_exact(3)
                        .map(|c| rgb::RGB8::new(c[0], c[1], c[2]))
                        .collect();
                    let s = Instant::now();
                    let enc = ravif::Encoder::new()
                        .with_quality(f32::from(q))
                        .with_speed(speed)
                        .with_num_threads(Some(1))
                        .encode_rgb(ravif::Img::new(
                            &rgb[..],
                            px.width as usize,
                            px.height as usize,
                        ))?;
                    let t = s.elapsed();
                    std::fs::write(format!("{out}/{name}-s{speed}-q{q}.avif"), &enc.avif_file)?;
                    println!(
                        "{name} speed {speed} q {q}: {} ms {} bytes",
                        ms(t),
                        enc.avif_file.len()
                    );
                }
            }
        }
    }
    Ok(())
}

fn decode_png(b: &[u8]) -> Result<Vec<u8>> {
    let mut r = png::Decoder::new(std::io::Cursor::new(b)).read_info()?;
    let mut buf = vec![0; r.output_buffer_size().context("size")?];
    r.next_frame(&mut buf)?;
    Ok(buf)
}
