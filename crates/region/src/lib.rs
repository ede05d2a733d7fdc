//! Regional edge clusters without I/O.
//!
//! The edges of one region share their chunks: each chunk id has an owner, chosen by weighted
//! rendezvous hashing ([`rendezvous`]) over the members ([`members`]), so that every member
//! computes the same owner with no coordination and a member joining or leaving moves only the
//! chunks it gains or loses. A miss on a non-owner asks the owner; an owner that fails is skipped
//! for a while ([`health`]) and the next in rendezvous order asked, then the upstream. The
//! request a member sends its owner is [`peer`]'s.

pub mod health;
pub mod invariants;
pub mod members;
pub mod peer;
pub mod rendezvous;

pub use health::Health;
pub use members::{parse_dns_target, Member, MemberError, Members};
pub use peer::{PeerChunk, PeerRouteError, PEER_CHUNK_PREFIX};
pub use rendezvous::{moved_share, order, score};
