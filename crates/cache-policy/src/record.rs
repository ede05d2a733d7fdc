//! The stored response: what the cache keeps of a response besides its body bytes, in a
//! canonical binary encoding for the cache disk.
//!
//! ```text
//! magic "TCDNRSP\n", format u8 = 1
//! key          u32 length, UTF-8        the primary key (effective request URI)
//! variant      u16 count, each: u16 name length, name, u8 present, u32 value length, value
//! status       u16
//! headers      u32 count, each: u16 name length, name (lowercase), u32 value length, value
//! times        u64 request_time, u64 response_time (Unix seconds)
//! invalid      u8 (0 or 1)
//! body         u64 length, [32] BLAKE3, u32 chunk count, each: [32] BLAKE3, u32 length
//! checksum     [32] BLAKE3 of everything before it
//! ```
//! All integers are little-endian. Decoding is strict — bounds on every count and length, header
//! names and values valid, chunk lengths adding up to the body length, nothing after the
//! checksum — so a torn or damaged file is refused whole, and every accepted record re-encodes to
//! the same bytes.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use thiserror::Error;
use tinycdn_core::{ChunkId, FileId};

use crate::freshness::Exchange;

const MAGIC: &[u8; 8] = b"TCDNRSP\n";
const FORMAT: u8 = 1;
/// Longest primary key.
pub const MAX_KEY: usize = 16 << 10;
/// Most header field lines.
pub const MAX_HEADERS: usize = 1024;
/// Longest header value.
pub const MAX_VALUE: usize = 64 << 10;
/// Most `Vary` fields.
pub const MAX_VARY: usize = 64;
/// Most body chunks (16 GiB of 16 KiB chunks).
pub const MAX_CHUNKS: usize = 1 << 20;

/// A stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The primary key.
    pub key: String,
    /// The secondary key: each `Vary` field and the request's normalised value.
    pub variant: Vec<(String, Option<String>)>,
    /// Status.
    pub status: StatusCode,
    /// Stored header fields, in order.
    pub headers: HeaderMap,
    /// When it was requested and received.
    pub exchange: Exchange,
    /// Marked invalid: validate before reuse.
    pub invalid: bool,
    /// The body's length.
    pub body_len: u64,
    /// The body's BLAKE3.
    pub body_hash: FileId,
    /// The body's chunks, in order.
    pub chunks: Vec<(ChunkId, u32)>,
}

/// Why a record did not decode.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordError {
    /// Not a record of this format.
    #[error("not a stored-response record (bad magic or format)")]
    Magic,
    /// The bytes end early.
    #[error("the record is truncated")]
    Truncated,
    /// The checksum does not match: a torn or damaged file.
    #[error("the record's checksum does not match")]
    Checksum,
    /// A count or length is out of bounds, or a name or value is invalid.
    #[error("the record is malformed: {0}")]
    Malformed(&'static str),
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        if self.b.len() < n {
            return Err(RecordError::Truncated);
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, RecordError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, RecordError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, RecordError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
    fn hash(&mut self) -> Result<[u8; 32], RecordError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }
    fn bytes32(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], RecordError> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(RecordError::Malformed(what));
        }
        self.take(n)
    }
    fn text(&mut self, n: usize, what: &'static str) -> Result<String, RecordError> {
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| RecordError::Malformed(what))
    }
}

fn put_u16(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&u16::try_from(v).unwrap_or(u16::MAX).to_le_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&u32::try_from(v).unwrap_or(u32::MAX).to_le_bytes());
}

impl Record {
    /// The canonical encoding. A record that would not decode (a key, header or chunk list past
    /// the bounds) is encoded all the same and refused when read back.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.key.len() + self.chunks.len() * 36);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT);
        put_u32(&mut out, self.key.len());
        out.extend_from_slice(self.key.as_bytes());
        put_u16(&mut out, self.variant.len());
        for (name, value) in &self.variant {
            put_u16(&mut out, name.len());
            out.extend_from_slice(name.as_bytes());
            out.push(u8::from(value.is_some()));
            let v = value.as_deref().unwrap_or("");
            put_u32(&mut out, v.len());
            out.extend_from_slice(v.as_bytes());
        }
        out.extend_from_slice(&self.status.as_u16().to_le_bytes());
        put_u32(&mut out, self.headers.len());
        for (name, value) in &self.headers {
            put_u16(&mut out, name.as_str().len());
            out.extend_from_slice(name.as_str().as_bytes());
            put_u32(&mut out, value.len());
            out.extend_from_slice(value.as_bytes());
        }
        out.extend_from_slice(&self.exchange.request_time.to_le_bytes());
        out.extend_from_slice(&self.exchange.response_time.to_le_bytes());
        out.push(u8::from(self.invalid));
        out.extend_from_slice(&self.body_len.to_le_bytes());
        out.extend_from_slice(self.body_hash.as_bytes());
        put_u32(&mut out, self.chunks.len());
        for (id, len) in &self.chunks {
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(&len.to_le_bytes());
        }
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// Decodes a record, refusing anything that is not exactly a canonical encoding.
    ///
    /// # Errors
    /// [`RecordError`] for bad magic, truncation, a checksum mismatch or malformed contents.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.len() < MAGIC.len() + 1 + 32 {
            return Err(RecordError::Truncated);
        }
        if &bytes[..8] != MAGIC || bytes[8] != FORMAT {
            return Err(RecordError::Magic);
        }
        let (body, sum) = bytes.split_at(bytes.len() - 32);
        if blake3::hash(body).as_bytes() != sum {
            return Err(RecordError::Checksum);
        }
        let mut r = Reader { b: &body[9..] };
        let key_bytes = r.bytes32(MAX_KEY, "key too long")?;
        let key = String::from_utf8(key_bytes.to_vec())
            .map_err(|_| RecordError::Malformed("key not UTF-8"))?;
        let n = usize::from(r.u16()?);
        if n > MAX_VARY {
            return Err(RecordError::Malformed("too many Vary fields"));
        }
        let mut variant = Vec::with_capacity(n);
        for _ in 0..n {
            let len = usize::from(r.u16()?);
            let name = r.text(len, "Vary name not UTF-8")?;
            if HeaderName::from_bytes(name.as_bytes()).map_or(true, |h| h.as_str() != name) {
                return Err(RecordError::Malformed("bad Vary field name"));
            }
            let present = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(RecordError::Malformed("bad presence flag")),
            };
            let value = r.bytes32(MAX_VALUE, "Vary value too long")?;
            let value = String::from_utf8(value.to_vec())
                .map_err(|_| RecordError::Malformed("Vary value not UTF-8"))?;
            if !present && !value.is_empty() {
                return Err(RecordError::Malformed("absent Vary value with content"));
            }
            variant.push((name, present.then_some(value)));
        }
        let status =
            StatusCode::from_u16(r.u16()?).map_err(|_| RecordError::Malformed("bad status"))?;
        let n = r.u32()? as usize;
        if n > MAX_HEADERS {
            return Err(RecordError::Malformed("too many header fields"));
        }
        let mut headers = HeaderMap::with_capacity(n);
        for _ in 0..n {
            let len = usize::from(r.u16()?);
            let name = r.take(len)?;
            let name = HeaderName::from_bytes(name)
                .ok()
                .filter(|h| h.as_str().as_bytes() == name)
                .ok_or(RecordError::Malformed("bad header name"))?;
            let value = r.bytes32(MAX_VALUE, "header value too long")?;
            let value = HeaderValue::from_bytes(value)
                .map_err(|_| RecordError::Malformed("bad header value"))?;
            headers.append(name, value);
        }
        let exchange = Exchange {
            request_time: r.u64()?,
            response_time: r.u64()?,
        };
        let invalid = match r.u8()? {
            0 => false,
            1 => true,
            _ => return Err(RecordError::Malformed("bad invalid flag")),
        };
        let body_len = r.u64()?;
        let body_hash = FileId::from_bytes(r.hash()?);
        let n = r.u32()? as usize;
        if n > MAX_CHUNKS {
            return Err(RecordError::Malformed("too many chunks"));
        }
        let mut chunks = Vec::with_capacity(n.min(4096));
        let mut total = 0u64;
        for _ in 0..n {
            let id = ChunkId::from_bytes(r.hash()?);
            let len = r.u32()?;
            if len == 0 {
                return Err(RecordError::Malformed("empty chunk"));
            }
            total += u64::from(len);
            chunks.push((id, len));
        }
        if total != body_len {
            return Err(RecordError::Malformed("chunk lengths do not add up"));
        }
        if !r.b.is_empty() {
            return Err(RecordError::Malformed("trailing bytes"));
        }
        let record = Self {
            key,
            variant,
            status,
            headers,
            exchange,
            invalid,
            body_len,
            body_hash,
            chunks,
        };
        // Header maps group repeated names: only an encoding in that order is canonical.
        if record.to_bytes() != bytes {
            return Err(RecordError::Malformed("not in canonical order"));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("image/jpeg"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        headers.insert(
            "x-bytes",
            HeaderValue::from_bytes(b"caf\xe9").expect("obs-text"),
        );
        let body = b"hello world";
        Record {
            key: "http://example.com/a?b".into(),
            variant: vec![
                ("accept-encoding".into(), Some("gzip".into())),
                ("accept-language".into(), None),
            ],
            status: StatusCode::OK,
            headers,
            exchange: Exchange {
                request_time: 10,
                response_time: 12,
            },
            invalid: false,
            body_len: body.len() as u64,
            body_hash: FileId::of(body),
            chunks: vec![(ChunkId::of(&body[..5]), 5), (ChunkId::of(&body[5..]), 6)],
        }
    }

    #[test]
    fn round_trip_and_canonical() {
        let r = sample();
        let b = r.to_bytes();
        assert_eq!(Record::from_bytes(&b), Ok(r));
    }

    #[test]
    fn damage_is_refused() {
        let b = sample().to_bytes();
        for i in [0, 9, 20, b.len() / 2, b.len() - 1] {
            let mut bad = b.clone();
            bad[i] ^= 1;
            assert!(Record::from_bytes(&bad).is_err(), "flip at {i}");
        }
        for cut in [0, 8, 40, b.len() - 1] {
            assert!(Record::from_bytes(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(Record::from_bytes(&longer).is_err());
    }

    #[test]
    fn inconsistent_records_are_refused_even_with_a_good_checksum() {
        let mut r = sample();
        r.body_len += 1;
        assert_eq!(
            Record::from_bytes(&r.to_bytes()),
            Err(RecordError::Malformed("chunk lengths do not add up"))
        );
        let mut r = sample();
        r.variant[1].0 = "Accept-Language".into();
        assert!(Record::from_bytes(&r.to_bytes()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = Record::from_bytes(&bytes);
        }

        #[test]
        fn records_round_trip(key in "http://[a-z]{1,10}/[a-z0-9/?=&]{0,40}", status in 200u16..600, rt in 0u64..u64::MAX/2, values in proptest::collection::vec("[ -~]{0,20}", 0..6)) {
            let mut headers = HeaderMap::new();
            for (i, v) in values.iter().enumerate() {
                if let Ok(v) = HeaderValue::from_str(v) {
                    headers.append(format!("x-h{}", i % 3).parse::<HeaderName>().expect("name"), v);
                }
            }
            let r = Record {
                key, variant: vec![("accept".into(), values.first().cloned())],
                status: StatusCode::from_u16(status).expect("status"), headers,
                exchange: Exchange { request_time: rt, response_time: rt + 1 }, invalid: status % 2 == 0,
                body_len: 0, body_hash: FileId::of(b""), chunks: vec![],
            };
            proptest::prop_assert_eq!(Record::from_bytes(&r.to_bytes()), Ok(r));
        }
    }
}
