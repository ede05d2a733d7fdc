//! The purge API: `POST /.tinycdn/purge` with `Authorization: Bearer TOKEN` and a JSON body
//! `{"urls": [...], "prefixes": [...], "keys": [...], "soft": false}` drops (or, soft, marks
//! for validation) the stored responses named by URL, by URL prefix and by surrogate key
//! (`Surrogate-Key`, `Cache-Tag`). The token is compared in constant time and never echoed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use tinycdn_cache_policy::key::{normalise_target, primary_key};
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

/// A URL or prefix as the index holds keys: absolute ones normalised, paths normalised as the
/// path part of a key is (so that `/%7euser` purges what `/~user` stored).
fn normalise(u: &str) -> Result<String, String> {
    if u.starts_with('/') {
        return normalise_target(u).map_err(|e| format!("{u:?}: {e}"));
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

/// Failed purge attempts a client address may make per minute before it is refused unheard.
const FAILURES_PER_MINUTE: u32 = 10;
/// Addresses whose failures are remembered; past it, the oldest minute's are forgotten.
const FAILURE_ADDRESSES: usize = 10_000;

/// Failed purge attempts per client address, per minute.
#[derive(Debug, Default)]
pub struct Failures(Mutex<HashMap<IpAddr, (u64, u32)>>);

impl Failures {
    fn minute() -> u64 {
        super::unix_now() / 60
    }

    /// Whether `ip` may try (it has not failed too often this minute).
    fn allows(&self, ip: IpAddr) -> bool {
        let m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        m.get(&ip)
            .is_none_or(|&(minute, n)| minute != Self::minute() || n < FAILURES_PER_MINUTE)
    }

    fn failed(&self, ip: IpAddr) {
        let now = Self::minute();
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if m.len() >= FAILURE_ADDRESSES {
            m.retain(|_, (minute, _)| *minute == now);
        }
        if m.len() >= FAILURE_ADDRESSES {
            return;
        }
        let e = m.entry(ip).or_insert((now, 0));
        if e.0 != now {
            *e = (now, 0);
        }
        e.1 = e.1.saturating_add(1);
    }
}

/// Why a purge token is refused at start: it must be at least 128 bits of entropy, which a
/// token of at least 22 characters drawn from a 64-symbol alphabet, or 32 hex digits, is; a
/// token made of few distinct characters or a short one is not.
///
/// # Errors
/// The reason, to print.
pub fn check_token(token: &str) -> Result<(), String> {
    let distinct = token
        .chars()
        .collect::<std::collections::HashSet<_>>()
        .len();
    let hex = token.chars().all(|c| c.is_ascii_hexdigit());
    // Bits if every character were drawn uniformly from the alphabet its characters suggest.
    let alphabet: f64 = if hex { 16.0 } else { 64.0 };
    let bits = token.chars().count() as f64 * alphabet.log2();
    if bits < 128.0 || distinct < 8 {
        return Err(format!(
            "the purge token has about {} bits of entropy; 128 are needed: make one with \
             `openssl rand -hex 16` (32 hex digits) or `openssl rand -base64 24`",
            bits as u64
        ));
    }
    Ok(())
}

impl Proxy {
    /// Answers `/.tinycdn/purge` for a client at `client`.
    pub async fn purge(self: &Arc<Self>, req: Request<Incoming>, client: IpAddr) -> Response<Body> {
        if self.config.purge_token.is_none() {
            return error(
                StatusCode::NOT_FOUND,
                "purging is off: start the edge with --purge-token-file",
            );
        }
        if req.method() != Method::POST {
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return r;
        }
        if !self.purge_failures.allows(client) {
            self.counters.purge_refused.fetch_add(1, Ordering::Relaxed);
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed purge attempts from this address: try again in a minute",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
            return r;
        }
        if !self.purge_token_matches(&req) {
            self.purge_failures.failed(client);
            self.counters.purge_refused.fetch_add(1, Ordering::Relaxed);
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
            .map(|s| {
                let all = |_: &str| true;
                let scope: &dyn Fn(&str) -> bool = match &self.scope {
                    Some(f) => f.as_ref(),
                    None => &all,
                };
                self.responses.purge(s, asked.soft, scope)
            })
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
