//! What an image is, read from its header before anything is decoded, without I/O: format,
//! dimensions, frames (animations count every frame against the pixel cap), alpha and EXIF
//! orientation. Every length is checked against the bytes there; nothing is allocated from a
//! size the file claims.

use thiserror::Error;

/// A source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    /// JPEG (JFIF, EXIF).
    Jpeg,
    /// PNG (and APNG).
    Png,
    /// WebP (lossy, lossless, extended).
    Webp,
    /// AVIF.
    Avif,
    /// GIF.
    Gif,
}

impl SourceFormat {
    /// The source format a media type names (`image/jpeg`, `IMAGE/PNG; x=y`), if it is an image
    /// this crate reads the header of.
    #[must_use]
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        let essence = media_type.split(';').next().unwrap_or("").trim();
        Some(match essence.to_ascii_lowercase().as_str() {
            "image/jpeg" | "image/jpg" | "image/pjpeg" => Self::Jpeg,
            "image/png" => Self::Png,
            "image/webp" => Self::Webp,
            "image/avif" => Self::Avif,
            "image/gif" => Self::Gif,
            _ => return None,
        })
    }

    /// The output format that stands for this one (no `fmt`): GIF becomes PNG.
    #[must_use]
    pub fn own_format(self) -> crate::params::Format {
        use crate::params::Format;
        match self {
            Self::Jpeg => Format::Jpeg,
            Self::Webp => Format::Webp,
            Self::Avif => Format::Avif,
            Self::Png | Self::Gif => Format::Png,
        }
    }

    /// Whether an image of this format can carry alpha (known from the type alone, so that a
    /// variant can be named before its source is read).
    #[must_use]
    pub fn may_have_alpha(self) -> bool {
        !matches!(self, Self::Jpeg)
    }

    /// Its media type.
    #[must_use]
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Avif => "image/avif",
            Self::Gif => "image/gif",
        }
    }
}

/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// The format.
    pub format: SourceFormat,
    /// Stored width in pixels (before orientation).
    pub width: u32,
    /// Stored height in pixels (before orientation).
    pub height: u32,
    /// Frames (1 for a still image).
    pub frames: u32,
    /// Whether it has (or may have) an alpha channel.
    pub alpha: bool,
    /// EXIF orientation, 1–8 (1 when there is none).
    pub orientation: u8,
    /// A progressive JPEG (its decoding is dominated by entropy decoding, see
    /// [`crate::decode::jpeg_scale`]).
    pub progressive: bool,
}

impl Info {
    /// Pixels over every frame.
    #[must_use]
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height) * u64::from(self.frames.max(1))
    }

    /// Width and height as displayed (orientations 5–8 swap them).
    #[must_use]
    pub fn oriented(&self) -> (u32, u32) {
        if self.orientation >= 5 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// Why the header cannot be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProbeError {
    /// Not a format this edge reads.
    #[error("not an image this edge reads (JPEG, PNG, WebP, AVIF, GIF)")]
    Unknown,
    /// The header ends early.
    #[error("the {0} header is truncated")]
    Truncated(&'static str),
    /// A header field is impossible.
    #[error("the {0} header is malformed: {1}")]
    Malformed(&'static str, &'static str),
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Reads the header of `bytes`.
///
/// # Errors
/// [`ProbeError`].
pub fn probe(bytes: &[u8]) -> Result<Info, ProbeError> {
    let info = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        jpeg(bytes)?
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        png(bytes)?
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        webp(bytes)?
    } else if bytes.get(4..8) == Some(b"ftyp") {
        avif(bytes)?
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        gif(bytes)?
    } else {
        return Err(ProbeError::Unknown);
    };
    if info.width == 0 || info.height == 0 {
        return Err(ProbeError::Malformed("image", "a side is zero"));
    }
    Ok(info)
}

/// The EXIF orientation in an APP1 payload (after `Exif\0\0`), 1 when absent or invalid.
fn exif_orientation(tiff: &[u8]) -> u8 {
    let Ok(exif) = exif::Reader::new().read_raw(tiff.to_vec()) else {
        return 1;
    };
    exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .and_then(|v| u8::try_from(v).ok())
        .filter(|v| (1..=8).contains(v))
        .unwrap_or(1)
}

fn jpeg(b: &[u8]) -> Result<Info, ProbeError> {
    const T: ProbeError = ProbeError::Truncated("JPEG");
    let mut at = 2;
    let mut orientation = 1;
    loop {
        // Fill bytes (0xFF) may come before a marker.
        while b.get(at) == Some(&0xFF) && b.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        if b.get(at) != Some(&0xFF) {
            return Err(ProbeError::Malformed("JPEG", "expected a marker"));
        }
        let marker = *b.get(at + 1).ok_or(T)?;
        at += 2;
        match marker {
            // Markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 | 0xDA => {
                return Err(ProbeError::Malformed(
                    "JPEG",
                    "no frame header before the scan",
                ))
            }
            _ => {}
        }
        let len = usize::from(be16(b, at).ok_or(T)?);
        if len < 2 {
            return Err(ProbeError::Malformed("JPEG", "a segment length below 2"));
        }
        let seg = b.get(at + 2..at + len).ok_or(T)?;
        match marker {
            0xE1 if seg.starts_with(b"Exif\0\0") && orientation == 1 => {
                orientation = exif_orientation(&seg[6..]);
            }
            // SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                if seg.len() < 6 {
                    return Err(T);
                }
                let height = u32::from(be16(seg, 1).ok_or(T)?);
                let width = u32::from(be16(seg, 3).ok_or(T)?);
                if height == 0 {
                    return Err(ProbeError::Malformed(
                        "JPEG",
                        "the height is deferred (DNL)",
                    ));
                }
                return Ok(Info {
                    format: SourceFormat::Jpeg,
                    width,
                    height,
                    frames: 1,
                    alpha: false,
                    orientation,
                    progressive: matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE),
                });
            }
            _ => {}
        }
        at += len;
    }
}

/// Whether a JPEG's data reaches its end-of-image marker after the first scan (a JPEG cut short
/// decodes to grey rows in libjpeg, which only warns).
#[must_use]
pub fn jpeg_complete(b: &[u8]) -> bool {
    // Walk the segments to the first scan.
    let mut at = 2;
    loop {
        while b.get(at) == Some(&0xFF) && b.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        match (b.get(at), b.get(at + 1)) {
            (Some(0xFF), Some(0x01 | 0xD0..=0xD7)) => at += 2,
            (Some(0xFF), Some(0xDA)) => break,
            (Some(0xFF), Some(_)) => match be16(b, at + 2) {
                Some(len) if len >= 2 => at += 2 + usize::from(len),
                _ => return false,
            },
            _ => return false,
        }
    }
    // Entropy-coded data stuffs every 0xFF, so an EOI after the scan header is the real one.
    b.get(at..)
        .is_some_and(|scan| scan.windows(2).rev().any(|w| w == [0xFF, 0xD9]))
}

fn png(b: &[u8]) -> Result<Info, ProbeError> {
    const T: ProbeError = ProbeError::Truncated("PNG");
    if b.get(12..16) != Some(b"IHDR") {
        return Err(ProbeError::Malformed("PNG", "the first chunk is not IHDR"));
    }
    let width = be32(b, 16).ok_or(T)?;
    let height = be32(b, 20).ok_or(T)?;
    let color = *b.get(25).ok_or(T)?;
    if width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(ProbeError::Malformed("PNG", "a side above 2^31-1"));
    }
    let mut alpha = matches!(color, 4 | 6);
    let mut frames = 1;
    let mut orientation = 1;
    // Walk the chunks before the image data for tRNS, acTL and eXIf.
    let mut at = 8;
    while let (Some(len), Some(ty)) = (be32(b, at), b.get(at + 4..at + 8)) {
        let len = usize::try_from(len).map_err(|_| T)?;
        if ty == b"IDAT" {
            break;
        }
        let data = b.get(at + 8..at + 8 + len).ok_or(T)?;
        match ty {
            b"tRNS" => alpha = true,
            b"acTL" => frames = be32(data, 0).ok_or(T)?.max(1),
            b"eXIf" => orientation = exif_orientation(data),
            _ => {}
        }
        at += 12 + len;
    }
    Ok(Info {
        format: SourceFormat::Png,
        width,
        height,
        frames,
        alpha,
        orientation,
        progressive: false,
    })
}

fn webp(b: &[u8]) -> Result<Info, ProbeError> {
    const T: ProbeError = ProbeError::Truncated("WebP");
    let ty = b.get(12..16).ok_or(T)?;
    let data = b.get(20..).ok_or(T)?;
    let info = |width, height, frames, alpha, orientation| Info {
        format: SourceFormat::Webp,
        width,
        height,
        frames,
        alpha,
        orientation,
        progressive: false,
    };
    match ty {
        b"VP8 " => {
            if data.get(3..6) != Some(&[0x9d, 0x01, 0x2a]) {
                return Err(ProbeError::Malformed("WebP", "no VP8 start code"));
            }
            let w = u32::from(be16(&[data.get(7).copied().ok_or(T)?, data[6]], 0).ok_or(T)?);
            let h = u32::from(be16(&[data.get(9).copied().ok_or(T)?, data[8]], 0).ok_or(T)?);
            Ok(info(w & 0x3fff, h & 0x3fff, 1, false, 1))
        }
        b"VP8L" => {
            if data.first() != Some(&0x2f) {
                return Err(ProbeError::Malformed("WebP", "no VP8L signature"));
            }
            let bits = le32(data, 1).ok_or(T)?;
            let w = (bits & 0x3fff) + 1;
            let h = ((bits >> 14) & 0x3fff) + 1;
            Ok(info(w, h, 1, bits >> 28 & 1 == 1, 1))
        }
        b"VP8X" => {
            let flags = *data.first().ok_or(T)?;
            let w = le24(data, 4).ok_or(T)? + 1;
            let h = le24(data, 7).ok_or(T)? + 1;
            let animated = flags & 0x02 != 0;
            let mut frames = 0u32;
            let mut orientation = 1;
            // Walk the RIFF chunks: count frames, find EXIF.
            let mut at = 12;
            while let (Some(ty), Some(len)) = (b.get(at..at + 4), le32(b, at + 4)) {
                let len = usize::try_from(len).map_err(|_| T)?;
                let body = b.get(at + 8..at + 8 + len);
                match ty {
                    b"ANMF" => frames = frames.saturating_add(1),
                    b"EXIF" => {
                        if let Some(body) = body {
                            orientation =
                                exif_orientation(body.strip_prefix(b"Exif\0\0").unwrap_or(body));
                        }
                    }
                    _ => {}
                }
                // Chunks are padded to an even length.
                at = at
                    .saturating_add(8)
                    .saturating_add(len)
                    .saturating_add(len & 1);
            }
            if animated && frames == 0 {
                return Err(ProbeError::Malformed("WebP", "an animation without frames"));
            }
            Ok(info(w, h, frames.max(1), flags & 0x10 != 0, orientation))
        }
        _ => Err(ProbeError::Malformed("WebP", "unknown first chunk")),
    }
}

/// Boxes in `b`: (type, body).
fn boxes(b: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let size = usize::try_from(be32(b, at)?).ok()?;
        let ty = b.get(at + 4..at + 8)?;
        let (header, size) = match size {
            0 => (8, b.len() - at),
            1 => (
                16,
                usize::try_from(u64::from(be32(b, at + 8)?) << 32 | u64::from(be32(b, at + 12)?))
                    .ok()?,
            ),
            s => (8, s),
        };
        if size < header {
            return None;
        }
        let body = b.get(at + header..at.checked_add(size)?)?;
        at += size;
        Some((ty, body))
    })
}

fn avif(b: &[u8]) -> Result<Info, ProbeError> {
    const T: ProbeError = ProbeError::Truncated("AVIF");
    let (_, ftyp) = boxes(b).next().ok_or(T)?;
    let brands: Vec<&[u8]> = ftyp
        .chunks(4)
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, c)| c)
        .collect();
    if !brands.iter().any(|c| *c == b"avif" || *c == b"avis") {
        return Err(ProbeError::Unknown);
    }
    let animated = brands.first() == Some(&&b"avis"[..]);
    let meta = boxes(b).find(|(t, _)| *t == b"meta").ok_or(T)?.1;
    // `meta` is a full box: version and flags first.
    let iprp = boxes(meta.get(4..).ok_or(T)?)
        .find(|(t, _)| *t == b"iprp")
        .ok_or(T)?
        .1;
    let ipco = boxes(iprp).find(|(t, _)| *t == b"ipco").ok_or(T)?.1;
    let mut size: Option<(u32, u32)> = None;
    let mut alpha = false;
    for (t, body) in boxes(ipco) {
        match t {
            b"ispe" => {
                let w = be32(body, 4).ok_or(T)?;
                let h = be32(body, 8).ok_or(T)?;
                // The largest item (a grid's output is at least as large as its tiles).
                if size.is_none_or(|(sw, sh)| {
                    u64::from(w) * u64::from(h) > u64::from(sw) * u64::from(sh)
                }) {
                    size = Some((w, h));
                }
            }
            b"auxC" => alpha |= body.windows(5).any(|w| w == b"alpha"),
            _ => {}
        }
    }
    let (width, height) = size.ok_or(ProbeError::Malformed("AVIF", "no image size (ispe)"))?;
    if animated {
        return Err(ProbeError::Malformed(
            "AVIF",
            "animated AVIF sequences are not read",
        ));
    }
    Ok(Info {
        format: SourceFormat::Avif,
        width,
        height,
        frames: 1,
        alpha,
        orientation: 1,
        progressive: false,
    })
}

fn gif(b: &[u8]) -> Result<Info, ProbeError> {
    const T: ProbeError = ProbeError::Truncated("GIF");
    let width = u32::from(u16::from_le_bytes(
        b.get(6..8).ok_or(T)?.try_into().map_err(|_| T)?,
    ));
    let height = u32::from(u16::from_le_bytes(
        b.get(8..10).ok_or(T)?.try_into().map_err(|_| T)?,
    ));
    Ok(Info {
        format: SourceFormat::Gif,
        width,
        height,
        frames: 1,
        alpha: true,
        orientation: 1,
        progressive: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_header(w: u32, h: u32, color: u8, extra: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |ty: &[u8; 4], data: &[u8]| {
            v.extend_from_slice(&u32::try_from(data.len()).unwrap_or(0).to_be_bytes());
            v.extend_from_slice(ty);
            v.extend_from_slice(data);
            v.extend_from_slice(&[0; 4]);
        };
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, color, 0, 0, 0]);
        chunk(b"IHDR", &ihdr);
        for (ty, data) in extra {
            chunk(ty, data);
        }
        chunk(b"IDAT", &[]);
        v
    }

    #[test]
    fn png_dimensions_alpha_and_animation_frames() {
        let i = probe(&png_header(300, 200, 2, &[])).expect("png");
        assert_eq!((i.width, i.height, i.frames, i.alpha), (300, 200, 1, false));
        let i = probe(&png_header(3, 2, 6, &[])).expect("png");
        assert!(i.alpha);
        let i = probe(&png_header(3, 2, 2, &[(b"tRNS", &[0, 0])])).expect("png");
        assert!(i.alpha);
        let actl = [0, 0, 0, 120, 0, 0, 0, 0];
        let i = probe(&png_header(1000, 1000, 2, &[(b"acTL", &actl)])).expect("apng");
        assert_eq!(i.frames, 120);
        assert_eq!(i.pixels(), 120_000_000);
    }

    #[test]
    fn a_png_claiming_absurd_sides_is_read_without_allocating() {
        let i = probe(&png_header(1 << 30, 1 << 30, 2, &[])).expect("header");
        assert_eq!(i.pixels(), 1 << 60);
        assert!(probe(&png_header(u32::MAX, 1, 2, &[])).is_err());
    }

    #[test]
    fn jpeg_frame_header_and_orientation() {
        // SOI, APP0 (JFIF), SOF0 4000x3000.
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0];
        j.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8, 0x0B, 0xB8, 0x0F, 0xA0, 1, 1, 0x11, 0]);
        let i = probe(&j).expect("jpeg");
        assert_eq!((i.width, i.height, i.orientation), (4000, 3000, 1));
        // A deferred height and a truncated segment are refused.
        let mut dnl = j.clone();
        dnl[13] = 0;
        dnl[14] = 0;
        assert!(probe(&dnl).is_err());
        assert_eq!(probe(&j[..10]), Err(ProbeError::Truncated("JPEG")));
    }

    #[test]
    fn webp_headers_of_each_kind() {
        let riff = |chunk: &[u8; 4], body: &[u8]| {
            let mut v = b"RIFF\0\0\0\0WEBP".to_vec();
            v.extend_from_slice(chunk);
            v.extend_from_slice(&u32::try_from(body.len()).unwrap_or(0).to_le_bytes());
            v.extend_from_slice(body);
            v
        };
        // VP8X: alpha, 16384 x 16384 canvas.
        let x = riff(b"VP8X", &[0x10, 0, 0, 0, 0xff, 0x3f, 0, 0xff, 0x3f, 0]);
        let i = probe(&x).expect("vp8x");
        assert_eq!((i.width, i.height, i.alpha), (16384, 16384, true));
        // VP8L 100 x 50 with alpha.
        let bits: u32 = 99 | (49 << 14) | (1 << 28);
        let mut l = vec![0x2f];
        l.extend_from_slice(&bits.to_le_bytes());
        let i = probe(&riff(b"VP8L", &l)).expect("vp8l");
        assert_eq!((i.width, i.height, i.alpha), (100, 50, true));
        // An animation flag without frames.
        let anim = riff(b"VP8X", &[0x02, 0, 0, 0, 9, 0, 0, 9, 0, 0]);
        assert!(probe(&anim).is_err());
    }

    /// An ISOBMFF box.
    fn bx(ty: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = u32::try_from(body.len() + 8)
            .unwrap_or(0)
            .to_be_bytes()
            .to_vec();
        v.extend_from_slice(ty);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn avif_sizes_come_from_ispe_and_bombs_are_seen() {
        let ispe = |w: u32, h: u32| {
            let mut b = vec![0u8; 4];
            b.extend_from_slice(&w.to_be_bytes());
            b.extend_from_slice(&h.to_be_bytes());
            bx(b"ispe", &b)
        };
        let avif = |props: Vec<u8>| {
            let mut f = bx(b"ftyp", b"avif\0\0\0\0mif1avif");
            let mut meta = vec![0u8; 4];
            meta.extend(bx(b"iprp", &bx(b"ipco", &props)));
            f.extend(bx(b"meta", &meta));
            f
        };
        let i = probe(&avif(ispe(640, 480))).expect("avif");
        assert_eq!(
            (i.format, i.width, i.height),
            (SourceFormat::Avif, 640, 480)
        );
        // A grid: the largest item counts.
        let mut two = ispe(512, 512);
        two.extend(ispe(100_000, 100_000));
        assert_eq!(probe(&avif(two)).expect("avif").pixels(), 10_000_000_000);
        // A box claiming more than there is ends the walk: no size, an error.
        let mut liar = avif(ispe(1, 1));
        let at = liar.len() - 20 - 8 - 8;
        liar[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(probe(&liar).is_err());
    }

    #[test]
    fn garbage_is_not_an_image() {
        assert_eq!(probe(b"hello"), Err(ProbeError::Unknown));
        assert_eq!(probe(&[]), Err(ProbeError::Unknown));
    }
}
