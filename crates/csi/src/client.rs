//! A client of a CSI plugin on a Unix socket: what `tinycdn csi` and the tests use to play the
//! kubelet.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};
use tonic::Status;

use crate::proto::identity_client::IdentityClient;
use crate::proto::node_client::NodeClient;
use crate::proto::volume_capability::access_mode::Mode;
use crate::proto::volume_capability::{AccessMode, AccessType, MountVolume};
use crate::proto::{
    GetPluginInfoRequest, GetPluginInfoResponse, NodeGetCapabilitiesRequest, NodeGetInfoRequest,
    NodeGetInfoResponse, NodeGetVolumeStatsRequest, NodeGetVolumeStatsResponse,
    NodePublishVolumeRequest, NodeUnpublishVolumeRequest, ProbeRequest, VolumeCapability,
};

/// A connection to a plugin.
#[derive(Debug, Clone)]
pub struct Client {
    identity: IdentityClient<Channel>,
    node: NodeClient<Channel>,
}

/// What `probe` learns.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    /// The plugin's name and version.
    pub info: GetPluginInfoResponse,
    /// Whether it says it is ready.
    pub ready: bool,
    /// The node it runs on.
    pub node: NodeGetInfoResponse,
    /// The node service's capabilities (their names).
    pub capabilities: Vec<String>,
}

impl Client {
    /// Connects to the socket at `path` (calls fail after `timeout`).
    ///
    /// # Errors
    /// The socket does not accept connections.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Self, tonic::transport::Error> {
        let path: PathBuf = path.to_path_buf();
        // The URI is required by the API and unused: the connector dials the socket.
        let channel = Endpoint::from_static("http://csi.invalid")
            .timeout(timeout)
            .connect_with_connector(tower::service_fn(move |_| {
                let path = path.clone();
                async move {
                    tokio::net::UnixStream::connect(path)
                        .await
                        .map(TokioIo::new)
                }
            }))
            .await?;
        Ok(Self {
            identity: IdentityClient::new(channel.clone()),
            node: NodeClient::new(channel),
        })
    }

    /// Identity, readiness, node info and capabilities.
    ///
    /// # Errors
    /// The first call that fails.
    pub async fn probe(&mut self) -> Result<Probed, Status> {
        let info = self
            .identity
            .get_plugin_info(GetPluginInfoRequest {})
            .await?
            .into_inner();
        let ready = self
            .identity
            .probe(ProbeRequest {})
            .await?
            .into_inner()
            .ready
            .unwrap_or(true);
        let node = self
            .node
            .node_get_info(NodeGetInfoRequest {})
            .await?
            .into_inner();
        let capabilities = self
            .node
            .node_get_capabilities(NodeGetCapabilitiesRequest {})
            .await?
            .into_inner()
            .capabilities
            .into_iter()
            .filter_map(|c| match c.r#type {
                Some(crate::proto::node_service_capability::Type::Rpc(r)) => {
                    crate::proto::node_service_capability::rpc::Type::try_from(r.r#type)
                        .ok()
                        .map(|t| t.as_str_name().to_owned())
                }
                None => None,
            })
            .collect();
        Ok(Probed {
            info,
            ready,
            node,
            capabilities,
        })
    }

    /// `NodePublishVolume` as a kubelet sends it for an inline volume with `readOnly: true`.
    ///
    /// # Errors
    /// The plugin's status.
    pub async fn publish(
        &mut self,
        volume_id: &str,
        target: &Path,
        attributes: HashMap<String, String>,
    ) -> Result<(), Status> {
        self.publish_request(Self::request(volume_id, target, attributes))
            .await
    }

    /// A kubelet's publish request, for a caller to change before sending.
    #[must_use]
    pub fn request(
        volume_id: &str,
        target: &Path,
        attributes: HashMap<String, String>,
    ) -> NodePublishVolumeRequest {
        NodePublishVolumeRequest {
            volume_id: volume_id.to_owned(),
            target_path: target.to_string_lossy().into_owned(),
            volume_capability: Some(VolumeCapability {
                access_mode: Some(AccessMode {
                    mode: Mode::MultiNodeReaderOnly as i32,
                }),
                access_type: Some(AccessType::Mount(MountVolume::default())),
            }),
            readonly: true,
            volume_context: attributes,
            ..NodePublishVolumeRequest::default()
        }
    }

    /// Sends a publish request as it is.
    ///
    /// # Errors
    /// The plugin's status.
    pub async fn publish_request(&mut self, req: NodePublishVolumeRequest) -> Result<(), Status> {
        self.node.node_publish_volume(req).await.map(|_| ())
    }

    /// `NodeUnpublishVolume`.
    ///
    /// # Errors
    /// The plugin's status.
    pub async fn unpublish(&mut self, volume_id: &str, target: &Path) -> Result<(), Status> {
        self.node
            .node_unpublish_volume(NodeUnpublishVolumeRequest {
                volume_id: volume_id.to_owned(),
                target_path: target.to_string_lossy().into_owned(),
            })
            .await
            .map(|_| ())
    }

    /// `NodeGetVolumeStats`.
    ///
    /// # Errors
    /// The plugin's status.
    pub async fn stats(
        &mut self,
        volume_id: &str,
        path: &Path,
    ) -> Result<NodeGetVolumeStatsResponse, Status> {
        Ok(self
            .node
            .node_get_volume_stats(NodeGetVolumeStatsRequest {
                volume_id: volume_id.to_owned(),
                volume_path: path.to_string_lossy().into_owned(),
                staging_target_path: String::new(),
            })
            .await?
            .into_inner())
    }
}
