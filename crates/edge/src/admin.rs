//! The edge's routes that are not content — `metrics`, `status`, `purge`, `healthz`, the peer
//! route — and who may reach them. With `--admin-listen ADDR` they are served there, and only
//! there: the public listener answers 404 for them. Without it they stay on the public listener,
//! where `metrics` and `status` (which name upstreams and internal figures) answer only to
//! `--admin-allow` (default: loopback and the private ranges); `purge` has its token and the peer
//! route its members' addresses.

use std::net::IpAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tinycdn_server::body::Body;
use tinycdn_server::respond::Reply;
use tinycdn_server::ConnInfo;

use crate::mount::RESERVED_PREFIX;
use crate::Edge;

/// The peer route below the reserved prefix (`/.tinycdn/peer/chunk/…`).
pub(crate) const PEER_ROUTE: &str = "/peer/chunk/";

/// An operator's route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `metrics`, `status`, `status.json`.
    Observe,
    /// `healthz`, `readyz`.
    Health,
    /// `purge`.
    Purge,
    /// The region's peer route.
    Peer,
}

/// Which operator's route `path` is, if any. `fronts_app`: the edge has `--origin`, so that only
/// `/.tinycdn/…` is the edge's (without it, `/metrics`, `/status` and `/healthz` are too).
#[must_use]
pub fn classify(path: &str, fronts_app: bool) -> Option<Operator> {
    let own = path
        .strip_prefix(RESERVED_PREFIX)
        .filter(|r| r.starts_with('/'));
    let rest = match own {
        Some(rest) => rest,
        None if fronts_app => return None,
        None => path,
    };
    match rest {
        "/metrics" | "/status" | "/status.json" => Some(Operator::Observe),
        "/healthz" | "/readyz" => Some(Operator::Health),
        "/purge" if own.is_some() => Some(Operator::Purge),
        r if own.is_some() && r.starts_with(PEER_ROUTE) => Some(Operator::Peer),
        _ => None,
    }
}

/// Where operators' routes are served, and who may read metrics and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPolicy {
    /// They are on `--admin-listen`, absent from the public listener.
    pub separate: bool,
    /// Who may read `metrics` and `status` on the public listener (`--admin-allow`).
    pub allow: Vec<ipnet::IpNet>,
}

/// Loopback and the private ranges (RFC 1918, RFC 4193).
#[must_use]
pub fn default_allow() -> Vec<ipnet::IpNet> {
    [
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
    ]
    .iter()
    .filter_map(|n| n.parse().ok())
    .collect()
}

impl Default for AdminPolicy {
    fn default() -> Self {
        Self {
            separate: false,
            allow: default_allow(),
        }
    }
}

/// Which listener a request came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The public one.
    Public,
    /// `--admin-listen`.
    Admin,
}

/// What to do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Route it as usual.
    Serve,
    /// 404: not on this listener.
    NotHere,
    /// 403: not for this client.
    Forbidden,
}

/// Decides whether a request for `route` from `peer` on `side` is served.
#[must_use]
pub fn decide(policy: &AdminPolicy, side: Side, route: Option<Operator>, peer: IpAddr) -> Verdict {
    match (side, route) {
        (Side::Admin, Some(_)) => Verdict::Serve,
        (Side::Admin, None) => Verdict::NotHere,
        (Side::Public, None) => Verdict::Serve,
        (Side::Public, Some(_)) if policy.separate => Verdict::NotHere,
        (Side::Public, Some(Operator::Observe)) if !crate::proxy::trusted(&policy.allow, peer) => {
            Verdict::Forbidden
        }
        (Side::Public, Some(_)) => Verdict::Serve,
    }
}

/// The reply for a request that is not served.
pub(crate) fn refusal(v: Verdict) -> Reply {
    match v {
        Verdict::Forbidden => Reply::text(
            StatusCode::FORBIDDEN,
            "metrics and status are for the operator's addresses (--admin-allow)\n",
        ),
        _ => Reply::text(StatusCode::NOT_FOUND, "not on this listener\n"),
    }
}

/// The edge as its `--admin-listen` listener serves it: operators' routes only.
#[derive(Debug)]
pub struct AdminSide(pub Arc<Edge>);

impl tinycdn_server::Handler for AdminSide {
    async fn handle(self: Arc<Self>, req: Request<Incoming>, info: ConnInfo) -> Response<Body> {
        self.0.answer_on(req, info, Side::Admin).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_routes_are_the_operators() {
        assert_eq!(classify("/.tinycdn/metrics", true), Some(Operator::Observe));
        assert_eq!(
            classify("/.tinycdn/status.json", true),
            Some(Operator::Observe)
        );
        assert_eq!(classify("/.tinycdn/purge", true), Some(Operator::Purge));
        assert_eq!(
            classify("/.tinycdn/peer/chunk/ab", true),
            Some(Operator::Peer)
        );
        assert_eq!(classify("/.tinycdn/healthz", false), Some(Operator::Health));
        // In front of an application, the root is the application's.
        assert_eq!(classify("/metrics", true), None);
        assert_eq!(classify("/metrics", false), Some(Operator::Observe));
        assert_eq!(classify("/purge", false), None);
        assert_eq!(classify("/.tinycdn/v/vol@tag/a", true), None);
        assert_eq!(classify("/.tinycdnx/metrics", true), None);
    }

    #[test]
    fn who_reaches_them() {
        let open = AdminPolicy::default();
        let public: IpAddr = "203.0.113.9".parse().expect("ip");
        let local: IpAddr = "10.1.2.3".parse().expect("ip");
        let observe = Some(Operator::Observe);
        assert_eq!(
            decide(&open, Side::Public, observe, public),
            Verdict::Forbidden
        );
        assert_eq!(decide(&open, Side::Public, observe, local), Verdict::Serve);
        assert_eq!(
            decide(&open, Side::Public, Some(Operator::Purge), public),
            Verdict::Serve
        );
        assert_eq!(decide(&open, Side::Public, None, public), Verdict::Serve);
        let separate = AdminPolicy {
            separate: true,
            ..AdminPolicy::default()
        };
        for r in [
            Operator::Observe,
            Operator::Health,
            Operator::Purge,
            Operator::Peer,
        ] {
            assert_eq!(
                decide(&separate, Side::Public, Some(r), local),
                Verdict::NotHere
            );
            assert_eq!(
                decide(&separate, Side::Admin, Some(r), public),
                Verdict::Serve
            );
        }
        assert_eq!(
            decide(&separate, Side::Admin, None, local),
            Verdict::NotHere
        );
    }
}
