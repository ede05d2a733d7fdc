//! The ceiling for publish: FastCDC 2020 (the stock `StreamCDC`) plus a BLAKE3 hash of every chunk
//! over a tree, on all cores, writing nothing. `tinycdn publish` is compared against this.
//!
//! Usage: `cdc-baseline DIR MIN AVG MAX`; prints one JSON line.

use std::fs::File;
use std::time::Instant;

use anyhow::{Context, Result};
use fastcdc::v2020::StreamCDC;
use rayon::prelude::*;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, min, avg, max] = &args[..] else {
        anyhow::bail!("usage: cdc-baseline DIR MIN AVG MAX");
    };
    let (min, avg, max): (usize, usize, usize) = (min.parse()?, avg.parse()?, max.parse()?);
    let files = tinycdn_bench::files(dir.as_ref())?;
    let start = Instant::now();
    let (bytes, chunks) = files
        .par_iter()
        .map(|(path, _)| -> Result<(u64, u64)> {
            let f = File::open(path).with_context(|| path.display().to_string())?;
            let mut n = (0u64, 0u64);
            for chunk in StreamCDC::new(f, min, avg, max) {
                let chunk = chunk?;
                std::hint::black_box(blake3::hash(&chunk.data));
                n.0 += chunk.length as u64;
                n.1 += 1;
            }
            Ok(n)
        })
        .try_reduce(|| (0, 0), |a, b| Ok((a.0 + b.0, a.1 + b.1)))?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"bytes\":{bytes},\"chunks\":{chunks},\"seconds\":{secs:.4},\"mib_per_s\":{:.1},\"threads\":{}}}",
        bytes as f64 / secs / 1048576.0,
        rayon::current_num_threads()
    );
    Ok(())
}
