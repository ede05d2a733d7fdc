//! The edge node: one listener in front of the roles it plays, sharing one chunk cache. Requests
//! are routed to the fabric (volumes from upstream tinycdn mirrors); `/metrics` and `/healthz` are
//! answered here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tinycdn_core::root::RootError;
use tinycdn_http::route::{self, Route};
use tinycdn_server::body::Body;
use tinycdn_server::respond::{refuse_method, Reply};
use tinycdn_volume::trust::Trust;

use crate::cache::ChunkCache;
use crate::fabric::Fabric;
use crate::metrics::{self, Exposition};
use tinycdn_fetch::Upstreams;

/// An edge node.
#[derive(Debug)]
pub struct Edge {
    cache: Arc<ChunkCache>,
    fabric: Option<Arc<Fabric>>,
    responses: [AtomicU64; 6],
    bytes_served: AtomicU64,
}

impl Edge {
    /// An edge filling from `upstreams`, accepting what `trust` signed, caching in `cache`.
    #[must_use]
    pub fn new(upstreams: Upstreams, trust: Trust, cache: ChunkCache) -> Arc<Self> {
        let cache = Arc::new(cache);
        Arc::new(Self {
            fabric: Some(Arc::new(Fabric::new(upstreams, trust, cache.clone()))),
            cache,
            responses: Default::default(),
            bytes_served: AtomicU64::new(0),
        })
    }

    /// The cache, for its counters.
    #[must_use]
    pub fn cache(&self) -> &ChunkCache {
        &self.cache
    }

    /// The fabric's mirrors, when this edge serves volumes from upstream tinycdn mirrors.
    #[must_use]
    pub fn upstreams(&self) -> Option<&Upstreams> {
        self.fabric.as_deref().map(Fabric::upstreams)
    }

    /// Before serving: the fabric's trust root followed through the rotations the cache disk
    /// holds, never older than the one it pinned (see [`Fabric::start_root`]).
    ///
    /// # Errors
    /// [`RootError::Rollback`]; a stored rotation that does not verify.
    pub fn start_root(&self) -> Result<(), RootError> {
        self.fabric.as_ref().map_or(Ok(()), |f| f.start_root())
    }

    /// Answers one request.
    pub async fn answer<B>(self: &Arc<Self>, req: Request<B>) -> Response<Body> {
        let head = req.method() == Method::HEAD;
        let reply = match refuse_method(req.method()) {
            Some(refused) => refused,
            None => self.respond(&req).await,
        };
        let class = usize::from(reply.status.as_u16() / 100).min(5);
        self.responses[class].fetch_add(1, Ordering::Relaxed);
        if !head {
            self.bytes_served.fetch_add(reply.len, Ordering::Relaxed);
        }
        reply.into_response(head)
    }

    async fn respond<B>(self: &Arc<Self>, req: &Request<B>) -> Reply {
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let route = match route::parse(target) {
            Ok(r) => r,
            Err(e) => {
                let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
                return Reply::text(status, format!("{e}\n"));
            }
        };
        match (route, &self.fabric) {
            (Route::Health, _) => Reply::text(StatusCode::OK, "ok\n"),
            (Route::Metrics, _) => {
                let mut r = Reply::text(StatusCode::OK, self.render_metrics());
                r.headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                r
            }
            (route, Some(fabric)) => fabric.serve_route(req, route).await,
            (_, None) => Reply::text(
                StatusCode::NOT_FOUND,
                "this edge has no --upstream to serve volumes from\n",
            ),
        }
    }

    fn render_metrics(&self) -> String {
        let mut e = Exposition::default();
        e.metric(
            "tinycdn_responses_total",
            "Responses sent, by status class.",
            "counter",
            (1..6)
                .map(|i| {
                    (
                        format!(",status=\"{i}xx\""),
                        self.responses[i].load(Ordering::Relaxed),
                    )
                })
                .collect(),
        );
        e.metric(
            "tinycdn_body_bytes_sent_total",
            "Body bytes announced in responses.",
            "counter",
            vec![(String::new(), self.bytes_served.load(Ordering::Relaxed))],
        );
        metrics::cache(&mut e, &self.cache);
        if let Some(f) = &self.fabric {
            f.metrics(&mut e);
        }
        e.finish()
    }
}

impl tinycdn_server::Handler for Edge {
    async fn handle(self: Arc<Self>, req: Request<hyper::body::Incoming>) -> Response<Body> {
        self.answer(req).await
    }
}
