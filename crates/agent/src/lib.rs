//! The node agent (`tinycdn agent --config agent.toml`): keeps a node's volumes current from
//! its mirrors — following tags with `pull`'s trust checks, checking out atomically to host
//! paths, keeping N versions — and tells operators how that goes on `/metrics`, `/healthz` and
//! `/readyz`.
//!
//! - `config`: `agent.toml`, parsed and checked without I/O;
//! - `agent`: the rounds;
//! - `http`: the endpoints.

pub mod agent;
pub mod config;
mod http;

pub use agent::{Agent, MetricsSource, Outcome, Pulled, VolumeStatus};
pub use config::{Config, ConfigError, CsiConfig, VolumeSpec};
