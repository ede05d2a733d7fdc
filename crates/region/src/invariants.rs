//! Properties of the region's parsers on any input, checked by the fuzz target `region` and by
//! replaying its committed corpus in the tests: the peer route (what another member sends), a
//! members file and a `--peers-dns` target.

use crate::{order, parse_dns_target, Members, PeerChunk, PEER_CHUNK_PREFIX};

/// The peer route, a members file and a DNS target parsed from `data`: refused or accepted,
/// never a panic; an accepted peer request writes back to the same target, an accepted members
/// file orders every member exactly once for any chunk id.
///
/// # Panics
/// When a property fails (that is the point).
pub fn parsers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (text, None),
    };
    if let Ok(pc) = PeerChunk::parse(path, query) {
        let target = pc.target();
        let rest = target
            .strip_prefix(PEER_CHUNK_PREFIX)
            .expect("a target under the peer prefix");
        let (p, q) = rest.split_once('?').expect("a target with a query");
        assert_eq!(PeerChunk::parse(p, Some(q)), Ok(pc), "{target}");
        let (start, end) = pc.range();
        assert!(end >= start && end - start + 1 == u64::from(pc.len));
    }
    if let Ok(members) = Members::parse_file(text) {
        let all = members.as_slice();
        let ranked = order(all, blake3::hash(data).as_bytes());
        assert_eq!(ranked.len(), all.len());
        for m in all {
            assert_eq!(ranked.iter().filter(|r| r.url == m.url).count(), 1);
        }
    }
    if let Ok((name, port)) = parse_dns_target(text) {
        assert!(!name.is_empty() && port > 0);
    }
}
