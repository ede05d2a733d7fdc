//! A thundering herd: opens N connections to a cache, and once all are open sends one `GET` for
//! the same (cold) URL on each at the same moment; reads every response to its end. Prints JSON:
//! how many came back 200 with the expected length, and the completion times.
//!
//! Usage: `burst HOST:PORT PATH N EXPECTED_BODY_BYTES`

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (addr, path) = (args[1].clone(), args[2].clone());
    let n: usize = args[3].parse()?;
    let expected: usize = args[4].parse()?;
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(TcpStream::connect(&addr).await?);
    }
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n");
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for mut c in conns {
        let req = req.clone();
        tasks.push(tokio::spawn(async move {
            c.write_all(req.as_bytes()).await.ok()?;
            let mut out = Vec::new();
            tokio::time::timeout(Duration::from_secs(60), c.read_to_end(&mut out))
                .await
                .ok()?
                .ok()?;
            let split = out.windows(4).position(|w| w == b"\r\n\r\n")?;
            let ok = out.starts_with(b"HTTP/1.1 200") && out.len() - split - 4 == expected;
            Some((ok, start.elapsed()))
        }));
    }
    let mut times = Vec::new();
    let mut ok = 0;
    for t in tasks {
        if let Ok(Some((good, at))) = t.await {
            ok += usize::from(good);
            times.push(at.as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        times
            .get(((times.len() as f64 * p) as usize).min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{{\"requests\": {n}, \"ok\": {ok}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}, \"last_ms\": {:.2}}}",
        pct(0.5),
        pct(0.99),
        times.last().copied().unwrap_or(0.0)
    );
    Ok(())
}
