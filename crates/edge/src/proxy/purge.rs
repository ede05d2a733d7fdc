//! The purge API: `POST /.tinycdn/purge` with `Authorization: Bearer TOKEN` and a JSON body
//! `{"urls": [...], "prefixes": [...], "keys": [...], "soft": false}` drops (or, soft, marks
//! for validation) the stored responses named by URL, by URL prefix and by surrogate key
//! (`Surrogate-Key`, `Cache-Tag`). The token is compared in constant time and never echoed.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use tinycdn_cache_policy::key::primary_key;
use tinycdn_server::body::{self, Body};

use super::store::Selector;
use super::Proxy;

/// Largest purge request body.
const MAX_BODY: usize = 64 << 10;

/// What a purge request names.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeRequest {
    /// URLs: absolute (`http://host/path?q`) or a path with its query on every host.
    #[serde(default)]
    pub urls: Vec<String>,
    /// URL prefixes, absolute or paths.
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Surrogate keys.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Mark for validation instead of dropping (still usable under `stale-if-error`).
    #[serde(default)]
    pub soft: bool,
}

fn json(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    let text = format!("{v}\n");
    let mut r = Response::new(body::full(text.clone()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&text.len().to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    r
}

fn error(status: StatusCode, msg: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": msg }))
}

/// A URL or prefix as the index holds keys: absolute ones normalised, paths as they are.
fn normalise(u: &str) -> Result<String, String> {
    if u.starts_with('/') {
        return Ok(u.to_owned());
    }
    for scheme in ["http", "https"] {
        if let Some(rest) = u.strip_prefix(scheme).and_then(|r| r.strip_prefix("://")) {
            let slash = rest.find('/').unwrap_or(rest.len());
            let path = if slash == rest.len() {
                "/"
            } else {
                &rest[slash..]
            };
            return primary_key(scheme, &rest[..slash], path).map_err(|e| format!("{u:?}: {e}"));
        }
    }
    Err(format!("{u:?} is neither a path nor an http(s) URL"))
}

impl Proxy {
    /// Answers `/.tinycdn/purge`.
    pub async fn purge(self: &Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let Some(token) = &self.config.purge_token else {
            return error(
                StatusCode::NOT_FOUND,
                "purging is off: start the edge with --purge-token-file",
            );
        };
        if req.method() != Method::POST {
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return r;
        }
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // blake3::Hash compares in constant time.
        if blake3::hash(given.trim().as_bytes()) != blake3::hash(token.as_bytes()) {
            let mut r = error(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
        let bytes: Bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the purge request is larger than 64 KiB or broke off",
                )
            }
        };
        let asked: PurgeRequest = match serde_json::from_slice(&bytes) {
            Ok(a) => a,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("not a purge request: {e}"),
                )
            }
        };
        let mut selectors = Vec::new();
        for (list, make) in [
            (&asked.urls, Selector::Url as fn(String) -> Selector),
            (&asked.prefixes, Selector::Prefix as fn(String) -> Selector),
        ] {
            for u in list {
                match normalise(u) {
                    Ok(n) => selectors.push(make(n)),
                    Err(e) => return error(StatusCode::BAD_REQUEST, &e),
                }
            }
        }
        selectors.extend(asked.keys.iter().cloned().map(Selector::Key));
        if selectors.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "name at least one of urls, prefixes, keys",
            );
        }
        let purged: usize = selectors
            .iter()
            .map(|s| self.responses.purge(s, asked.soft))
            .sum();
        self.counters
            .purged
            .fetch_add(purged as u64, Ordering::Relaxed);
        json(
            StatusCode::OK,
            &serde_json::json!({ "purged": purged, "soft": asked.soft }),
        )
    }
}

/// Why a purge request sent to an edge failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PurgeError {
    /// The edge URL is not `http://HOST:PORT`.
    #[error("invalid edge URL {0:?}: use http://HOST:PORT")]
    BadUrl(String),
    /// The edge could not be reached or broke off.
    #[error("cannot reach the edge {edge}: {why}")]
    Unreachable {
        /// The edge.
        edge: String,
        /// What went wrong.
        why: String,
    },
    /// The edge refused the purge.
    #[error("the edge refused the purge ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The edge's message.
        message: String,
    },
}

/// Sends a purge to an edge (`http://HOST:PORT`) and returns how many stored responses went.
///
/// # Errors
/// [`PurgeError`].
pub async fn send(edge: &str, token: &str, request: &PurgeRequest) -> Result<u64, PurgeError> {
    let base = edge.trim_end_matches('/');
    if !base.starts_with("http://") || base["http://".len()..].contains('/') {
        return Err(PurgeError::BadUrl(edge.to_owned()));
    }
    let unreachable = |why: String| PurgeError::Unreachable {
        edge: base.to_owned(),
        why,
    };
    let body = serde_json::to_vec(request).map_err(|e| unreachable(e.to_string()))?;
    let req = Request::post(format!("{base}/.tinycdn/purge"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(http_body_util::Full::new(Bytes::from(body)))
        .map_err(|_| PurgeError::BadUrl(edge.to_owned()))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<Bytes>>();
    let resp = tokio::time::timeout(std::time::Duration::from_secs(30), client.request(req))
        .await
        .map_err(|_| unreachable("no answer within 30 s".into()))?
        .map_err(|e| unreachable(super::origin::source_text(&e)))?;
    let status = resp.status();
    let bytes = Limited::new(resp.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let message = v["error"].as_str().map_or_else(
            || String::from_utf8_lossy(&bytes).trim().to_owned(),
            str::to_owned,
        );
        return Err(PurgeError::Refused {
            status: status.as_u16(),
            message,
        });
    }
    v["purged"]
        .as_u64()
        .ok_or_else(|| unreachable("the answer is not a purge result".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_urls_are_normalised_like_keys() {
        assert_eq!(
            normalise("http://Example.com:80/a?b").as_deref(),
            Ok("http://example.com/a?b")
        );
        assert_eq!(
            normalise("https://x.example").as_deref(),
            Ok("https://x.example/")
        );
        assert_eq!(normalise("/img/").as_deref(), Ok("/img/"));
        assert!(normalise("ftp://x/").is_err());
        assert!(normalise("img").is_err());
    }
}
