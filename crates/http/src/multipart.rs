//! The layout of a `multipart/byteranges` body (RFC 9110 §14.6), computed up front so that the
//! server can announce `Content-Length` and stream each range straight from storage.

use crate::range::ByteRange;

/// One piece of the body: literal bytes or a range of the representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Delimiters and part headers.
    Literal(Vec<u8>),
    /// Bytes of the representation.
    Range(ByteRange),
}

/// A complete multipart body plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartPlan {
    /// The `Content-Type` header value, with the boundary.
    pub content_type: String,
    /// The body, in order.
    pub segments: Vec<Segment>,
    /// Total body length.
    pub content_length: u64,
}

/// Plans the body for `ranges` of a `total`-byte representation of `media_type`. The boundary
/// should be unique per representation (tinycdn derives it from the content hash).
#[must_use]
pub fn plan(ranges: &[ByteRange], total: u64, media_type: &str, boundary: &str) -> MultipartPlan {
    let mut segments = Vec::with_capacity(ranges.len() * 2 + 1);
    let mut length = 0u64;
    for (i, r) in ranges.iter().enumerate() {
        let head = format!(
            "{}--{boundary}\r\nContent-Type: {media_type}\r\nContent-Range: {}\r\n\r\n",
            if i == 0 { "" } else { "\r\n" },
            r.content_range(total)
        );
        length += head.len() as u64 + r.len();
        segments.push(Segment::Literal(head.into_bytes()));
        segments.push(Segment::Range(*r));
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    length += tail.len() as u64;
    segments.push(Segment::Literal(tail.into_bytes()));
    MultipartPlan {
        content_type: format!("multipart/byteranges; boundary={boundary}"),
        segments,
        content_length: length,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_matches_its_length() {
        let data: Vec<u8> = (0..100u8).collect();
        let ranges = [
            ByteRange { start: 0, end: 4 },
            ByteRange { start: 90, end: 99 },
        ];
        let p = plan(&ranges, 100, "video/mp4", "b0undary");
        let mut body = Vec::new();
        for s in &p.segments {
            match s {
                Segment::Literal(b) => body.extend_from_slice(b),
                Segment::Range(r) => {
                    body.extend_from_slice(&data[r.start as usize..=r.end as usize])
                }
            }
        }
        assert_eq!(body.len() as u64, p.content_length);
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(
            "--b0undary\r\nContent-Type: video/mp4\r\nContent-Range: bytes 0-4/100\r\n\r\n"
        ));
        assert!(text.ends_with("\r\n--b0undary--\r\n"));
        assert!(text.contains("Content-Range: bytes 90-99/100"));
    }
}
