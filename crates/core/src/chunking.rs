//! Content-defined chunking (FastCDC 2020) as a pure function over buffers.
//!
//! The chunker never reads a file: the caller hands it the bytes it has buffered and says whether the
//! input has ended, and it answers with the length of the next chunk or asks for more bytes. A cut
//! depends only on at most `max` bytes from the chunk start, so streaming with a buffer of `max` bytes
//! gives exactly the cuts that chunking the whole input in memory gives.

use fastcdc::v2020::{self, Normalization};
use thiserror::Error;

/// Minimum, average and maximum chunk sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkParams {
    /// No chunk (except a file's last) is shorter than this.
    pub min: u32,
    /// The size FastCDC aims for.
    pub avg: u32,
    /// No chunk is longer than this.
    pub max: u32,
}

impl ChunkParams {
    /// The sizes tinycdn publishes with: 64 KiB / 256 KiB / 1 MiB, chosen by measurement on media
    /// (see `BENCHMARKS.md`, "Choosing chunk sizes"): media barely dedups below whole-file granularity
    /// except across versions of the same file, where 256 KiB chunks keep nearly all of the reuse
    /// that 64 KiB chunks find while cutting the number of objects (and requests) by four.
    pub const DEFAULT: ChunkParams = ChunkParams {
        min: 64 * 1024,
        avg: 256 * 1024,
        max: 1024 * 1024,
    };
}

/// Chunk sizes outside what FastCDC supports.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid chunk sizes min={min} avg={avg} max={max}: need {min_lo}<=min<=avg<=max<={max_hi}, avg>={avg_lo}, max even")]
#[non_exhaustive]
pub struct ChunkParamsError {
    min: u32,
    avg: u32,
    max: u32,
    min_lo: usize,
    avg_lo: usize,
    max_hi: usize,
}

/// A FastCDC 2020 chunker with fixed parameters (normalization level 1, the default gear table).
#[derive(Debug, Clone)]
pub struct Chunker {
    params: ChunkParams,
    mask_s: u64,
    mask_l: u64,
}

impl Chunker {
    /// Builds a chunker, checking the sizes against FastCDC's limits.
    ///
    /// # Errors
    /// If the sizes are out of range or not ordered.
    pub fn new(params: ChunkParams) -> Result<Self, ChunkParamsError> {
        let (min, avg, max) = (
            params.min as usize,
            params.avg as usize,
            params.max as usize,
        );
        let ok = (v2020::MINIMUM_MIN..=v2020::MINIMUM_MAX).contains(&min)
            && (v2020::AVERAGE_MIN..=v2020::AVERAGE_MAX).contains(&avg)
            && (v2020::MAXIMUM_MIN..=v2020::MAXIMUM_MAX).contains(&max)
            && min <= avg
            && avg <= max
            && max % 2 == 0;
        if !ok {
            return Err(ChunkParamsError {
                min: params.min,
                avg: params.avg,
                max: params.max,
                min_lo: v2020::MINIMUM_MIN,
                avg_lo: v2020::AVERAGE_MIN,
                max_hi: v2020::MAXIMUM_MAX,
            });
        }
        let (mask_s, mask_l) = v2020::select_masks(avg, Normalization::Level1);
        Ok(Self {
            params,
            mask_s,
            mask_l,
        })
    }

    /// The parameters this chunker cuts with.
    #[must_use]
    pub fn params(&self) -> ChunkParams {
        self.params
    }

    /// The length of the next chunk at the start of `buf`, or `None` when more bytes are needed.
    ///
    /// `eof` says that `buf` holds everything that is left of the input. Returns `None` for an empty
    /// buffer at the end of input.
    #[must_use]
    pub fn next_chunk_len(&self, buf: &[u8], eof: bool) -> Option<usize> {
        if buf.is_empty() {
            return None;
        }
        let max = self.params.max as usize;
        if buf.len() < max && !eof {
            return None;
        }
        let window = &buf[..buf.len().min(max)];
        let (_, len) = v2020::cut(
            window,
            self.params.min as usize,
            self.params.avg as usize,
            max,
            self.mask_s,
            self.mask_l,
            self.mask_s << 1,
            self.mask_l << 1,
        );
        Some(len)
    }

    /// Splits bytes held in memory into chunks.
    pub fn chunks<'a>(&'a self, data: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut rest = data;
        std::iter::from_fn(move || {
            let len = self.next_chunk_len(rest, true)?;
            let (chunk, tail) = rest.split_at(len);
            rest = tail;
            Some(chunk)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn small() -> Chunker {
        Chunker::new(ChunkParams {
            min: 256,
            avg: 1024,
            max: 4096,
        })
        .expect("valid")
    }

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn default_params_are_valid() {
        assert!(Chunker::new(ChunkParams::DEFAULT).is_ok());
    }

    #[test]
    fn rejects_disordered_params() {
        let bad = ChunkParams {
            min: 8192,
            avg: 4096,
            max: 65536,
        };
        assert!(Chunker::new(bad).is_err());
    }

    #[test]
    fn asks_for_more_until_max_or_eof() {
        let c = small();
        let data = pseudo_random(100, 1);
        assert_eq!(c.next_chunk_len(&data, false), None);
        assert_eq!(c.next_chunk_len(&data, true), Some(100));
        assert_eq!(c.next_chunk_len(&[], true), None);
    }

    #[test]
    fn an_insertion_only_changes_nearby_chunks() {
        let c = small();
        let a = pseudo_random(200_000, 7);
        let mut b = a.clone();
        b.splice(100_000..100_000, b"inserted bytes".iter().copied());
        let ca: std::collections::HashSet<_> = c.chunks(&a).map(ChunkId::of).collect();
        let cb: Vec<_> = c.chunks(&b).map(ChunkId::of).collect();
        let shared = cb.iter().filter(|id| ca.contains(id)).count();
        assert!(
            shared + 3 >= cb.len(),
            "only chunks near the edit may change: {shared} of {}",
            cb.len()
        );
    }

    use crate::ChunkId;

    proptest! {
        #[test]
        fn streaming_matches_in_memory(len in 0usize..40_000, seed in any::<u64>(), step in 1usize..9000) {
            let c = small();
            let data = pseudo_random(len, seed);
            let whole: Vec<usize> = c.chunks(&data).map(<[u8]>::len).collect();
            // Feed the data in `step`-sized reads, as a file reader would.
            let mut buf: Vec<u8> = Vec::new();
            let mut fed = 0;
            let mut streamed = Vec::new();
            loop {
                let eof = fed == data.len();
                match c.next_chunk_len(&buf, eof) {
                    Some(n) => { streamed.push(n); buf.drain(..n); }
                    None if eof => break,
                    None => {
                        let end = (fed + step).min(data.len());
                        buf.extend_from_slice(&data[fed..end]);
                        fed = end;
                    }
                }
            }
            prop_assert_eq!(&streamed, &whole);
            prop_assert_eq!(whole.iter().sum::<usize>(), len);
            for (i, n) in whole.iter().enumerate() {
                prop_assert!(*n <= 4096);
                if i + 1 < whole.len() { prop_assert!(*n >= 256); }
            }
        }
    }
}
