//! HTTP semantics for tinycdn's origin and edge roles, as pure functions over header values and
//! lengths (RFC 9110, RFC 9111): URL routes and hostile-path rejection, `Range` and `If-Range`,
//! conditional requests, entity tags, caching headers, `Accept-Encoding` negotiation and the layout
//! of `multipart/byteranges` bodies. No sockets and no runtime: the servers call these.

pub mod cache_control;
pub mod conditional;
pub mod etag;
pub mod hosts;
pub mod invariants;
pub mod multipart;
pub mod negotiate;
pub mod range;
pub mod route;

pub use etag::EntityTag;
pub use range::{ByteRange, RangeOutcome};
pub use route::{Route, RouteError};
