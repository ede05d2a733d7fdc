//! The cost model as a report ([`model`]) and as a page ([`html`]): what `tinycdn report` writes
//! and what the origin's and edge's `/status` pages show.

pub mod chart;
pub mod html;
pub mod model;

pub use model::{EdgeSection, Report, StoreSection};

/// Unix seconds now.
#[must_use]
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
