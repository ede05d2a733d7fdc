//! The Kubernetes CSI node plugin: verified tinycdn volumes mounted read-only into pods as
//! ephemeral inline volumes (`csi: {driver: volumes.tinycdn.dev, volumeAttributes: {volume,
//! ref}}`), following tags in place, surviving its own restarts. It runs inside the node agent
//! (`tinycdn agent --csi-endpoint unix:///csi/csi.sock`) and pulls through the agent's path.
//!
//! Without I/O: `request` (what a kubelet may ask), `mountinfo` (the mount table), `status`
//! (failures as gRPC codes), `endpoint`. Around them: `layout` (the AtomicWriter folder a pod
//! mounts), `records` (what was published where), `mount` (the bind mount), `driver` (the
//! operations and the state rebuilt at start), `service` (the gRPC services and the socket),
//! `client` (the kubelet's side, for `tinycdn csi` and the tests). `proto` is generated from the
//! CSI spec's `csi.proto` (v1.3.0, vendored under `proto/`).

pub mod client;
pub mod driver;
pub mod endpoint;
pub mod layout;
pub mod mount;
pub mod mountinfo;
pub mod proto;
pub mod records;
pub mod request;
pub mod service;
pub mod status;

pub use client::Client;
pub use driver::Driver;
pub use request::DRIVER;
pub use status::Failure;
