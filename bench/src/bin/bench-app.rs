//! The application behind the proxy benchmark (`bench/proxy.sh`): a plain hyper server that
//! every cache under test fronts.
//!
//! - `/b/SIZE/NAME`: SIZE bytes (the same bytes for a SIZE), `Cache-Control: public,
//!   max-age=3600`, an `ETag`;
//! - `/slow/MS/SIZE/NAME`: the same after MS milliseconds (an application that takes time);
//! - `/vary/SIZE/NAME`: the same with `Vary: X-Variant` (`bench/hostile.sh`'s Vary explosion);
//! - `/private/SIZE/NAME`: the same with no `Cache-Control` at all (a logged-in page);
//! - `/count/PATH`: how many requests for `/PATH` it has answered.
//!
//! Usage: `bench-app ADDR` (prints its URL).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};

type Counts = Arc<Mutex<HashMap<String, u64>>>;

fn body_of(size: usize) -> Bytes {
    let mut x = 0x9e37_79b9_u32 ^ size as u32;
    Bytes::from(
        (0..size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect::<Vec<u8>>(),
    )
}

async fn answer(
    req: Request<hyper::body::Incoming>,
    counts: Counts,
    bodies: Arc<Mutex<HashMap<usize, Bytes>>>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if let Some(p) = path.strip_prefix("/count") {
        let n = counts.lock().map_or(0, |c| c.get(p).copied().unwrap_or(0));
        return Response::new(Full::new(Bytes::from(format!("{n}\n"))));
    }
    if let Ok(mut c) = counts.lock() {
        *c.entry(path.clone()).or_insert(0) += 1;
    }
    let parts: Vec<&str> = path.split('/').collect();
    let (delay, size) = match parts.as_slice() {
        ["", "b" | "vary" | "private", size, ..] => (0, size.parse().unwrap_or(0)),
        ["", "slow", ms, size, ..] => (ms.parse().unwrap_or(0), size.parse().unwrap_or(0)),
        _ => {
            let mut r = Response::new(Full::new(Bytes::from_static(b"no such path\n")));
            *r.status_mut() = hyper::StatusCode::NOT_FOUND;
            return r;
        }
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let body = {
        let mut b = bodies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        b.entry(size).or_insert_with(|| body_of(size)).clone()
    };
    let mut r = Response::new(Full::new(body));
    if parts.get(1) == Some(&"private") {
        return r;
    }
    tinycdn_bench::cacheable(r.headers_mut(), &format!("\"{size}-v1\""));
    if parts.get(1) == Some(&"vary") {
        r.headers_mut().insert(
            hyper::header::VARY,
            hyper::header::HeaderValue::from_static("X-Variant"),
        );
    }
    r
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let counts: Counts = Arc::default();
    let bodies = Arc::new(Mutex::new(HashMap::new()));
    tinycdn_bench::serve_http(move |req| answer(req, counts.clone(), bodies.clone())).await
}
