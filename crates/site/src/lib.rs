//! Static sites served from volumes, the rules without I/O.
//!
//! - [`pattern`]: URL path patterns with splats (`*`) and placeholders (`:name`), matched with
//!   bounded work, and destinations expanded from what they captured.
//! - [`redirects`]: the `_redirects` file (`source destination [status]`), Cloudflare Pages'
//!   semantics and limits, checked for loops, self-redirects and other hosts.
//! - [`headers`]: the `_headers` file (a path pattern, then indented `Name: value` and
//!   `! Name` lines), checked against header injection and framing headers.
//! - [`caching`]: default `Cache-Control` (content-hashed names immutable, the rest revalidated).
//! - [`precache`]: the cache-first service worker of a version and its precache manifest (URL,
//!   BLAKE3 revision, SHA-384 integrity).
//! - [`host`]: which site a `Host` names, and preview hosts (`<version label>.HOST`).
//! - [`pinning`]: a page keeps the version it started on across a switch (cookie, grace period).
//! - [`resolve`]: which file answers a path (redirects, indexes, clean URLs, nearest `404.html`,
//!   the single-page-app fallback) and its headers.
//!
//! Both files are parsed strictly: every problem is an error naming its line, so a site is
//! refused at publish rather than served wrong.

pub mod caching;
pub mod headers;
pub mod host;
pub mod invariants;
pub mod pattern;
pub mod pinning;
pub mod precache;
pub mod redirects;
pub mod resolve;

pub use headers::{HeaderRules, HeadersError};
pub use pattern::{Captures, Pattern, PatternError};
pub use redirects::{Action, Redirects, RedirectsError, Rule};
pub use resolve::{Files, Outcome, Site};
