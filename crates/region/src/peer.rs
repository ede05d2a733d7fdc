//! The peer route: how a member asks the owner of a chunk for it.
//!
//! `GET /.tinycdn/peer/chunk/{chunk}?object={file}[.x]&offset={n}&len={n}` names the chunk and
//! where it lies in an object the origin serves (`/o/{file}` with `Range`), so that an owner
//! that has not seen the manifest can fill it from its upstream. The owner answers with the
//! chunk's bytes and never asks another peer; the requester checks them against the chunk id,
//! so a peer is trusted for nothing but availability.

use std::fmt;

use thiserror::Error;
use tinycdn_core::{ChunkId, FileId};

/// The path prefix of the peer route (under an edge's reserved `/.tinycdn`).
pub const PEER_CHUNK_PREFIX: &str = "/.tinycdn/peer/chunk/";

/// The longest chunk asked for: FastCDC's largest maximum chunk size.
pub const MAX_PEER_CHUNK: u32 = 16 << 20;

/// One chunk asked of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerChunk {
    /// The chunk's id: what the answer must hash to.
    pub chunk: ChunkId,
    /// The object (file content) holding it.
    pub object: FileId,
    /// Whether the object is the executable variant (`/o/{file}.x`).
    pub exec: bool,
    /// Where the chunk starts in the object.
    pub offset: u64,
    /// The chunk's length.
    pub len: u32,
}

/// A peer route that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerRouteError {
    /// Something is missing or malformed.
    #[error("bad peer request: {0}")]
    Bad(&'static str),
}

impl PeerChunk {
    /// The request target (path and query) to send to a peer.
    #[must_use]
    pub fn target(&self) -> String {
        self.to_string()
    }

    /// The object's path at the upstream.
    #[must_use]
    pub fn object_path(&self) -> String {
        format!("/o/{}{}", self.object, if self.exec { ".x" } else { "" })
    }

    /// The chunk's bytes in the object, inclusive.
    #[must_use]
    pub fn range(&self) -> (u64, u64) {
        (self.offset, self.offset + u64::from(self.len) - 1)
    }

    /// Whether `bytes` are this chunk.
    #[must_use]
    pub fn verifies(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == u64::from(self.len) && ChunkId::of(bytes) == self.chunk
    }

    /// Parses the path below [`PEER_CHUNK_PREFIX`] and the query.
    ///
    /// # Errors
    /// [`PeerRouteError::Bad`] for anything but exactly the fields [`PeerChunk::target`] writes.
    pub fn parse(rest: &str, query: Option<&str>) -> Result<Self, PeerRouteError> {
        let bad = PeerRouteError::Bad;
        let chunk: ChunkId = rest
            .parse()
            .map_err(|_| bad("the chunk id is not 64 hex digits"))?;
        let (mut object, mut offset, mut len) = (None, None, None);
        for pair in query.ok_or(bad("no query"))?.split('&') {
            let (k, v) = pair
                .split_once('=')
                .ok_or(bad("a query field without '='"))?;
            let slot = match k {
                "object" => &mut object,
                "offset" => &mut offset,
                "len" => &mut len,
                _ => return Err(bad("an unknown query field")),
            };
            if slot.replace(v).is_some() {
                return Err(bad("a repeated query field"));
            }
        }
        let object = object.ok_or(bad("no object"))?;
        let (hex, exec) = match object.strip_suffix(".x") {
            Some(h) => (h, true),
            None => (object, false),
        };
        let object: FileId = hex
            .parse()
            .map_err(|_| bad("the object id is not 64 hex digits"))?;
        let number = |v: Option<&str>, what| {
            v.filter(|v| !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(bad(what))
        };
        let offset = number(offset, "the offset is not a number")?;
        let len = number(len, "the length is not a number")?;
        let len = u32::try_from(len)
            .ok()
            .filter(|l| (1..=MAX_PEER_CHUNK).contains(l))
            .ok_or(bad("the length must be 1 byte to 16 MiB"))?;
        if offset.checked_add(u64::from(len)).is_none() {
            return Err(bad("the chunk ends past the largest offset"));
        }
        Ok(Self {
            chunk,
            object,
            exec,
            offset,
            len,
        })
    }
}

impl fmt::Display for PeerChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PEER_CHUNK_PREFIX}{}?object={}{}&offset={}&len={}",
            self.chunk,
            self.object,
            if self.exec { ".x" } else { "" },
            self.offset,
            self.len
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split(target: &str) -> (&str, Option<&str>) {
        let rest = target.strip_prefix(PEER_CHUNK_PREFIX).expect("prefix");
        match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        }
    }

    proptest! {
        #[test]
        fn target_round_trips(
            c in any::<[u8; 32]>(),
            o in any::<[u8; 32]>(),
            exec in any::<bool>(),
            offset in 0u64..(1 << 50),
            len in 1u32..=MAX_PEER_CHUNK,
        ) {
            let pc = PeerChunk {
                chunk: ChunkId::from_bytes(c),
                object: FileId::from_bytes(o),
                exec,
                offset,
                len,
            };
            let t = pc.target();
            let (rest, q) = split(&t);
            prop_assert_eq!(PeerChunk::parse(rest, q), Ok(pc));
        }

        #[test]
        fn arbitrary_input_never_panics(rest in ".{0,80}", q in proptest::option::of(".{0,200}")) {
            let _ = PeerChunk::parse(&rest, q.as_deref());
        }
    }

    #[test]
    fn hostile_requests_are_refused() {
        let c = "a".repeat(64);
        let o = "b".repeat(64);
        let ok = format!("object={o}&offset=0&len=10");
        assert!(PeerChunk::parse(&c, Some(&ok)).is_ok());
        for q in [
            format!("object={o}&offset=0"),
            format!("object={o}&offset=0&len=0"),
            format!("object={o}&offset=0&len=16777217"),
            format!("object={o}&offset=-1&len=10"),
            format!("object={o}&offset=+1&len=10"),
            format!("object={o}&offset=18446744073709551615&len=10"),
            format!("object={o}&offset=0&len=10&len=10"),
            format!("object={o}&offset=0&len=10&via=peer"),
            format!("object={o}.y&offset=0&len=10"),
            "object=zz&offset=0&len=10".to_owned(),
        ] {
            assert!(PeerChunk::parse(&c, Some(&q)).is_err(), "{q}");
        }
        assert!(PeerChunk::parse(&c, None).is_err());
        assert!(PeerChunk::parse("../../etc", Some(&ok)).is_err());
    }

    #[test]
    fn only_the_chunk_verifies() {
        let bytes = b"hello chunk";
        let pc = PeerChunk {
            chunk: ChunkId::of(bytes),
            object: FileId::of(bytes),
            exec: false,
            offset: 5,
            len: 11,
        };
        assert!(pc.verifies(bytes));
        assert!(!pc.verifies(b"hello chunK"));
        assert!(!pc.verifies(b"hello chunk!"));
        assert_eq!(pc.range(), (5, 15));
        assert_eq!(pc.object_path(), format!("/o/{}", pc.object));
    }
}
