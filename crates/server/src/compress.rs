//! Compressed variants of compressible files (CSS, JS, HTML, JSON, SVG): zstd, brotli or gzip as
//! the client's `Accept-Encoding` prefers, made once per file and coding and kept in a bounded
//! cache. Encoded media (JPEG, MP4, ...) is never compressed, and a request with `Range` gets the
//! identity encoding so byte positions keep their meaning.

use std::io::Write;

use bytes::Bytes;
use hyper::header::{self, HeaderMap};
use quick_cache::sync::Cache;
use quick_cache::Weighter;
use tinycdn_core::FileId;
use tinycdn_http::negotiate::{choose, compressible, Coding};

use crate::respond::header_str;

/// Largest file compressed on the fly.
pub const MAX_SIZE: u64 = 8 << 20;
/// Smallest file worth compressing.
pub const MIN_SIZE: u64 = 256;
/// Codings offered, in the server's order of preference.
pub const OFFERED: [Coding; 3] = [Coding::Zstd, Coding::Br, Coding::Gzip];

/// Compresses `data` with `coding`.
///
/// # Errors
/// The encoder's I/O error.
pub fn encode(coding: Coding, data: &[u8]) -> std::io::Result<Vec<u8>> {
    match coding {
        Coding::Zstd => zstd::bulk::compress(data, 12),
        Coding::Br => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 64 * 1024, 9, 22);
                w.write_all(data)?;
            }
            Ok(out)
        }
        Coding::Gzip => {
            let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            w.write_all(data)?;
            w.finish()
        }
    }
}

/// Which coding to send, if any, for this request and representation.
#[must_use]
pub fn negotiate(req: &HeaderMap, media_type: &str, len: u64) -> Option<Coding> {
    if !compressible(media_type)
        || !(MIN_SIZE..=MAX_SIZE).contains(&len)
        || req.contains_key(header::RANGE)
    {
        return None;
    }
    choose(header_str(req, header::ACCEPT_ENCODING), &OFFERED)
}

#[derive(Debug, Clone, Copy)]
struct ByteWeight;

impl Weighter<(FileId, u8), Bytes> for ByteWeight {
    fn weight(&self, _: &(FileId, u8), v: &Bytes) -> u64 {
        (v.len() as u64).max(1)
    }
}

/// A bounded cache of compressed variants.
pub struct Variants {
    cache: Cache<(FileId, u8), Bytes, ByteWeight>,
}

impl std::fmt::Debug for Variants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variants")
            .field("bytes", &self.cache.weight())
            .finish()
    }
}

impl Variants {
    /// A cache of at most `bytes` of compressed variants.
    #[must_use]
    pub fn new(bytes: u64) -> Self {
        Self {
            cache: Cache::with_weighter(1024, bytes.max(1), ByteWeight),
        }
    }

    /// The `coding` variant of file `id`, compressing what `load` returns (the verified identity
    /// bytes) on a blocking thread the first time; concurrent requests share one compression.
    ///
    /// # Errors
    /// `load`'s error, or the encoder's.
    pub async fn get<F>(&self, id: FileId, coding: Coding, load: F) -> std::io::Result<Bytes>
    where
        F: std::future::Future<Output = std::io::Result<Bytes>>,
    {
        let key = (id, coding as u8);
        self.cache
            .get_or_insert_async(&key, async {
                let plain = load.await?;
                tokio::task::spawn_blocking(move || encode(coding, &plain).map(Bytes::from))
                    .await
                    .map_err(|e| std::io::Error::other(e.to_string()))?
            })
            .await
    }
}

/// Marks a compressible representation as varying by `Accept-Encoding`.
pub fn add_vary(rep: &mut crate::respond::Representation) {
    if compressible(&rep.media_type) {
        rep.extra.push(("vary", "accept-encoding".into()));
    }
}

/// The representation of the `coding` variant (`len` bytes) of `rep`: its own strong entity tag,
/// `Content-Encoding` and `Vary`.
#[must_use]
pub fn variant(
    rep: &crate::respond::Representation,
    coding: Coding,
    len: u64,
) -> crate::respond::Representation {
    let mut v = rep.clone();
    v.etag = tinycdn_http::EntityTag::strong(format!("{}.{}", rep.etag.tag, coding.token()));
    v.len = len;
    v.extra.push(("content-encoding", coding.token().into()));
    add_vary(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_coding_round_trips() {
        let data = "body { margin: 0 } ".repeat(500);
        for c in OFFERED {
            let z = encode(c, data.as_bytes()).expect("encode");
            assert!(z.len() < data.len() / 4, "{c:?}");
            let back = match c {
                Coding::Zstd => zstd::bulk::decompress(&z, data.len()).expect("zstd"),
                Coding::Br => {
                    let mut out = Vec::new();
                    brotli::BrotliDecompress(&mut &z[..], &mut out).expect("br");
                    out
                }
                Coding::Gzip => {
                    let mut out = Vec::new();
                    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&z[..]), &mut out)
                        .expect("gzip");
                    out
                }
            };
            assert_eq!(back, data.as_bytes());
        }
    }

    #[test]
    fn only_whole_compressible_responses_are_encoded() {
        let mut req = HeaderMap::new();
        req.insert(header::ACCEPT_ENCODING, "gzip, br".parse().expect("value"));
        assert_eq!(negotiate(&req, "text/css", 10_000), Some(Coding::Br));
        assert_eq!(negotiate(&req, "image/jpeg", 10_000), None);
        assert_eq!(negotiate(&req, "text/css", 10), None);
        req.insert(header::RANGE, "bytes=0-1".parse().expect("value"));
        assert_eq!(negotiate(&req, "text/css", 10_000), None);
    }
}
