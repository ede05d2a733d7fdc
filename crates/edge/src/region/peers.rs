//! Asking members for chunks: one GET on the peer route per member, bounded in time and size,
//! the answer checked against the chunk id. A member that cannot be reached, times out or sends
//! bytes that do not verify is skipped for a while; one that answers with an error status is up
//! but could not help.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tinycdn_region::PeerChunk;

use super::{lock, Region};

/// The header naming the member a peer request comes from (for the owner's logs).
pub const PEER_HEADER: &str = "x-tinycdn-peer";

/// The HTTP client peer requests go out on.
#[derive(Debug)]
pub(super) struct PeerClient {
    client: Client<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
}

/// Why asking one member failed.
enum Failure {
    /// Not reachable (connection refused, reset, cut off mid-body): skip it for a while.
    Unreachable,
    /// No answer in time: skip it for a while.
    Timeout,
    /// It answered, without the chunk.
    Status,
    /// It sent bytes that are not the chunk: skip it for a while.
    Unverified,
}

impl PeerClient {
    pub(super) fn new(timeout: Duration, bind: Option<IpAddr>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout.min(Duration::from_secs(2))));
        if let Some(ip) = bind {
            connector.set_local_address(Some(ip));
        }
        Self {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
            timeout,
        }
    }

    async fn ask(&self, member: &str, me: &str, pc: &PeerChunk) -> Result<Bytes, Failure> {
        let uri = format!("{member}{}", pc.target());
        let req = Request::get(uri.as_str())
            .header(PEER_HEADER, me)
            .body(Empty::new())
            .map_err(|_| Failure::Status)?;
        let fetch = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|_| Failure::Unreachable)?;
            if resp.status() != StatusCode::OK {
                return Err(Failure::Status);
            }
            let limit = usize::try_from(pc.len).unwrap_or(usize::MAX);
            let body = Limited::new(resp.into_body(), limit)
                .collect()
                .await
                .map_err(|_| Failure::Unreachable)?
                .to_bytes();
            if pc.verifies(&body) {
                Ok(body)
            } else {
                Err(Failure::Unverified)
            }
        };
        tokio::time::timeout(self.timeout, fetch)
            .await
            .unwrap_or(Err(Failure::Timeout))
    }
}

impl Region {
    /// The chunk from the first of `ask` that has it, verified; `None` when none did.
    pub(crate) async fn ask_peers(&self, ask: &[String], pc: &PeerChunk) -> Option<Bytes> {
        for member in ask {
            match self.client.ask(member, &self.me, pc).await {
                Ok(bytes) => {
                    lock(&self.health).succeeded(member);
                    self.counters.peer_fills.fetch_add(1, Ordering::Relaxed);
                    return Some(bytes);
                }
                Err(f) => {
                    let (index, down) = match f {
                        Failure::Unreachable => (0, true),
                        Failure::Timeout => (1, true),
                        Failure::Status => (2, false),
                        Failure::Unverified => (3, true),
                    };
                    self.counters.peer_errors[index].fetch_add(1, Ordering::Relaxed);
                    if down {
                        let now = self.now_ms();
                        lock(&self.health).failed(member, now);
                    }
                }
            }
        }
        None
    }
}

/// Labels of [`super::Counters::peer_errors`].
pub(super) const ERROR_LABELS: [&str; 4] = ["unreachable", "timeout", "status", "unverified"];

/// The address peer requests leave from: the advertised host when this edge listens on it.
#[must_use]
pub fn bind_address(advertise: &str, listen: SocketAddr) -> Option<IpAddr> {
    let host = advertise
        .strip_prefix("http://")?
        .rsplit_once(':')?
        .0
        .trim_start_matches('[')
        .trim_end_matches(']');
    let ip: IpAddr = host.parse().ok()?;
    (ip == listen.ip() && !ip.is_unspecified()).then_some(ip)
}
