//! Measures candidate FastCDC chunk sizes on a media tree: how many objects each makes, and how much
//! of a file survives typical edits as reusable chunks.
//!
//! Usage: `chunk-sizes DIR [PAIRS_DIR]`. PAIRS_DIR may hold real version pairs as `NAME.old` and
//! `NAME.new` files (a clip re-muxed after trimming, say); their reuse is reported per pair.
//! Edits applied to every file of at least 256 KiB in DIR:
//! - `header`: 1 KiB of metadata inserted at byte 64 (an EXIF/XMP or `moov` tweak);
//! - `middle`: 4 KiB replaced in the middle (a re-encoded region);
//! - `trim-tail`: the last 10% removed; `trim-head`: the first 10% removed;
//! - `append`: 10% of new bytes appended.
//!
//! Reuse is the share of the new file's bytes held in chunks the old file already had.

use std::collections::HashSet;
use std::path::Path;

use anyhow::Result;
use tinycdn_core::chunking::{ChunkParams, Chunker};
use tinycdn_core::ChunkId;

const CANDIDATES: [(u32, u32, u32); 4] = [
    (16 << 10, 64 << 10, 256 << 10),
    (32 << 10, 128 << 10, 512 << 10),
    (64 << 10, 256 << 10, 1 << 20),
    (128 << 10, 512 << 10, 2 << 20),
];

fn reuse(chunker: &Chunker, old: &[u8], new: &[u8]) -> (u64, u64) {
    let have: HashSet<ChunkId> = chunker.chunks(old).map(ChunkId::of).collect();
    let mut reused = 0u64;
    for c in chunker.chunks(new) {
        if have.contains(&ChunkId::of(c)) {
            reused += c.len() as u64;
        }
    }
    (reused, new.len() as u64)
}

fn edits(data: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let n = data.len();
    let filler: Vec<u8> = (0..n / 10).map(|i| (i * 31 % 251) as u8).collect();
    let mut header = data.to_vec();
    header.splice(64..64, vec![0xA5; 1024]);
    let mut middle = data.to_vec();
    middle[n / 2..n / 2 + 4096]
        .iter_mut()
        .for_each(|b| *b ^= 0x5A);
    let mut append = data.to_vec();
    append.extend_from_slice(&filler);
    vec![
        ("header", header),
        ("middle", middle),
        ("trim-tail", data[..n - n / 10].to_vec()),
        ("trim-head", data[n / 10..].to_vec()),
        ("append", append),
    ]
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .ok_or_else(|| anyhow::anyhow!("usage: chunk-sizes DIR [PAIRS_DIR]"))?;
    let pairs = args.get(2);
    let files = tinycdn_bench::files(Path::new(dir))?;
    let total: u64 = files.iter().map(|f| f.1).sum();
    println!(
        "tree: {} files, {:.1} MiB",
        files.len(),
        total as f64 / 1048576.0
    );
    println!("| min/avg/max KiB | chunks | mean chunk KiB | multi-chunk files | header | middle | trim-tail | trim-head | append | real pairs |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (min, avg, max) in CANDIDATES {
        let chunker = Chunker::new(ChunkParams { min, avg, max })?;
        let mut chunks = 0u64;
        let mut multi = 0u64;
        let mut sums = [(0u64, 0u64); 5];
        for (path, len) in &files {
            let data = std::fs::read(path)?;
            let n = chunker.chunks(&data).count() as u64;
            chunks += n;
            multi += u64::from(n > 1);
            if *len >= 256 << 10 {
                for (i, (_, new)) in edits(&data).iter().enumerate() {
                    let (r, t) = reuse(&chunker, &data, new);
                    sums[i].0 += r;
                    sums[i].1 += t;
                }
            }
        }
        let mut real = (0u64, 0u64);
        if let Some(p) = pairs {
            for (path, _) in tinycdn_bench::files(Path::new(p))? {
                if path.extension().is_some_and(|e| e == "old") {
                    let new_path = path.with_extension("new");
                    let (r, t) =
                        reuse(&chunker, &std::fs::read(&path)?, &std::fs::read(&new_path)?);
                    real.0 += r;
                    real.1 += t;
                }
            }
        }
        let pct = |(r, t): (u64, u64)| {
            if t == 0 {
                "-".to_owned()
            } else {
                format!("{:.1}%", r as f64 * 100.0 / t as f64)
            }
        };
        println!(
            "| {}/{}/{} | {chunks} | {:.1} | {multi} | {} | {} | {} | {} | {} | {} |",
            min >> 10,
            avg >> 10,
            max >> 10,
            total as f64 / chunks.max(1) as f64 / 1024.0,
            pct(sums[0]),
            pct(sums[1]),
            pct(sums[2]),
            pct(sums[3]),
            pct(sums[4]),
            pct(real)
        );
    }
    Ok(())
}
