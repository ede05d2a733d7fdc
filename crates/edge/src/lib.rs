//! The tinycdn edge: serves volumes from a verified two-tier chunk cache (memory and disk) filled
//! from origin or parent-edge mirrors chosen by health and latency. Manifests are accepted only
//! with a trusted signature and tags only signed by a trusted key; every chunk is checked against
//! its BLAKE3 hash before any of its bytes are cached or sent.
//!
//! - [`edge`]: the node, routing requests to its roles;
//! - [`admin`]: the operators' routes (metrics, status, purge, health, peers) and who reaches them;
//! - [`fabric`]: volumes from upstream tinycdn mirrors (trust, metadata, chunks);
//! - [`proxy`]: an RFC 9111 shared cache in front of any HTTP application (the
//!   `tinycdn-proxy` crate);
//! - [`mount`]: volumes served at URL prefixes of a fronted application;
//! - [`site`]: volumes served as websites by `Host`, with previews and version pinning;
//! - [`images`]: image variants (resize, re-encode, negotiate) for the fabric and the proxy
//!   (`tinycdn-edge-cache`);
//! - [`region`]: the other edges of the region, which share their chunks;
//! - [`config`]: `edge.toml`, the whole edge in one file, checked without I/O;
//! - [`cache`]: the two-tier chunk cache every role shares (`tinycdn-edge-cache`);
//! - `start`: [`Edge::start`] and [`Edge::reload`], from an [`config::EdgeConfig`];
//! - `vhost`: the sites served now, by host;

pub mod admin;
pub mod config;
pub mod edge;
pub mod fabric;
pub mod mount;
pub mod region;
pub mod site;
mod start;
mod vhost;

pub use tinycdn_edge_cache::{cache, images};
pub use tinycdn_proxy as proxy;

pub use admin::{AdminPolicy, AdminSide};
pub use cache::ChunkCache;
pub use edge::Edge;
pub use fabric::Fabric;
pub use mount::Mount;
pub use proxy::{Proxy, ProxyConfig};
pub use region::{MemberSource, Region, RegionConfig, RegionError};
pub use site::{ApiRoute, SiteConfig, Sites};
pub use start::{check_files, read_private, StartError};
pub use tinycdn_fetch::{FetchError, Upstreams};
