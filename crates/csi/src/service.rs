//! The CSI Identity and Node services over the [`Driver`], and serving them on a Unix socket.
//!
//! Only what a node plugin for ephemeral inline volumes needs is offered: `NodeStageVolume`,
//! `NodeUnstageVolume` and `NodeExpandVolume` answer `UNIMPLEMENTED` (the capabilities do not
//! list them, so a kubelet never calls them), and there is no Controller service.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tonic::{Request, Response, Status};

use crate::driver::Driver;
use crate::proto::identity_server::{Identity, IdentityServer};
use crate::proto::node_server::{Node, NodeServer};
use crate::proto::node_service_capability::{rpc, Rpc, Type};
use crate::proto::volume_usage::Unit;
use crate::proto::{
    GetPluginCapabilitiesRequest, GetPluginCapabilitiesResponse, GetPluginInfoRequest,
    GetPluginInfoResponse, NodeExpandVolumeRequest, NodeExpandVolumeResponse,
    NodeGetCapabilitiesRequest, NodeGetCapabilitiesResponse, NodeGetInfoRequest,
    NodeGetInfoResponse, NodeGetVolumeStatsRequest, NodeGetVolumeStatsResponse,
    NodePublishVolumeRequest, NodePublishVolumeResponse, NodeServiceCapability,
    NodeStageVolumeRequest, NodeStageVolumeResponse, NodeUnpublishVolumeRequest,
    NodeUnpublishVolumeResponse, NodeUnstageVolumeRequest, NodeUnstageVolumeResponse, ProbeRequest,
    ProbeResponse, VolumeCondition, VolumeUsage,
};
use crate::request::{self, DRIVER};
use crate::status::Failure;

/// The services, sharing one driver.
#[derive(Debug, Clone)]
pub struct Plugin {
    driver: Arc<Driver>,
}

impl Plugin {
    /// The services over `driver`.
    #[must_use]
    pub fn new(driver: Arc<Driver>) -> Self {
        Self { driver }
    }
}

impl Plugin {
    /// Counts a call's outcome; the failure as a status.
    fn counted<T>(&self, call: &'static str, result: Result<T, Failure>) -> Result<T, Status> {
        self.driver.count(
            call,
            result.as_ref().map_or_else(|f| f.code, |_| tonic::Code::Ok),
        );
        result.map_err(Status::from)
    }
}

/// The caller's deadline from its `grpc-timeout` header (gRPC over HTTP/2: digits and a unit,
/// `H M S m u n`).
#[must_use]
pub fn deadline(header: Option<&str>) -> Option<Duration> {
    let h = header?;
    if h.len() < 2 || h.len() > 9 {
        return None;
    }
    let (digits, unit) = h.split_at(h.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

fn caller_deadline<T>(req: &Request<T>) -> Option<Duration> {
    deadline(
        req.metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok()),
    )
}

#[tonic::async_trait]
impl Identity for Plugin {
    async fn get_plugin_info(
        &self,
        _: Request<GetPluginInfoRequest>,
    ) -> Result<Response<GetPluginInfoResponse>, Status> {
        Ok(Response::new(GetPluginInfoResponse {
            name: DRIVER.to_owned(),
            vendor_version: env!("CARGO_PKG_VERSION").to_owned(),
            manifest: std::collections::HashMap::new(),
        }))
    }

    async fn get_plugin_capabilities(
        &self,
        _: Request<GetPluginCapabilitiesRequest>,
    ) -> Result<Response<GetPluginCapabilitiesResponse>, Status> {
        // A node-only plugin: no controller service, no topology constraints.
        Ok(Response::new(GetPluginCapabilitiesResponse {
            capabilities: Vec::new(),
        }))
    }

    async fn probe(&self, _: Request<ProbeRequest>) -> Result<Response<ProbeResponse>, Status> {
        // Serving means the records and mounts were recovered; the store must still be there.
        let ready = self.driver.healthy();
        Ok(Response::new(ProbeResponse { ready: Some(ready) }))
    }
}

fn unimplemented(what: &str) -> Status {
    Status::unimplemented(format!(
        "{what}: tinycdn's plugin publishes ephemeral inline volumes only"
    ))
}

fn capability(t: rpc::Type) -> NodeServiceCapability {
    NodeServiceCapability {
        r#type: Some(Type::Rpc(Rpc { r#type: t as i32 })),
    }
}

#[tonic::async_trait]
impl Node for Plugin {
    async fn node_stage_volume(
        &self,
        _: Request<NodeStageVolumeRequest>,
    ) -> Result<Response<NodeStageVolumeResponse>, Status> {
        Err(unimplemented("NodeStageVolume"))
    }

    async fn node_unstage_volume(
        &self,
        _: Request<NodeUnstageVolumeRequest>,
    ) -> Result<Response<NodeUnstageVolumeResponse>, Status> {
        Err(unimplemented("NodeUnstageVolume"))
    }

    async fn node_publish_volume(
        &self,
        req: Request<NodePublishVolumeRequest>,
    ) -> Result<Response<NodePublishVolumeResponse>, Status> {
        let wait = self.driver.wait(caller_deadline(&req));
        let result = match request::publish(req.get_ref(), self.driver.kubelet_dir()) {
            Ok(p) => self.driver.publish(p, wait).await,
            Err(e) => Err(e.into()),
        };
        self.counted("publish", result)?;
        Ok(Response::new(NodePublishVolumeResponse {}))
    }

    async fn node_unpublish_volume(
        &self,
        req: Request<NodeUnpublishVolumeRequest>,
    ) -> Result<Response<NodeUnpublishVolumeResponse>, Status> {
        let result = match request::unpublish(req.get_ref(), self.driver.kubelet_dir()) {
            Ok((id, target)) => self.driver.unpublish(&id, &target).await,
            Err(e) => Err(e.into()),
        };
        self.counted("unpublish", result)?;
        Ok(Response::new(NodeUnpublishVolumeResponse {}))
    }

    async fn node_get_volume_stats(
        &self,
        req: Request<NodeGetVolumeStatsRequest>,
    ) -> Result<Response<NodeGetVolumeStatsResponse>, Status> {
        let result = match request::stats(req.get_ref(), self.driver.kubelet_dir()) {
            Ok((id, path)) => self.driver.stats(&id, &path).await,
            Err(e) => Err(e.into()),
        };
        let s = self.counted("stats", result)?;
        let usage = |used: u64, unit: Unit| VolumeUsage {
            // The volume is read-only and exactly its version's size.
            available: 0,
            total: i64::try_from(used).unwrap_or(i64::MAX),
            used: i64::try_from(used).unwrap_or(i64::MAX),
            unit: unit as i32,
        };
        Ok(Response::new(NodeGetVolumeStatsResponse {
            usage: vec![usage(s.bytes, Unit::Bytes), usage(s.inodes, Unit::Inodes)],
            volume_condition: Some(VolumeCondition {
                abnormal: s.abnormal.is_some(),
                message: s
                    .abnormal
                    .unwrap_or_else(|| "mounted and verified".to_owned()),
            }),
        }))
    }

    async fn node_expand_volume(
        &self,
        _: Request<NodeExpandVolumeRequest>,
    ) -> Result<Response<NodeExpandVolumeResponse>, Status> {
        Err(unimplemented("NodeExpandVolume"))
    }

    async fn node_get_capabilities(
        &self,
        _: Request<NodeGetCapabilitiesRequest>,
    ) -> Result<Response<NodeGetCapabilitiesResponse>, Status> {
        Ok(Response::new(NodeGetCapabilitiesResponse {
            capabilities: vec![
                capability(rpc::Type::GetVolumeStats),
                capability(rpc::Type::VolumeCondition),
            ],
        }))
    }

    async fn node_get_info(
        &self,
        _: Request<NodeGetInfoRequest>,
    ) -> Result<Response<NodeGetInfoResponse>, Status> {
        Ok(Response::new(NodeGetInfoResponse {
            node_id: self.driver.node_id().to_owned(),
            max_volumes_per_node: 0,
            accessible_topology: None,
        }))
    }
}

/// Listens on the Unix socket at `path` (inside a Tokio runtime). A stale socket file (a
/// plugin that was killed) is replaced; a live one or anything else there is refused; the
/// socket is `0660`.
///
/// # Errors
/// The socket cannot be made.
pub fn bind(path: &Path) -> Result<tokio::net::UnixListener, std::io::Error> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("another plugin serves on {}", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ))
        }
        Err(_) => {}
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o660))?;
    Ok(listener)
}

/// Serves both services on `listener` (from [`bind`]) until `stop` resolves, then removes the
/// socket file.
///
/// # Errors
/// Serving fails.
pub async fn serve(
    driver: Arc<Driver>,
    listener: tokio::net::UnixListener,
    stop: impl std::future::Future<Output = ()> + Send,
) -> Result<(), std::io::Error> {
    let path = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(Path::to_path_buf));
    let plugin = Plugin::new(driver);
    let result = tonic::transport::Server::builder()
        .add_service(IdentityServer::new(plugin.clone()))
        .add_service(NodeServer::new(plugin))
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::UnixListenerStream::new(listener),
            stop,
        )
        .await;
    if let Some(path) = path {
        let _ = std::fs::remove_file(path);
    }
    result.map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_are_read() {
        assert_eq!(deadline(Some("120S")), Some(Duration::from_secs(120)));
        assert_eq!(deadline(Some("2M")), Some(Duration::from_secs(120)));
        assert_eq!(deadline(Some("1500m")), Some(Duration::from_millis(1500)));
        for bad in ["", "S", "12", "-1S", "1x", "1234567890S"] {
            assert_eq!(deadline(Some(bad)), None, "{bad}");
        }
        assert_eq!(deadline(None), None);
    }
}
