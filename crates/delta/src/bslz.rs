//! bsdiff matching with a stronger back end: qbsdiff's suffix-array matcher finds the copies, and
//! its three streams are re-encoded (varint controls, long zero runs of the difference stream cut
//! out as lengths, each stream LZMA2-compressed) instead of bsdiff 4's bzip2 sections.
//!
//! The difference stream of a bsdiff patch is mostly zeros (bytes that match exactly). Long zero
//! runs become lengths, which cost nothing and let the patcher copy those bytes from the base with
//! `memcpy`; short ones stay in the stream, where LZMA2 (literal context bits 0, as suits deltas)
//! models them better than bzip2 or zstd do (measured on the libvips pair: 60.7 KB against
//! bzip2's 64.5 KB and zstd -19's 71.5 KB).
//!
//! # Payload
//! ```text
//! for each of 4 streams (control, runs, rest, extra): varint block count (1..=64), then per block
//! varint raw length, varint packed length (0: stored, the raw bytes follow uncompressed); then
//! every block's raw LZMA2 data in that order
//! (blocks of one stream are compressed in parallel and concatenate to the stream)
//! control: (add, copy, seek) per step; add and copy as varints, seek zigzag-encoded
//! runs:    (other, zeros) pairs of varints covering the difference bytes in order
//! rest:    the difference bytes outside the long zero runs
//! extra:   bytes of the target copied verbatim
//! ```

use std::io::Read;

use crate::DeltaError;

const NAME: &str = "bsdiff+lzma";
/// Zero runs at least this long become lengths.
const ZERO_RUN: usize = 1024;
/// Largest LZMA2 dictionary used (bounds the patcher's memory).
const MAX_DICT: usize = 8 << 20;
/// Smallest block a stream is split into for parallel compression.
const MIN_BLOCK: usize = 4 << 20;
/// Most blocks a stream may have.
const MAX_BLOCKS: u64 = 64;

fn corrupt(why: impl Into<String>) -> DeltaError {
    DeltaError::Corrupt {
        method: NAME,
        why: why.into(),
    }
}

fn put_varint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

/// Reads varints from a byte stream.
struct Varints<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Varints<'_> {
    fn next(&mut self, what: &str) -> Result<u64, DeltaError> {
        let mut x = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self
                .bytes
                .get(self.at)
                .ok_or_else(|| corrupt(format!("the {what} stream ends early")))?;
            self.at += 1;
            if shift == 63 && b > 1 {
                return Err(corrupt(format!("a {what} number overflows")));
            }
            x |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(x);
            }
        }
        Err(corrupt(format!("a {what} number overflows")))
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }
}

fn bsdiff_int(b: &[u8]) -> i64 {
    crate::bsdiff_int(b)
}

fn bunzip(section: &[u8], limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    bzip2::read::BzDecoder::new(section)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)?;
    Ok(out)
}

fn filters(raw_len: usize) -> Result<liblzma::stream::Filters, liblzma::stream::Error> {
    let dict = raw_len.next_power_of_two().clamp(4096, MAX_DICT);
    let mut opts = liblzma::stream::LzmaOptions::new_preset(9 | liblzma::stream::PRESET_EXTREME)?;
    opts.dict_size(u32::try_from(dict).unwrap_or(u32::MAX))
        .literal_context_bits(0)
        .literal_position_bits(0)
        .position_bits(0);
    let mut f = liblzma::stream::Filters::new();
    f.lzma2(&opts);
    Ok(f)
}

fn pack(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let stream = liblzma::stream::Stream::new_raw_encoder(&filters(data.len())?)?;
    let mut enc = liblzma::write::XzEncoder::new_stream(Vec::new(), stream);
    std::io::Write::write_all(&mut enc, data)?;
    enc.finish()
}

/// Builds the payload from `base` to `target`.
pub(crate) fn create(base: &[u8], target: &[u8]) -> std::io::Result<Vec<u8>> {
    // qbsdiff's matcher, with the fastest bzip2 level: its sections are decoded right away.
    let mut patch = Vec::new();
    // One search job per core: qbsdiff's default of 512 KiB jobs adds a reset step per job.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    qbsdiff::Bsdiff::new(base, target)
        .parallel_scheme(qbsdiff::ParallelScheme::NumJobs(threads))
        .compression_level(1)
        .compare(std::io::Cursor::new(&mut patch))?;
    let (c, d) = (
        usize::try_from(bsdiff_int(&patch[8..16])).map_err(std::io::Error::other)?,
        usize::try_from(bsdiff_int(&patch[16..24])).map_err(std::io::Error::other)?,
    );
    let controls = bunzip(&patch[32..32 + c], usize::MAX - 1)?;
    let diff = bunzip(&patch[32 + c..32 + c + d], target.len())?;
    let extra = bunzip(&patch[32 + c + d..], target.len())?;
    drop(patch);

    let mut control = Vec::new();
    for step in controls.chunks_exact(24) {
        let (add, copy, seek) = (
            bsdiff_int(&step[0..8]),
            bsdiff_int(&step[8..16]),
            bsdiff_int(&step[16..24]),
        );
        put_varint(
            &mut control,
            u64::try_from(add).map_err(std::io::Error::other)?,
        );
        put_varint(
            &mut control,
            u64::try_from(copy).map_err(std::io::Error::other)?,
        );
        put_varint(&mut control, ((seek << 1) ^ (seek >> 63)) as u64);
    }
    let (mut runs, mut rest) = (Vec::new(), Vec::new());
    let (mut start, mut i) = (0, 0);
    while i < diff.len() {
        if diff[i] != 0 {
            i += 1;
            continue;
        }
        let zeros = diff[i..].iter().take_while(|b| **b == 0).count();
        if zeros >= ZERO_RUN {
            rest.extend_from_slice(&diff[start..i]);
            put_varint(&mut runs, (i - start) as u64);
            put_varint(&mut runs, zeros as u64);
            start = i + zeros;
        }
        i += zeros;
    }
    if start < diff.len() {
        rest.extend_from_slice(&diff[start..]);
        put_varint(&mut runs, (diff.len() - start) as u64);
        put_varint(&mut runs, 0);
    }
    let streams = [control, runs, rest, extra];
    let mut blocks: Vec<Vec<&[u8]>> = Vec::new();
    for s in &streams {
        let n = s
            .len()
            .div_ceil(MIN_BLOCK)
            .clamp(1, threads.min(MAX_BLOCKS as usize));
        let size = s.len().div_ceil(n).max(1);
        let mut b: Vec<&[u8]> = s.chunks(size).collect();
        if b.is_empty() {
            b.push(&[]);
        }
        blocks.push(b);
    }
    let packed: Vec<Vec<std::io::Result<Vec<u8>>>> = std::thread::scope(|scope| {
        let handles: Vec<Vec<_>> = blocks
            .iter()
            .map(|bs| bs.iter().map(|b| scope.spawn(move || pack(b))).collect())
            .collect();
        handles
            .into_iter()
            .map(|hs| {
                hs.into_iter()
                    .map(|h| match h.join() {
                        Ok(r) => r,
                        Err(panic) => std::panic::resume_unwind(panic),
                    })
                    .collect()
            })
            .collect()
    });
    let mut head = Vec::new();
    let mut body = Vec::new();
    for (bs, ps) in blocks.iter().zip(packed) {
        put_varint(&mut head, bs.len() as u64);
        for (b, p) in bs.iter().zip(ps) {
            let p = p?;
            put_varint(&mut head, b.len() as u64);
            if p.len() < b.len() {
                put_varint(&mut head, p.len() as u64);
                body.extend_from_slice(&p);
            } else {
                // Stored: a packed length of 0 (an LZMA2 stream is never empty) means raw bytes.
                put_varint(&mut head, 0);
                body.extend_from_slice(b);
            }
        }
    }
    head.extend_from_slice(&body);
    Ok(head)
}

fn unpack(packed: &[u8], raw_len: usize, what: &str) -> Result<Vec<u8>, DeltaError> {
    let bad = |e: &dyn std::fmt::Display| corrupt(format!("{what}: {e}"));
    let stream = liblzma::stream::Stream::new_raw_decoder(&filters(raw_len).map_err(|e| bad(&e))?)
        .map_err(|e| bad(&e))?;
    let mut out = Vec::with_capacity(raw_len);
    liblzma::read::XzDecoder::new_stream(packed, stream)
        .take(raw_len as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| bad(&e))?;
    if out.len() != raw_len {
        return Err(corrupt(format!("{what}: not the declared length")));
    }
    Ok(out)
}

/// Applies a payload to `base`, appending at most `target_size` bytes to `out`.
pub(crate) fn apply(
    base: &[u8],
    payload: &[u8],
    target_size: usize,
    out: &mut Vec<u8>,
) -> Result<(), DeltaError> {
    let mut header = Varints {
        bytes: payload,
        at: 0,
    };
    // Streams never need to be longer than this for a target of this size.
    let bounds = [
        target_size.saturating_mul(4).saturating_add(1 << 20),
        target_size.saturating_mul(4).saturating_add(1 << 20),
        target_size,
        target_size,
    ];
    let mut lens: Vec<Vec<(usize, usize)>> = Vec::with_capacity(4);
    for bound in bounds {
        let count = header.next("header")?;
        if !(1..=MAX_BLOCKS).contains(&count) {
            return Err(corrupt("a stream has no blocks or too many"));
        }
        let mut total = 0usize;
        let mut blocks = Vec::new();
        for _ in 0..count {
            let raw = usize::try_from(header.next("header")?).unwrap_or(usize::MAX);
            let packed = usize::try_from(header.next("header")?).unwrap_or(usize::MAX);
            total = total
                .checked_add(raw)
                .filter(|t| *t <= bound)
                .ok_or_else(|| corrupt("a stream is longer than the target allows"))?;
            blocks.push((raw, packed));
        }
        lens.push(blocks);
    }
    let mut at = header.at;
    let mut streams: Vec<Vec<u8>> = Vec::with_capacity(4);
    for (blocks, what) in lens.into_iter().zip(["control", "runs", "rest", "extra"]) {
        let mut stream = Vec::new();
        for (raw, packed) in blocks {
            if packed == 0 {
                let end = at
                    .checked_add(raw)
                    .filter(|e| *e <= payload.len())
                    .ok_or_else(|| corrupt("a stored block is longer than the payload"))?;
                stream.extend_from_slice(&payload[at..end]);
                at = end;
                continue;
            }
            let end = at
                .checked_add(packed)
                .filter(|e| *e <= payload.len())
                .ok_or_else(|| corrupt("a stream is longer than the payload"))?;
            stream.extend_from_slice(&unpack(&payload[at..end], raw, what)?);
            at = end;
        }
        streams.push(stream);
    }
    if at != payload.len() {
        return Err(corrupt("bytes after the last stream"));
    }
    let mut control = Varints {
        bytes: &streams[0],
        at: 0,
    };
    let mut runs = Varints {
        bytes: &streams[1],
        at: 0,
    };
    let (rest, extra) = (&streams[2], &streams[3]);
    let (mut rest_at, mut extra_at) = (0usize, 0usize);
    let (mut other, mut zeros) = (0u64, 0u64);
    let mut spos: u64 = 0;
    while !control.done() {
        let add = control.next("control")?;
        let copy = control.next("control")?;
        let z = control.next("control")?;
        let seek = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let room = (target_size - out.len()) as u64;
        if add > room || copy > room - add {
            return Err(corrupt("a step writes past the target size"));
        }
        let src_end = spos
            .checked_add(add)
            .filter(|e| *e <= base.len() as u64)
            .ok_or_else(|| corrupt("a step reads past the end of the base"))?;
        let mut s = spos as usize;
        let src_end = src_end as usize;
        while s < src_end {
            if other == 0 && zeros == 0 {
                other = runs.next("runs")?;
                zeros = runs.next("runs")?;
                if other == 0 && zeros == 0 {
                    return Err(corrupt("an empty run"));
                }
            }
            let want = (src_end - s) as u64;
            if other > 0 {
                let n = other.min(want) as usize;
                let d = rest
                    .get(rest_at..rest_at + n)
                    .ok_or_else(|| corrupt("the difference stream ends early"))?;
                out.extend(
                    base[s..s + n]
                        .iter()
                        .zip(d)
                        .map(|(b, d)| b.wrapping_add(*d)),
                );
                rest_at += n;
                other -= n as u64;
                s += n;
            } else {
                let n = zeros.min(want) as usize;
                out.extend_from_slice(&base[s..s + n]);
                zeros -= n as u64;
                s += n;
            }
        }
        let copy = copy as usize;
        let e = extra
            .get(extra_at..extra_at + copy)
            .ok_or_else(|| corrupt("the extra stream ends early"))?;
        out.extend_from_slice(e);
        extra_at += copy;
        spos = (src_end as u64)
            .checked_add_signed(seek)
            .ok_or_else(|| corrupt("a step seeks before the start of the base"))?;
    }
    if other != 0 || zeros != 0 || !runs.done() || rest_at != rest.len() || extra_at != extra.len()
    {
        return Err(corrupt("streams hold bytes no step uses"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_overflow_is_refused() {
        let mut b = Vec::new();
        for x in [0, 1, 127, 128, 300, u64::MAX] {
            put_varint(&mut b, x);
        }
        let mut r = Varints { bytes: &b, at: 0 };
        for x in [0, 1, 127, 128, 300, u64::MAX] {
            assert_eq!(r.next("t").expect("varint"), x);
        }
        assert!(r.done());
        let over = [0xff; 10];
        assert!(Varints {
            bytes: &over,
            at: 0
        }
        .next("t")
        .is_err());
    }
}
