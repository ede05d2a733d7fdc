//! `tinycdn replay`: an access log's GET requests sent again, at a bounded rate and count, to one
//! or more base URLs (the origin, then the edge), with time to first byte, total time, hit ratio
//! and bytes measured for each, side by side.
//!
//! - [`plan`]: which logged requests are replayed (sans-IO).
//! - [`stats`]: percentiles, the cache's verdict from response headers, the summary (sans-IO).
//! - [`run`]: the HTTP client that sends a plan to one target and times every response.

pub mod plan;
pub mod run;
pub mod stats;

pub use plan::{Plan, Planned};
pub use run::{replay, Options, ReplayError};
pub use stats::{Sample, Summary, Verdict};
