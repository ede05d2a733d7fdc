//! `Range` and `If-Range` (RFC 9110 §14): which bytes of a representation to send.
//!
//! Policy, where the RFC leaves a choice:
//! - A `Range` that does not parse, uses another unit, has a `last-pos` below its `first-pos`, or
//!   asks for more than [`MAX_RANGES`] ranges is ignored: the whole representation is sent (as
//!   nginx does with `max_ranges`).
//! - Overlapping or adjacent ranges are coalesced and sorted, so no byte is sent twice.
//! - A range set none of whose members is satisfiable gets 416 with `Content-Range: bytes */len`.

use crate::etag::EntityTag;

/// Most ranges one request may ask for.
pub const MAX_RANGES: usize = 16;

/// An inclusive byte range within a representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte (inclusive).
    pub end: u64,
}

impl ByteRange {
    /// Bytes in the range.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never empty (ranges are inclusive); present for API symmetry with `len`.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `Content-Range` value for this range of a `total`-byte representation.
    #[must_use]
    pub fn content_range(&self, total: u64) -> String {
        format!("bytes {}-{}/{total}", self.start, self.end)
    }
}

/// What to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeOutcome {
    /// 200 with the whole representation.
    Full,
    /// 206 with these ranges, sorted and disjoint (one range: a plain body; several:
    /// `multipart/byteranges`).
    Partial(Vec<ByteRange>),
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

enum Spec {
    From(u64, Option<u64>),
    Suffix(u64),
}

fn parse_spec(spec: &str) -> Option<Spec> {
    let (a, b) = spec.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if a.is_empty() {
        return digits(b)
            .then(|| b.parse().ok().map(Spec::Suffix))
            .flatten();
    }
    if !digits(a) {
        return None;
    }
    let first: u64 = a.parse().ok()?;
    if b.is_empty() {
        return Some(Spec::From(first, None));
    }
    if !digits(b) {
        return None;
    }
    let last: u64 = b.parse().ok()?;
    (last >= first).then_some(Spec::From(first, Some(last)))
}

/// Evaluates a `Range` header value against a representation of `len` bytes.
#[must_use]
pub fn parse(value: &str, len: u64) -> RangeOutcome {
    let value = value.trim();
    let Some((unit, set)) = value.split_once('=') else {
        return RangeOutcome::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return RangeOutcome::Full;
    }
    let mut specs = Vec::new();
    for part in set.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some(spec) = parse_spec(part) else {
            return RangeOutcome::Full;
        };
        specs.push(spec);
        if specs.len() > MAX_RANGES {
            return RangeOutcome::Full;
        }
    }
    if specs.is_empty() {
        return RangeOutcome::Full;
    }
    let mut ranges: Vec<ByteRange> = specs
        .into_iter()
        .filter_map(|spec| match spec {
            Spec::From(first, last) if first < len => Some(ByteRange {
                start: first,
                end: last.map_or(len - 1, |l| l.min(len - 1)),
            }),
            Spec::Suffix(n) if n > 0 && len > 0 => Some(ByteRange {
                start: len - n.min(len),
                end: len - 1,
            }),
            _ => None,
        })
        .collect();
    if ranges.is_empty() {
        return RangeOutcome::Unsatisfiable;
    }
    ranges.sort_by_key(|r| r.start);
    let mut merged: Vec<ByteRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end.saturating_add(1) => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    RangeOutcome::Partial(merged)
}

/// Evaluates `Range` with its `If-Range` precondition: a `Range` is honoured only when `If-Range`
/// is absent or names the current representation by a strong entity tag (tinycdn sends no
/// `Last-Modified`, so a date never matches).
#[must_use]
pub fn evaluate(
    range: Option<&str>,
    if_range: Option<&str>,
    current: &EntityTag,
    len: u64,
) -> RangeOutcome {
    let Some(range) = range else {
        return RangeOutcome::Full;
    };
    if let Some(cond) = if_range {
        if !EntityTag::parse(cond).is_some_and(|t| t.strong_eq(current)) {
            return RangeOutcome::Full;
        }
    }
    parse(range, len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn single_suffix_open_and_multiple() {
        assert_eq!(
            parse("bytes=0-99", 1000),
            RangeOutcome::Partial(vec![r(0, 99)])
        );
        assert_eq!(
            parse("bytes=900-", 1000),
            RangeOutcome::Partial(vec![r(900, 999)])
        );
        assert_eq!(
            parse("bytes=-100", 1000),
            RangeOutcome::Partial(vec![r(900, 999)])
        );
        assert_eq!(
            parse("bytes=-5000", 1000),
            RangeOutcome::Partial(vec![r(0, 999)])
        );
        assert_eq!(
            parse("bytes=990-5000", 1000),
            RangeOutcome::Partial(vec![r(990, 999)])
        );
        assert_eq!(
            parse("bytes=500-599, 0-9 ,,", 1000),
            RangeOutcome::Partial(vec![r(0, 9), r(500, 599)])
        );
        assert_eq!(
            parse("BYTES=0-10,5-20,21-30", 1000),
            RangeOutcome::Partial(vec![r(0, 30)])
        );
    }

    #[test]
    fn unsatisfiable_and_ignored() {
        assert_eq!(parse("bytes=1000-", 1000), RangeOutcome::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 1000), RangeOutcome::Unsatisfiable);
        assert_eq!(parse("bytes=0-0", 0), RangeOutcome::Unsatisfiable);
        for ignored in [
            "bytes=5-1",
            "items=0-1",
            "bytes=abc",
            "bytes=",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=99999999999999999999999-",
            "0-1",
        ] {
            assert_eq!(parse(ignored, 1000), RangeOutcome::Full, "{ignored}");
        }
        let many: Vec<String> = (0..=MAX_RANGES)
            .map(|i| format!("{}-{}", i * 10, i * 10 + 1))
            .collect();
        assert_eq!(
            parse(&format!("bytes={}", many.join(",")), 10_000),
            RangeOutcome::Full
        );
    }

    #[test]
    fn if_range_needs_the_current_strong_tag() {
        let etag = EntityTag::strong("abc");
        let range = Some("bytes=0-1");
        assert!(matches!(
            evaluate(range, Some("\"abc\""), &etag, 10),
            RangeOutcome::Partial(_)
        ));
        assert_eq!(
            evaluate(range, Some("\"old\""), &etag, 10),
            RangeOutcome::Full
        );
        assert_eq!(
            evaluate(range, Some("W/\"abc\""), &etag, 10),
            RangeOutcome::Full
        );
        assert_eq!(
            evaluate(range, Some("Tue, 15 Nov 1994 08:12:31 GMT"), &etag, 10),
            RangeOutcome::Full
        );
        assert_eq!(evaluate(None, None, &etag, 10), RangeOutcome::Full);
    }

    proptest! {
        #[test]
        fn partial_ranges_are_sorted_disjoint_and_inside(value in "bytes=[0-9,\\- ]{0,40}", len in 0u64..5000) {
            if let RangeOutcome::Partial(ranges) = parse(&value, len) {
                prop_assert!(!ranges.is_empty());
                for w in ranges.windows(2) {
                    prop_assert!(w[0].end + 1 < w[1].start);
                }
                for r in &ranges {
                    prop_assert!(r.start <= r.end && r.end < len);
                }
            }
        }

        #[test]
        fn never_panics(value in ".{0,64}", len in any::<u64>()) {
            let _ = parse(&value, len);
        }
    }
}
