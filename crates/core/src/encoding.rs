//! Byte-level helpers for tinycdn's canonical binary formats: little-endian integers of explicit
//! width and length-prefixed strings. The reader checks every length against the bytes that remain,
//! so a hostile length can never make it allocate or read past the input.

use crate::DecodeError;

/// Appends fields to a byte vector.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    /// Appends one byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Appends a little-endian u16.
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a little-endian u32.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a little-endian u64.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a little-endian i64.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Appends a string with a u16 byte-length prefix.
    ///
    /// # Panics
    /// If the string is longer than 65535 bytes; callers only write validated names, which are
    /// far shorter.
    pub fn str16(&mut self, s: &str) {
        let len = u16::try_from(s.len()).expect("validated names are shorter than 64 KiB");
        self.u16(len);
        self.bytes(s.as_bytes());
    }
    /// The bytes written.
    #[must_use]
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads fields from a byte slice, failing cleanly on truncation.
#[derive(Debug)]
pub struct Reader<'a> {
    what: &'static str,
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Starts reading `bytes`, naming the structure `what` in errors.
    #[must_use]
    pub fn new(what: &'static str, bytes: &'a [u8]) -> Self {
        Self { what, rest: bytes }
    }
    /// Bytes not read yet.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }
    /// Takes `n` raw bytes.
    ///
    /// # Errors
    /// If fewer remain.
    pub fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated {
                what: self.what,
                field,
                needed: n - self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    /// Takes a fixed-size array.
    ///
    /// # Errors
    /// If fewer bytes remain.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }
    /// Reads and checks the magic bytes and the format version that start every structure.
    ///
    /// # Errors
    /// [`DecodeError::BadMagic`], [`DecodeError::UnsupportedVersion`] or truncation.
    pub fn header(&mut self, magic: &[u8], format: u16) -> Result<(), DecodeError> {
        if self.take("magic", magic.len())? != magic {
            return Err(DecodeError::BadMagic { what: self.what });
        }
        let found = self.u16("format")?;
        if found != format {
            return Err(DecodeError::UnsupportedVersion {
                what: self.what,
                found,
                supported: format,
            });
        }
        Ok(())
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// On truncation.
    pub fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }
    /// Reads a little-endian u16.
    ///
    /// # Errors
    /// On truncation.
    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }
    /// Reads a little-endian u32.
    ///
    /// # Errors
    /// On truncation.
    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }
    /// Reads a little-endian u64.
    ///
    /// # Errors
    /// On truncation.
    pub fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
    /// Reads a little-endian i64.
    ///
    /// # Errors
    /// On truncation.
    pub fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array(field)?))
    }
    /// Reads a u16-length-prefixed UTF-8 string.
    ///
    /// # Errors
    /// On truncation or invalid UTF-8.
    pub fn str16(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let len = usize::from(self.u16(field)?);
        let bytes = self.take(field, len)?;
        std::str::from_utf8(bytes).map_err(|e| DecodeError::Invalid {
            what: self.what,
            field,
            why: format!("not UTF-8: {e}"),
        })
    }
    /// A count of items of at least `min_item_bytes` each, checked against the bytes that remain.
    ///
    /// # Errors
    /// If the count cannot fit in the remaining input.
    pub fn count(
        &mut self,
        field: &'static str,
        min_item_bytes: usize,
    ) -> Result<usize, DecodeError> {
        let n = self.u32(field)? as usize;
        if n.saturating_mul(min_item_bytes) > self.rest.len() {
            return Err(DecodeError::Truncated {
                what: self.what,
                field,
                needed: n.saturating_mul(min_item_bytes) - self.rest.len(),
            });
        }
        Ok(n)
    }
    /// Fails unless the whole input was read.
    ///
    /// # Errors
    /// [`DecodeError::TrailingBytes`].
    pub fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                what: self.what,
                extra: self.rest.len(),
            })
        }
    }
    /// An [`DecodeError::Invalid`] for this structure.
    #[must_use]
    pub fn invalid(&self, field: &'static str, why: impl Into<String>) -> DecodeError {
        DecodeError::Invalid {
            what: self.what,
            field,
            why: why.into(),
        }
    }
}
