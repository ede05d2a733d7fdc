//! Host patterns and the table that finds a request's site: `tinycdn-http`'s, shared with the
//! image engine's per-site policies.

pub use tinycdn_http::hosts::*;
