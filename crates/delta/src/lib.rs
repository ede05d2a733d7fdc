//! Binary deltas between two versions of a file, for when content-defined chunking cannot find the
//! overlap (recompiled binaries, re-encoded media, rewritten archives).
//!
//! Several methods, because no single one wins everywhere: zstd's patch-from mode (the old file as
//! a reference prefix, a window that covers both files, long-distance matching for large ones —
//! what `zstd --patch-from` does) is fast and strong on data and archives; a suffix-array matcher
//! of the bsdiff family (`qbsdiff`) is several times smaller on executables, and smaller still with
//! its streams re-encoded (bsdiff+lzma). [`create`] runs the methods asked for and keeps the
//! smallest; [`create_auto`] decides by measurement which to run. Each attempt's time is recorded.
//!
//! # Container (`.tdelta`), all integers little-endian
//! ```text
//! magic "TCDNDLT\n", u16 format (1), u8 method (1 zstd patch-from, 2 bsdiff 4, 3 bsdiff+lzma),
//! 32-byte BLAKE3 of the base, u64 base size, 32-byte BLAKE3 of the target, u64 target size,
//! u8 zstd window log (0 for bsdiff), u64 payload length, then exactly that many payload bytes
//! ```
//! [`apply`] checks the base against the header before doing anything, never produces more than
//! the declared target size, and returns bytes only when they hash to the declared target.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

mod bslz;

use thiserror::Error;
use tinycdn_core::encoding::{Reader, Writer};
use tinycdn_core::{DecodeError, FileId};

const MAGIC: &[u8; 8] = b"TCDNDLT\n";
const FORMAT: u16 = 1;
/// Largest target a delta may declare (64 GiB): bigger headers are refused before any allocation.
pub const MAX_TARGET: u64 = 64 << 30;
/// zstd level used for patch-from deltas (as `zstd -19 --patch-from`).
pub const ZSTD_LEVEL: i32 = 19;
/// Combined base and target size above which zstd's long-distance matching is enabled.
const LDM_FROM: usize = 128 << 20;
/// zstd level of the quick probe [`create_auto`] uses to decide whether level 19 is worth it.
const PROBE_LEVEL: i32 = 3;

/// How a delta encodes the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// zstd with the base as reference prefix.
    ZstdPatchFrom,
    /// bsdiff-style suffix-array matching (qbsdiff), as a standard `BSDIFF40` patch that
    /// `bspatch` also applies.
    Bsdiff,
    /// The same matcher, its streams re-encoded with zero runs and LZMA2 (module `bslz`): smaller
    /// than `BSDIFF40`, and applied at memory speed.
    BsdiffLzma,
}

impl Method {
    /// The container's code for this method.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Self::ZstdPatchFrom => 1,
            Self::Bsdiff => 2,
            Self::BsdiffLzma => 3,
        }
    }

    /// The method with this container code.
    #[must_use]
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::ZstdPatchFrom),
            2 => Some(Self::Bsdiff),
            3 => Some(Self::BsdiffLzma),
            _ => None,
        }
    }

    /// A short name (`zstd`, `bsdiff`, `bsdiff+lzma`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::ZstdPatchFrom => "zstd",
            Self::Bsdiff => "bsdiff",
            Self::BsdiffLzma => "bsdiff+lzma",
        }
    }
}

/// A delta failed to build or apply.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DeltaError {
    /// The container is malformed.
    #[error("not a valid delta: {0}")]
    Decode(#[from] DecodeError),
    /// The base given is not the one the delta was made from.
    #[error("this delta is for base {expected} ({expected_size} bytes), not for this file ({actual}, {actual_size} bytes)")]
    WrongBase {
        /// The base the delta names.
        expected: String,
        /// Its size.
        expected_size: u64,
        /// The file given.
        actual: String,
        /// Its size.
        actual_size: u64,
    },
    /// The payload is corrupt or truncated.
    #[error("the delta's {method} payload is corrupt: {why}")]
    Corrupt {
        /// The method.
        method: &'static str,
        /// What went wrong.
        why: String,
    },
    /// The result does not hash to the declared target.
    #[error("the patched bytes do not match the target the delta declares (corrupt delta)")]
    TargetMismatch,
    /// No method was asked for.
    #[error("no delta method to try")]
    NoMethod,
}

/// What a delta declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// How the payload is encoded.
    pub method: Method,
    /// The file the delta applies to.
    pub base: FileId,
    /// Its size.
    pub base_size: u64,
    /// The file the delta produces.
    pub target: FileId,
    /// Its size.
    pub target_size: u64,
    /// zstd's window log (0 for bsdiff).
    pub window_log: u8,
}

/// A delta: header and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// What it declares.
    pub header: Header,
    /// The method's bytes.
    pub payload: Vec<u8>,
}

impl Delta {
    /// The container bytes.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let h = &self.header;
        let mut w = Writer::new();
        w.bytes(MAGIC);
        w.u16(FORMAT);
        w.u8(h.method.code());
        w.bytes(h.base.as_bytes());
        w.u64(h.base_size);
        w.bytes(h.target.as_bytes());
        w.u64(h.target_size);
        w.u8(h.window_log);
        w.u64(self.payload.len() as u64);
        w.bytes(&self.payload);
        w.finish()
    }

    /// Parses the container (the payload is checked when applied).
    ///
    /// # Errors
    /// A malformed header.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DeltaError> {
        let mut r = Reader::new("delta", bytes);
        r.header(MAGIC, FORMAT)?;
        let code = r.u8("method")?;
        let method = match Method::from_code(code) {
            Some(m) => m,
            None => {
                let m = code;
                return Err(r
                    .invalid(
                        "method",
                        format!("{m} is not 1 (zstd), 2 (bsdiff) or 3 (bsdiff+lzma)"),
                    )
                    .into());
            }
        };
        let base = FileId::from_bytes(r.array("base hash")?);
        let base_size = r.u64("base size")?;
        let target = FileId::from_bytes(r.array("target hash")?);
        let target_size = r.u64("target size")?;
        if target_size > MAX_TARGET {
            return Err(r
                .invalid(
                    "target size",
                    format!("{target_size} bytes is more than the {MAX_TARGET} allowed"),
                )
                .into());
        }
        let window_log = r.u8("window log")?;
        if method == Method::ZstdPatchFrom && !(10..=31).contains(&window_log) {
            return Err(r
                .invalid("window log", format!("{window_log} is outside 10..=31"))
                .into());
        }
        let len = usize::try_from(r.u64("payload length")?).unwrap_or(usize::MAX);
        let payload = r.take("payload", len)?.to_vec();
        r.finish()?;
        Ok(Self {
            header: Header {
                method,
                base,
                base_size,
                target,
                target_size,
                window_log,
            },
            payload,
        })
    }
}

/// Invariant checks shared by the `cargo fuzz` target and the corpus replay test.
pub mod invariants {
    /// Applying arbitrary bytes as a delta to a fixed base either fails or yields exactly the
    /// target the delta declares; a parsed container re-encodes to the same bytes.
    ///
    /// # Panics
    /// When a delta is accepted that does not produce its declared target.
    pub fn apply(data: &[u8]) {
        const BASE: &[u8] =
            b"tinycdn delta fuzzing base: the quick brown fox jumps over the lazy dog";
        if let Ok(d) = super::Delta::from_bytes(data) {
            assert_eq!(
                d.to_bytes(),
                data,
                "delta container decoding is not canonical"
            );
        }
        if let Ok(out) = super::apply(BASE, data) {
            let d = super::Delta::from_bytes(data).expect("applied, so it parsed");
            assert_eq!(tinycdn_core::FileId::of(&out), d.header.target);
        }
    }
}

/// One method's result while creating a delta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// The method.
    pub method: Method,
    /// Container size it produced.
    pub size: u64,
    /// CPU (wall, single-threaded) time it took.
    pub time: Duration,
}

/// A created delta and what each method measured.
#[derive(Debug, Clone)]
pub struct Created {
    /// The smallest delta.
    pub delta: Delta,
    /// Every method tried.
    pub attempts: Vec<Attempt>,
}

fn window_log(base: usize, target: usize) -> u8 {
    let span = (base + target).max(1 << 10) as u64;
    let log = 64 - (span - 1).leading_zeros();
    u8::try_from(log.clamp(10, 31)).unwrap_or(31)
}

fn zstd_payload(base: &[u8], target: &[u8], wlog: u8, level: i32) -> std::io::Result<Vec<u8>> {
    let mut enc = zstd::stream::write::Encoder::with_ref_prefix(Vec::new(), level, base)?;
    // Long-distance matching pays off only past what the level-19 match finder covers; below
    // that it makes deltas of already-compressed files a little larger.
    enc.long_distance_matching(base.len() + target.len() > LDM_FROM)?;
    if !base.is_empty() {
        // Alone, zstd sizes the window from the pledged size (smaller, and a little tighter).
        enc.window_log(u32::from(wlog))?;
    }
    enc.include_checksum(false)?;
    enc.set_pledged_src_size(Some(target.len() as u64))?;
    enc.write_all(target)?;
    enc.finish()
}

fn bsdiff_payload(base: &[u8], target: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    qbsdiff::Bsdiff::new(base, target)
        .compression_level(9)
        .compare(std::io::Cursor::new(&mut out))?;
    Ok(out)
}

/// How hard the zstd method tries, and whether it uses the base at all.
#[derive(Debug, Clone, Copy)]
struct Zstd {
    level: i32,
    /// False: the target compressed alone (a valid patch-from frame that references nothing),
    /// smaller when the base does not help, as for re-compressed archives.
    reference: bool,
}

const STRONG: Zstd = Zstd {
    level: ZSTD_LEVEL,
    reference: true,
};

fn attempt(
    base: &[u8],
    target: &[u8],
    method: Method,
    zstd: Zstd,
) -> Result<(Delta, Attempt), DeltaError> {
    let started = Instant::now();
    let wlog = window_log(base.len(), target.len());
    let payload = match method {
        Method::ZstdPatchFrom => zstd_payload(
            if zstd.reference { base } else { &[] },
            target,
            wlog,
            zstd.level,
        ),
        Method::Bsdiff => bsdiff_payload(base, target),
        Method::BsdiffLzma => bslz::create(base, target),
    }
    .map_err(|e| DeltaError::Corrupt {
        method: method.name(),
        why: e.to_string(),
    })?;
    let delta = Delta {
        header: Header {
            method,
            base: FileId::of(base),
            base_size: base.len() as u64,
            target: FileId::of(target),
            target_size: target.len() as u64,
            window_log: if method == Method::ZstdPatchFrom {
                wlog
            } else {
                0
            },
        },
        payload,
    };
    let size = delta.to_bytes().len() as u64;
    let time = started.elapsed();
    Ok((delta, Attempt { method, size, time }))
}

/// Builds a delta from `base` to `target` with each of `methods` (each on its own thread) and
/// keeps the smallest; ties go to the method listed first.
///
/// Memory: the zstd method needs about the base plus target plus zstd's level-19 tables (which
/// grow with the window, up to 2^window-log); the bsdiff methods about 5× the base (its suffix
/// array, 4 bytes per byte) plus the target.
///
/// # Errors
/// [`DeltaError::NoMethod`], or an encoder failure.
pub fn create(base: &[u8], target: &[u8], methods: &[Method]) -> Result<Created, DeltaError> {
    let results: Vec<Result<(Delta, Attempt), DeltaError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = methods
            .iter()
            .map(|&m| scope.spawn(move || attempt(base, target, m, STRONG)))
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let mut best: Option<(Delta, u64)> = None;
    let mut attempts = Vec::new();
    for r in results {
        let (delta, a) = r?;
        attempts.push(a);
        if best.as_ref().is_none_or(|(_, size)| a.size < *size) {
            best = Some((delta, a.size));
        }
    }
    let (delta, _) = best.ok_or(DeltaError::NoMethod)?;
    Ok(Created { delta, attempts })
}

/// Builds a delta choosing the method by measurement: bsdiff+lzma (usually the smallest, and
/// parallel), then a quick zstd patch-from probe at level 3; only when the probe comes within 10 %
/// of bsdiff+lzma is zstd run at level 19 too, with the base as reference and (in parallel)
/// without it, which wins when the base does not help. The smallest result is kept; every
/// attempt, probe included, is reported with its time.
///
/// # Errors
/// An encoder failure.
pub fn create_auto(base: &[u8], target: &[u8]) -> Result<Created, DeltaError> {
    let (bsdiff, a) = attempt(base, target, Method::BsdiffLzma, STRONG)?;
    let probe_level = Zstd {
        level: PROBE_LEVEL,
        reference: true,
    };
    let (probe, p) = attempt(base, target, Method::ZstdPatchFrom, probe_level)?;
    let mut attempts = vec![a, p];
    let mut best = if p.size < a.size {
        (probe, p.size)
    } else {
        (bsdiff, a.size)
    };
    if p.size.saturating_mul(10) < a.size.saturating_mul(11) {
        let alone = Zstd {
            level: ZSTD_LEVEL,
            reference: false,
        };
        let (with_base, without_base) = std::thread::scope(|scope| {
            let other = scope.spawn(|| attempt(base, target, Method::ZstdPatchFrom, alone));
            let mine = attempt(base, target, Method::ZstdPatchFrom, STRONG);
            let theirs = other
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (mine, theirs)
        });
        for r in [with_base, without_base] {
            let (d, s) = r?;
            attempts.push(s);
            if s.size < best.1 {
                best = (d, s.size);
            }
        }
    }
    Ok(Created {
        delta: best.0,
        attempts,
    })
}

/// BLAKE3 of a whole file, on every core for large ones (the same hash as [`FileId::of`]).
fn file_id(bytes: &[u8]) -> FileId {
    if bytes.len() < 1 << 20 {
        return FileId::of(bytes);
    }
    let mut h = blake3::Hasher::new();
    h.update_rayon(bytes);
    FileId::from_bytes(*h.finalize().as_bytes())
}

/// A writer that refuses to grow past a limit.
struct Bounded {
    out: Vec<u8>,
    limit: usize,
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.out.len() + buf.len() > self.limit {
            return Err(std::io::Error::other(
                "the output is longer than the delta declares",
            ));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A bsdiff 4 integer as qbsdiff reads it: 63-bit little-endian magnitude, sign in the top bit
/// (a lone sign bit reads as `i64::MIN`).
pub(crate) fn bsdiff_int(b: &[u8]) -> i64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&b[..8]);
    let x = u64::from_le_bytes(raw);
    if x >> 63 == 0 || x == 1 << 63 {
        x as i64
    } else {
        -((x & (u64::MAX >> 1)) as i64)
    }
}

/// Checks a `BSDIFF40` header before qbsdiff parses it: non-negative section sizes that fit in the
/// payload (checked arithmetic: qbsdiff 1.4.4 overflows on hostile sizes, found by fuzzing), and
/// the declared target size.
fn check_bsdiff_header(payload: &[u8], target_size: u64) -> Result<(), DeltaError> {
    let bad = |why: &str| DeltaError::Corrupt {
        method: "bsdiff",
        why: why.to_owned(),
    };
    if payload.len() < 32 || &payload[..8] != b"BSDIFF40" {
        return Err(bad("no BSDIFF40 header"));
    }
    let (c, d, t) = (
        bsdiff_int(&payload[8..16]),
        bsdiff_int(&payload[16..24]),
        bsdiff_int(&payload[24..32]),
    );
    let (Ok(c), Ok(d), Ok(t)) = (u64::try_from(c), u64::try_from(d), u64::try_from(t)) else {
        return Err(bad("a negative section size"));
    };
    let end = c
        .checked_add(d)
        .and_then(|x| x.checked_add(32))
        .ok_or_else(|| bad("section sizes overflow"))?;
    if end > payload.len() as u64 {
        return Err(bad("sections longer than the payload"));
    }
    if t != target_size {
        return Err(bad("its target size disagrees with the header"));
    }
    Ok(())
}

/// Applies a delta (container bytes) to `base`.
///
/// # Errors
/// A malformed delta, the wrong base, a corrupt payload, or a result that does not hash to the
/// declared target: never wrong bytes.
pub fn apply(base: &[u8], delta: &[u8]) -> Result<Vec<u8>, DeltaError> {
    let d = Delta::from_bytes(delta)?;
    let h = &d.header;
    let actual = file_id(base);
    if actual != h.base || base.len() as u64 != h.base_size {
        return Err(DeltaError::WrongBase {
            expected: h.base.short(),
            expected_size: h.base_size,
            actual: actual.short(),
            actual_size: base.len() as u64,
        });
    }
    let limit = usize::try_from(h.target_size).map_err(|_| DeltaError::TargetMismatch)?;
    let corrupt = |e: std::io::Error| DeltaError::Corrupt {
        method: h.method.name(),
        why: e.to_string(),
    };
    let mut out = Bounded {
        out: Vec::with_capacity(limit.min(1 << 30)),
        limit,
    };
    match h.method {
        Method::ZstdPatchFrom => {
            let mut dec = zstd::stream::read::Decoder::with_ref_prefix(&d.payload[..], base)
                .map_err(corrupt)?;
            dec.window_log_max(u32::from(h.window_log))
                .map_err(corrupt)?;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = dec.read(&mut buf).map_err(corrupt)?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n]).map_err(corrupt)?;
            }
        }
        Method::BsdiffLzma => bslz::apply(base, &d.payload, limit, &mut out.out)?,
        Method::Bsdiff => {
            check_bsdiff_header(&d.payload, h.target_size)?;
            let patch = qbsdiff::Bspatch::new(&d.payload).map_err(corrupt)?;
            // Defence in depth: the header check above removes the panics the fuzzer found in
            // qbsdiff's parser; any other panic on hostile bytes still only means "corrupt".
            let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                patch.apply(base, &mut out)
            }));
            match applied {
                Ok(r) => {
                    r.map_err(corrupt)?;
                }
                Err(_) => {
                    return Err(DeltaError::Corrupt {
                        method: "bsdiff",
                        why: "the patch's control data is malformed".into(),
                    })
                }
            }
        }
    }
    if out.out.len() as u64 != h.target_size || file_id(&out.out) != h.target {
        return Err(DeltaError::TargetMismatch);
    }
    Ok(out.out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: [Method; 3] = [Method::ZstdPatchFrom, Method::Bsdiff, Method::BsdiffLzma];

    fn noise(len: usize, seed: u64) -> Vec<u8> {
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

    fn edited(base: &[u8]) -> Vec<u8> {
        let mut t = base.to_vec();
        // Scattered edits, as a recompile makes.
        for i in (0..t.len()).step_by(997) {
            t[i] = t[i].wrapping_add(1);
        }
        t.splice(t.len() / 3..t.len() / 3, b"inserted".iter().copied());
        t
    }

    #[test]
    fn both_methods_round_trip_and_the_smaller_wins() {
        let base = noise(200_000, 1);
        let target = edited(&base);
        for m in ALL {
            let c = create(&base, &target, &[m]).expect("create");
            assert_eq!(c.delta.header.method, m);
            let bytes = c.delta.to_bytes();
            assert!(
                bytes.len() < target.len() / 4,
                "{m:?}: {} bytes",
                bytes.len()
            );
            assert_eq!(apply(&base, &bytes).expect("apply"), target);
        }
        let c = create(&base, &target, &ALL).expect("create");
        let smallest = c.attempts.iter().map(|a| a.size).min().expect("attempts");
        assert_eq!(c.delta.to_bytes().len() as u64, smallest);
    }

    #[test]
    fn auto_picks_a_working_delta_whether_or_not_the_base_helps() {
        let base = noise(300_000, 5);
        // Related: bsdiff+lzma or zstd with the base. Unrelated: zstd may do best alone.
        let mut unrelated = noise(150_000, 6);
        unrelated.extend_from_slice(&[b'a'; 50_000]);
        for target in [edited(&base), unrelated] {
            let c = create_auto(&base, &target).expect("create");
            assert!(c.attempts.len() >= 2, "{:?}", c.attempts);
            let best = c.attempts.iter().map(|a| a.size).min();
            let bytes = c.delta.to_bytes();
            assert_eq!(
                Some(bytes.len() as u64),
                best,
                "the smallest attempt is kept"
            );
            assert_eq!(apply(&base, &bytes).expect("apply"), target);
        }
    }

    #[test]
    fn wrong_base_corrupt_and_truncated_deltas_are_refused() {
        let base = noise(50_000, 2);
        let target = edited(&base);
        for m in ALL {
            let bytes = create(&base, &target, &[m])
                .expect("create")
                .delta
                .to_bytes();
            let mut other = base.clone();
            other[10] ^= 1;
            assert!(matches!(
                apply(&other, &bytes),
                Err(DeltaError::WrongBase { .. })
            ));
            for cut in [0, 10, 90, bytes.len() / 2, bytes.len() - 1] {
                assert!(apply(&base, &bytes[..cut]).is_err(), "{m:?} cut at {cut}");
            }
            let mut flipped = bytes.clone();
            let last = flipped.len() - 3;
            flipped[last] ^= 0x55;
            assert!(
                apply(&base, &flipped).is_err(),
                "{m:?}: a flipped payload byte"
            );
        }
    }

    #[test]
    fn absurd_headers_are_refused_before_allocating() {
        let base = noise(1000, 3);
        let mut d = create(&base, &base, &[Method::Bsdiff])
            .expect("create")
            .delta;
        d.header.target_size = MAX_TARGET + 1;
        assert!(matches!(
            apply(&base, &d.to_bytes()),
            Err(DeltaError::Decode(_))
        ));
        let mut z = create(&base, &base, &[Method::ZstdPatchFrom])
            .expect("create")
            .delta;
        z.header.window_log = 40;
        assert!(matches!(
            apply(&base, &z.to_bytes()),
            Err(DeltaError::Decode(_))
        ));
    }

    /// Regression: qbsdiff 1.4.4 overflowed (and panicked) on section sizes near `i64::MAX` and on
    /// a lone sign bit; found by `fuzz/run.sh` (target `delta`).
    #[test]
    fn bsdiff_sections_with_hostile_sizes_are_refused() {
        let base = b"base".to_vec();
        for (c, d) in [
            (i64::MAX as u64 - 8, i64::MAX as u64 - 8),
            (1u64 << 63, 0),
            (u64::MAX, 1),
        ] {
            let mut payload = b"BSDIFF40".to_vec();
            payload.extend_from_slice(&c.to_le_bytes());
            payload.extend_from_slice(&d.to_le_bytes());
            payload.extend_from_slice(&4u64.to_le_bytes());
            payload.extend_from_slice(&[0u8; 16]);
            let delta = Delta {
                header: Header {
                    method: Method::Bsdiff,
                    base: FileId::of(&base),
                    base_size: 4,
                    target: FileId::of(b"targ"),
                    target_size: 4,
                    window_log: 0,
                },
                payload,
            };
            assert!(matches!(
                apply(&base, &delta.to_bytes()),
                Err(DeltaError::Corrupt { .. })
            ));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn round_trips_on_random_edits(len in 0usize..20_000, seed in any::<u64>(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..20)) {
            let base = noise(len, seed);
            let mut target = base.clone();
            for (i, b) in &edits {
                if !target.is_empty() {
                    let at = i.index(target.len());
                    target[at] = *b;
                }
            }
            target.extend_from_slice(&noise(len % 97, seed ^ 5));
            for m in ALL {
                let bytes = create(&base, &target, &[m]).expect("create").delta.to_bytes();
                prop_assert_eq!(apply(&base, &bytes).expect("apply"), target.clone());
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = apply(b"base", &data);
        }
    }
}
