//! The transparency log at a million entries: append rate (the sans-IO appender alone, and
//! through the store with its fsyncs, one publish's four entries per append), then proof sizes
//! and the tiles a reader fetches to check them.
//!
//! Usage: `log-scale [ENTRIES] [STORE_APPENDS]` (defaults 1000000 and 2000).

use std::time::Instant;

use anyhow::Result;
use tinycdn_core::log_entry::{Event, LogEntry};
use tinycdn_tlog::reader::{tiles_for_consistency, tiles_for_inclusion};
use tinycdn_tlog::tile::TileKind;
use tinycdn_tlog::{verify_consistency, verify_inclusion, Appender, TileHashes, TileId};

fn entry(i: u64) -> Vec<u8> {
    let id = *blake3::hash(&i.to_le_bytes()).as_bytes();
    LogEntry {
        time: 1_764_614_400 + i as i64,
        event: Event::Publish {
            volume: "media".into(),
            number: i + 1,
            version: id,
            signers: vec![id],
        },
    }
    .to_line()
    .into_bytes()
}

#[derive(Debug, thiserror::Error)]
#[error("missing tile")]
struct Missing;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let store_appends: u64 = args.next().map_or(Ok(2000), |a| a.parse())?;

    // 1. The appender alone, one entry per append (the worst case: every append re-encodes the
    // partial tiles), keeping the widest version of every tile as a store does.
    let mut tiles: std::collections::HashMap<(TileKind, u64), Vec<u8>> = Default::default();
    let mut log = Appender::new();
    let mut roots = Vec::new();
    let t0 = Instant::now();
    for i in 0..n {
        for (id, bytes) in log.append(&[entry(i)])? {
            tiles.insert((id.kind, id.index), bytes);
        }
        if (i + 1).is_power_of_two() || i + 1 == n / 2 {
            roots.push((i + 1, log.root()));
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let stored: usize = tiles.values().map(Vec::len).sum();
    println!(
        "appender: {n} entries one at a time in {secs:.2} s = {:.0} entries/s; {} tiles, {:.1} MiB stored",
        n as f64 / secs,
        tiles.len(),
        stored as f64 / 1048576.0
    );
    let root = log.root();
    let get = |id: TileId| -> Result<Vec<u8>, Missing> {
        let b = tiles.get(&(id.kind, id.index)).ok_or(Missing)?;
        Ok(match id.kind {
            TileKind::Entries => tinycdn_tlog::tile::bundle_prefix(b, id.width)
                .map_err(|_| Missing)?
                .to_vec(),
            TileKind::Hashes(_) => b.get(..usize::from(id.width) * 32).ok_or(Missing)?.to_vec(),
        })
    };

    // 2. Proofs at n entries: their size, and what a reader downloads (tiles) to make them.
    for index in [0, n / 2, n - 1] {
        let mut r = TileHashes::new(n, get);
        let proof = r.inclusion(index)?;
        let leaf = tinycdn_tlog::leaf_hash(&entry(index));
        verify_inclusion(index, n, &leaf, &proof, &root)?;
        let needed = tiles_for_inclusion(index, n);
        let bytes: usize = needed.iter().map(|t| usize::from(t.width) * 32).sum();
        println!(
            "inclusion of entry {index} in {n}: {} hashes = {} bytes; {} tiles = {:.1} KiB to fetch",
            proof.len(),
            proof.len() * 32,
            needed.len(),
            bytes as f64 / 1024.0
        );
    }
    for &(old, old_root) in roots.iter().filter(|(s, _)| *s >= 1000 && *s < n) {
        if !(old == n / 2 || old == 1 << 10 || old == 1 << 19) {
            continue;
        }
        let mut r = TileHashes::new(n, get);
        let proof = r.consistency(old)?;
        verify_consistency(old, n, &old_root, &root, &proof)?;
        let needed = tiles_for_consistency(old, n);
        let bytes: usize = needed.iter().map(|t| usize::from(t.width) * 32).sum();
        println!(
            "consistency {old} -> {n}: {} hashes = {} bytes; {} tiles = {:.1} KiB to fetch",
            proof.len(),
            proof.len() * 32,
            needed.len(),
            bytes as f64 / 1024.0
        );
    }

    // 3. Through the store on disk: each append is one publish's four entries, tiles at the
    // barrier, the signed checkpoint durable (fsync) before it returns.
    let dir = tempfile::tempdir()?;
    let store = tinycdn_store::Store::init(&dir.path().join("store"))?;
    let events = |i: u64| -> Vec<Event> {
        let id = *blake3::hash(&i.to_le_bytes()).as_bytes();
        vec![
            Event::Publish {
                volume: "media".into(),
                number: i + 1,
                version: id,
                signers: vec![id],
            },
            Event::Tag {
                volume: "media".into(),
                tag: "stable".into(),
                old: None,
                new: id,
                number: i + 1,
            },
            Event::Snapshot {
                version: i + 1,
                hash: id,
            },
            Event::Timestamp {
                version: i + 1,
                snapshot: i + 1,
            },
        ]
    };
    let timed = |label: &str| -> Result<()> {
        let t0 = Instant::now();
        for i in 0..store_appends {
            tinycdn_volume::log::append(&store, events(i))?;
        }
        let secs = t0.elapsed().as_secs_f64();
        let size = tinycdn_volume::log::checkpoint(&store)?.map_or(0, |(c, _)| c.size);
        println!(
            "store (local disk, fsync), {label}: {store_appends} appends of 4 entries in {secs:.2} s = {:.0} appends/s ({:.2} ms each); log now {size} entries",
            store_appends as f64 / secs,
            secs * 1000.0 / store_appends as f64
        );
        Ok(())
    };
    timed("empty log")?;
    // Grow the log to n entries in one batch, then time appends at that size.
    let so_far = tinycdn_volume::log::checkpoint(&store)?.map_or(0, |(c, _)| c.size);
    let fill: Vec<Event> = (so_far..n.saturating_sub(4 * store_appends))
        .map(|i| Event::Timestamp {
            version: i + 1,
            snapshot: 1,
        })
        .collect();
    let t0 = Instant::now();
    tinycdn_volume::log::append(&store, fill)?;
    println!(
        "store: one batch to {} entries in {:.2} s",
        n - 4 * store_appends,
        t0.elapsed().as_secs_f64()
    );
    timed("at the full size")?;
    Ok(())
}
