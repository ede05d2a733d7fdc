//! tinycdn's HTTP server. The origin role serves a store: files of volume versions by
//! `VOLUME@REF/PATH`, manifests, signatures, tags and raw objects (which edges fill from), with
//! ranges, conditional requests, strong entity tags and immutable caching for pinned URLs. Every
//! object is verified against its hash on first use after start, before any of its bytes are sent.

pub mod access;
pub mod body;
pub mod compress;
pub mod drain;
pub mod guard;
pub mod handover;
pub mod listen;
pub mod metrics;
pub mod origin;
pub mod respond;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

pub use drain::Drain;
pub use guard::ConnSlot;
pub use listen::{serve, serve_until, ConnInfo, Handler, Limits};
pub use origin::Origin;
