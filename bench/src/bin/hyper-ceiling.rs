//! The ceiling of the proxy benchmark: the simplest hyper server there is (HTTP/1.1 keep-alive and
//! h2c, tokio's default multi-threaded runtime), answering every request with the same 4 KiB
//! from memory and the headers a cache hit carries. Nothing tinycdn does on a hit can be faster
//! than this on the same stack. Usage: `hyper-ceiling ADDR` (prints its URL).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::HeaderValue;
use hyper::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("http://{}", listener.local_addr()?);
    let body = Bytes::from(vec![0x42u8; 4096]);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |_req| {
                let mut r = Response::new(Full::new(body.clone()));
                let h = r.headers_mut();
                h.insert(
                    "cache-control",
                    HeaderValue::from_static("public, max-age=3600"),
                );
                h.insert(
                    "content-type",
                    HeaderValue::from_static("application/octet-stream"),
                );
                h.insert("etag", HeaderValue::from_static("\"4096-v1\""));
                async move { Ok::<_, Infallible>(r) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
