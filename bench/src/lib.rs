//! Shared helpers of the measurement tools: walking a tree of files, and the hyper server loop of
//! the proxy benchmark's application and ceiling.

use std::path::{Path, PathBuf};

/// Every regular file under `root` (symlinks not followed), with its size, largest first.
///
/// # Errors
/// I/O errors while listing.
pub fn files(root: &Path) -> std::io::Result<Vec<(PathBuf, u64)>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir)? {
            let e = e?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                out.push((e.path(), e.metadata()?.len()));
            }
        }
    }
    out.sort_by_key(|(_, len)| std::cmp::Reverse(*len));
    Ok(out)
}

/// Serves `answer` with hyper (HTTP/1.1 keep-alive and h2c, tokio's default runtime) on the
/// address in the first argument (default `127.0.0.1:0`), printing its URL first; the accept loop
/// of `bench-app` and `hyper-ceiling`.
///
/// # Errors
/// The address cannot be bound, or accepting fails.
pub async fn serve_http<F, Fut>(answer: F) -> anyhow::Result<()>
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = hyper::Response<http_body_util::Full<bytes::Bytes>>>
        + Send
        + 'static,
{
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let answer = answer.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let fut = answer(req);
                async move { Ok::<_, std::convert::Infallible>(fut.await) }
            });
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
        });
    }
}

/// The header fields of a cacheable answer: `public, max-age=3600`, octet-stream, `etag`.
pub fn cacheable(headers: &mut hyper::HeaderMap, etag: &str) {
    use hyper::header::HeaderValue;
    headers.insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert("etag", v);
    }
}
