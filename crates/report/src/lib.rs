//! The cost model as a report ([`model`]) and as a page ([`html`]): what `tinycdn report` writes
//! and what the origin's and edge's `/status` pages show.

pub mod chart;
pub mod html;
pub mod model;

pub use model::{EdgeSection, Report, StoreSection};

pub use tinycdn_core::time::unix_now as now;
