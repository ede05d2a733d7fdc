//! Media types for manifest entries: from the file name, confirmed or replaced by the leading bytes
//! for the media formats tinycdn serves most.

/// Sniffs well-known media signatures in the first bytes of a file.
#[must_use]
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    let starts = |sig: &[u8]| head.starts_with(sig);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else if head.len() >= 12 && &head[4..8] == b"ftyp" {
        match &head[8..12] {
            b"avif" | b"avis" => Some("image/avif"),
            b"heic" | b"heix" | b"mif1" => Some("image/heic"),
            b"qt  " => Some("video/quicktime"),
            _ => Some("video/mp4"),
        }
    } else if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("video/webm")
    } else if starts(&[0xFF, 0x0A]) || starts(b"\0\0\0\x0cJXL \r\n\x87\n") {
        Some("image/jxl")
    } else {
        None
    }
}

/// The media type of a file from its name and its first bytes.
///
/// A recognised media signature wins over the extension (a `.jpg` that is really a PNG is served as
/// PNG); otherwise the extension decides, and unknown files are `application/octet-stream`.
#[must_use]
pub fn media_type(path: &str, head: &[u8]) -> String {
    if let Some(t) = sniff(head) {
        return t.to_owned();
    }
    mime_guess::from_path(path)
        .first_raw()
        .unwrap_or("application/octet-stream")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_beats_extension() {
        assert_eq!(media_type("a.jpg", b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(media_type("a.css", b"body{}"), "text/css");
        assert_eq!(
            media_type("clip.bin", b"\0\0\0\x20ftypisom...."),
            "video/mp4"
        );
        assert_eq!(media_type("noext", b"zz"), "application/octet-stream");
    }
}
