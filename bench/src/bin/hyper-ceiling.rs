//! The ceiling of the proxy benchmark: the simplest hyper server there is (HTTP/1.1 keep-alive and
//! h2c, tokio's default multi-threaded runtime), answering every request with the same 4 KiB
//! from memory and the headers a cache hit carries. Nothing tinycdn does on a hit can be faster
//! than this on the same stack. Usage: `hyper-ceiling ADDR` (prints its URL).

use bytes::Bytes;
use http_body_util::Full;
use hyper::Response;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let body = Bytes::from(vec![0x42u8; 4096]);
    tinycdn_bench::serve_http(move |_req| {
        let mut r = Response::new(Full::new(body.clone()));
        tinycdn_bench::cacheable(r.headers_mut(), "\"4096-v1\"");
        async move { r }
    })
    .await
}
