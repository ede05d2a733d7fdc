//! In-process delta apply throughput: for each `OLD NEW` pair given, makes the delta `tinycdn
//! delta create` would (auto), then applies it 10 times and reports the fastest and median, in
//! MB/s of target produced. The apply includes every check the node makes (base hash, target
//! hash); it excludes process start-up and file I/O, which `bench/delta.sh` measures end to end.
//!
//! Usage: `delta-apply OLD NEW [OLD NEW]...`

use std::time::Instant;

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.len() % 2 != 0 {
        bail!("usage: delta-apply OLD NEW [OLD NEW]...");
    }
    println!("| pair | method | delta bytes | target MB | apply best MB/s | apply median MB/s |");
    println!("|---|---|---|---|---|---|");
    for pair in args.chunks(2) {
        let base = std::fs::read(&pair[0]).with_context(|| pair[0].clone())?;
        let target = std::fs::read(&pair[1]).with_context(|| pair[1].clone())?;
        let created = tinycdn_delta::create_auto(&base, &target)?;
        let bytes = created.delta.to_bytes();
        let mut times = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            let out = tinycdn_delta::apply(&base, &bytes)?;
            times.push(t.elapsed().as_secs_f64());
            if out != target {
                bail!("{}: the delta does not reproduce the target", pair[1]);
            }
        }
        times.sort_by(f64::total_cmp);
        let mb = target.len() as f64 / 1e6;
        println!(
            "| {} | {} | {} | {mb:.1} | {:.0} | {:.0} |",
            pair[1],
            created.delta.header.method.name(),
            bytes.len(),
            mb / times[0],
            mb / times[times.len() / 2]
        );
    }
    Ok(())
}
