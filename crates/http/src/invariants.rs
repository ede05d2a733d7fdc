//! Invariant checks for the request-header and URL parsers, shared by the `cargo fuzz` targets and
//! the tests that replay their corpora. Each accepts any bytes and panics only on a broken promise.

use crate::etag::{EntityTag, TagList};
use crate::range::{parse as parse_range, RangeOutcome};
use crate::route::{parse as parse_route, Route};

/// Ranges are sorted, disjoint and inside the representation, for lengths around the input's.
///
/// # Panics
/// When a range escapes the representation or overlaps another.
pub fn range(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for len in [0, 1, 100, data.len() as u64, u64::MAX] {
        if let RangeOutcome::Partial(ranges) = parse_range(s, len) {
            assert!(!ranges.is_empty());
            for r in &ranges {
                assert!(r.start <= r.end && r.end < len);
            }
            for w in ranges.windows(2) {
                assert!(w[0].end + 1 < w[1].start);
            }
        }
    }
}

/// Accepted file routes never hold a traversal component, a backslash or a control character.
///
/// # Panics
/// When a hostile path is accepted.
pub fn route(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Route::File { path, .. }) = parse_route(s) {
        let p = path.as_str();
        assert!(p.split('/').all(|c| !c.is_empty() && c != "." && c != ".."));
        assert!(!p.contains('\\') && !p.chars().any(char::is_control));
    }
}

/// Entity tags that parse print back to what parses to the same tag.
///
/// # Panics
/// When printing and parsing disagree.
pub fn etag(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(t) = EntityTag::parse(s) {
        assert_eq!(EntityTag::parse(&t.to_string()), Some(t));
    }
    let _ = TagList::parse(s);
    let _ = crate::negotiate::choose(Some(s), &[crate::negotiate::Coding::Zstd]);
}
