//! Sending a plan to one target: requests started on a schedule (`rate` per second, or as fast
//! as `concurrency` allows), at most `concurrency` in flight, for at most `duration`; every
//! response timed from the moment its request was sent to its first body byte and to its last.
//! Connections are kept alive and reused, as a browser or a container's HTTP client does.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::plan::Planned;
use crate::stats::{Sample, Summary, Verdict};

/// How to replay.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests started per second (`0`: no pacing, as fast as `concurrency` allows).
    pub rate: f64,
    /// Stop starting requests after this long.
    pub duration: Option<Duration>,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// One request's time limit, headers and body.
    pub timeout: Duration,
    /// Send the logged `Host` (when the log has it) instead of the target's.
    pub keep_host: bool,
}

/// Why a replay could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The base URL is not `http://HOST[:PORT][/PREFIX]`.
    #[error("invalid target {0:?}: use http://HOST[:PORT][/PREFIX] (https is not supported)")]
    BadTarget(String),
}

/// `base` split into what requests need: authority and a path prefix without trailing `/`.
fn parse_base(base: &str) -> Result<(String, String), ReplayError> {
    let bad = || ReplayError::BadTarget(base.to_owned());
    let uri: Uri = base.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("http") || uri.query().is_some() {
        return Err(bad());
    }
    let authority = uri.authority().ok_or_else(bad)?.to_string();
    Ok((authority, uri.path().trim_end_matches('/').to_owned()))
}

/// What the tasks gather.
#[derive(Default)]
struct Gathered {
    samples: Vec<Sample>,
    errors: u64,
    first_error: Option<String>,
}

/// Replays `plan` against `base`; `progress` is called with each request finished.
///
/// # Errors
/// `base` is not an `http://` URL.
pub async fn replay(
    base: &str,
    plan: &[Planned],
    opts: &Options,
    progress: Arc<dyn Fn() + Send + Sync>,
) -> Result<Summary, ReplayError> {
    let (authority, prefix) = parse_base(base)?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(opts.timeout));
    let client: Client<HttpConnector, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(opts.concurrency.max(1))
        .build(connector);
    let permits = Arc::new(tokio::sync::Semaphore::new(opts.concurrency.max(1)));
    let gathered = Arc::new(Mutex::new(Gathered::default()));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, p) in plan.iter().enumerate() {
        if opts.rate > 0.0 {
            let due = start + Duration::from_secs_f64(i as f64 / opts.rate);
            tokio::time::sleep_until(due.into()).await;
        }
        if opts.duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let uri = format!("http://{authority}{prefix}{}", p.target);
        let host = if opts.keep_host { p.host.clone() } else { None };
        let (client, gathered, progress, timeout) = (
            client.clone(),
            gathered.clone(),
            progress.clone(),
            opts.timeout,
        );
        tasks.spawn(async move {
            let r = tokio::time::timeout(timeout, one(&client, &uri, host.as_deref())).await;
            let mut g = gathered.lock().unwrap_or_else(PoisonError::into_inner);
            match r {
                Ok(Ok(s)) => g.samples.push(s),
                Ok(Err(e)) => {
                    g.errors += 1;
                    g.first_error.get_or_insert_with(|| format!("{uri}: {e}"));
                }
                Err(_) => {
                    g.errors += 1;
                    g.first_error
                        .get_or_insert_with(|| format!("{uri}: timed out after {timeout:?}"));
                }
            }
            drop(g);
            drop(permit);
            progress();
        });
    }
    while tasks.join_next().await.is_some() {}
    let seconds = start.elapsed().as_secs_f64();
    let g = std::mem::take(&mut *gathered.lock().unwrap_or_else(PoisonError::into_inner));
    Ok(Summary::of(
        base,
        &g.samples,
        g.errors,
        g.first_error,
        seconds,
    ))
}

/// One request, timed.
async fn one(
    client: &Client<HttpConnector, Empty<Bytes>>,
    uri: &str,
    host: Option<&str>,
) -> Result<Sample, String> {
    let mut req = Request::get(uri)
        .header(header::USER_AGENT, "tinycdn-replay")
        .body(Empty::new())
        .map_err(|e| e.to_string())?;
    if let Some(h) = host.and_then(|h| HeaderValue::from_str(h).ok()) {
        req.headers_mut().insert(header::HOST, h);
    }
    let sent = Instant::now();
    let resp = client.request(req).await.map_err(|e| e.to_string())?;
    let headers_at = sent.elapsed();
    let h = resp.headers();
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    let verdict = Verdict::from_headers(
        text("cache-status"),
        text("x-cache").or_else(|| text("x-cache-status")),
        text("age"),
    );
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let (mut ttfb, mut bytes) = (None, 0u64);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("body cut short after {bytes} bytes: {e}"))?;
        if let Some(d) = frame.data_ref() {
            if !d.is_empty() && ttfb.is_none() {
                ttfb = Some(sent.elapsed());
            }
            bytes += d.len() as u64;
        }
    }
    Ok(Sample {
        ttfb: ttfb.unwrap_or(headers_at),
        total: sent.elapsed(),
        bytes,
        status,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_plain_http_base_urls() {
        assert_eq!(
            parse_base("http://127.0.0.1:8080").expect("ok"),
            ("127.0.0.1:8080".into(), String::new())
        );
        assert_eq!(
            parse_base("http://edge:80/cdn/").expect("ok"),
            ("edge:80".into(), "/cdn".into())
        );
        for bad in ["https://a", "ftp://a", "a:80", "http://a/?x=1", ""] {
            assert!(parse_base(bad).is_err(), "{bad}");
        }
    }
}
