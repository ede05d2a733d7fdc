//! Invariant checks for every parser of untrusted input, shared by the `cargo fuzz` targets and the
//! tests that replay their corpora. Each function accepts any bytes and panics only when a parser
//! breaks a promise (accepts something it would not write back, or loses information).

use crate::chunking::{ChunkParams, Chunker};
use crate::manifest::Manifest;
use crate::names::{resolve_link_target, TagName, VolumeName, VolumePath};
use crate::sign::SignatureSet;
use crate::tag::SignedTag;

/// A decoded manifest re-encodes to exactly the input, and its id is the hash of the input.
///
/// # Panics
/// When the decoder accepts non-canonical input.
pub fn manifest(data: &[u8]) {
    if let Ok(m) = Manifest::from_bytes(data) {
        assert_eq!(m.to_bytes(), data, "manifest decoding is not canonical");
        assert_eq!(m.id(), crate::VersionId::of(data));
    }
}

/// A decoded signed tag re-encodes to exactly the input.
///
/// # Panics
/// When the decoder accepts non-canonical input.
pub fn tag(data: &[u8]) {
    if let Ok(t) = SignedTag::from_bytes(data) {
        assert_eq!(t.to_bytes(), data, "tag decoding is not canonical");
    }
}

/// A decoded signed delta index re-encodes to exactly the input, with its entries in order.
///
/// # Panics
/// When the decoder accepts non-canonical input.
pub fn delta_index(data: &[u8]) {
    if let Ok(i) = crate::delta_index::SignedDeltaIndex::from_bytes(data) {
        assert_eq!(i.to_bytes(), data, "delta index decoding is not canonical");
        assert!(i
            .index
            .entries
            .windows(2)
            .all(|w| (w[0].target, w[0].base) < (w[1].target, w[1].base)));
    }
}

/// A decoded trust root re-encodes to exactly the input and its roles are satisfiable; checking
/// its signatures never panics.
///
/// # Panics
/// When the decoder accepts non-canonical input or an unsatisfiable role.
pub fn root(data: &[u8]) {
    if let Ok(r) = crate::root::SignedRoot::from_bytes(data) {
        assert_eq!(r.to_bytes(), data, "trust root decoding is not canonical");
        for (_, role) in r.root.roles() {
            assert!(role.threshold >= 1 && usize::from(role.threshold) <= role.keys.len());
        }
        let _ = r.verify_self();
    }
}

/// A decoded snapshot re-encodes to exactly the input, its tags sorted and unique.
///
/// # Panics
/// When the decoder accepts non-canonical input.
pub fn snapshot(data: &[u8]) {
    if let Ok(s) = crate::snapshot::SignedSnapshot::from_bytes(data) {
        assert_eq!(s.to_bytes(), data, "snapshot decoding is not canonical");
        assert!(s.snapshot.tags.windows(2).all(|w| {
            (w[0].volume.as_str(), w[0].tag.as_str()) < (w[1].volume.as_str(), w[1].tag.as_str())
        }));
    }
}

/// A decoded timestamp re-encodes to exactly the input; checking a snapshot against it never
/// panics.
///
/// # Panics
/// When the decoder accepts non-canonical input.
pub fn timestamp(data: &[u8]) {
    if let Ok(t) = crate::timestamp::SignedTimestamp::from_bytes(data) {
        assert_eq!(t.to_bytes(), data, "timestamp decoding is not canonical");
        let _ = t.timestamp.check_snapshot(data);
    }
}

/// A decoded signature set re-encodes to exactly the input.
///
/// # Panics
/// When the decoder accepts non-canonical input.
pub fn signature_set(data: &[u8]) {
    if let Ok(s) = SignatureSet::from_bytes(data) {
        assert_eq!(
            s.to_bytes(),
            data,
            "signature set decoding is not canonical"
        );
    }
}

/// Accepted names hold no traversal, separators or invisible characters; accepted link targets
/// resolve inside the volume.
///
/// # Panics
/// When a name rule lets something dangerous through.
pub fn names(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for accepted in [
        VolumeName::new(s).map(|n| n.as_str().to_owned()),
        TagName::new(s).map(|n| n.as_str().to_owned()),
    ]
    .into_iter()
    .flatten()
    {
        assert!(!accepted.contains(['/', '\\', '@', '\0']) && !accepted.starts_with('.'));
    }
    if let Ok(p) = VolumePath::new(s) {
        assert!(!p.as_str().starts_with('/'));
        assert!(p
            .as_str()
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".."));
        assert!(!p.as_str().chars().any(char::is_control));
    }
    if let Some((link, target)) = s.split_once('\n') {
        if let Ok(link) = VolumePath::new(link) {
            if let Ok(resolved) = resolve_link_target(&link, target) {
                assert!(!resolved.starts_with('/'));
                assert!(resolved.split('/').all(|c| c != ".."));
            }
        }
    }
}

/// Chunking any input covers it exactly, with every chunk within the size bounds.
///
/// # Panics
/// When chunks overlap, leave gaps, or break the bounds.
pub fn chunking(data: &[u8]) {
    let params = ChunkParams {
        min: 64,
        avg: 256,
        max: 1024,
    };
    let Ok(chunker) = Chunker::new(params) else {
        return;
    };
    let lens: Vec<usize> = chunker.chunks(data).map(<[u8]>::len).collect();
    assert_eq!(lens.iter().sum::<usize>(), data.len());
    for (i, len) in lens.iter().enumerate() {
        assert!(*len <= 1024);
        assert!(*len >= 64 || i + 1 == lens.len());
    }
}

/// A parsed transparency log entry writes back to exactly the input.
///
/// # Panics
/// When the parser accepts non-canonical input.
pub fn log_entry(data: &[u8]) {
    if let Ok(e) = crate::log_entry::LogEntry::parse(data) {
        assert_eq!(
            e.to_line().as_bytes(),
            data,
            "log entries are not canonical"
        );
    }
}
