//! The disk tier's policy at work in the edge's cache: what it keeps, and that what it learned
//! (order, access marks) survives a restart, while a damaged or foreign state file costs only
//! the ordering, never a chunk or a wrong byte.

use bytes::Bytes;
use tinycdn_core::ChunkId;
use tinycdn_edge::cache::{ChunkCache, DiskKind};

const CHUNK: usize = 1000;

fn chunk(i: u16) -> Bytes {
    let mut v = vec![0u8; CHUNK];
    v[..2].copy_from_slice(&i.to_le_bytes());
    Bytes::from(v)
}

/// No room in memory (every read comes from disk), ten chunks on disk.
fn open(dir: &std::path::Path, kind: DiskKind) -> ChunkCache {
    ChunkCache::with_policy(1, Some((dir, 10 * CHUNK as u64)), kind).expect("cache")
}

fn held(cache: &ChunkCache, ids: impl IntoIterator<Item = u16>) -> Vec<u16> {
    ids.into_iter()
        .filter(|&i| cache.contains(&ChunkId::of(&chunk(i))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_used_before_a_restart_outlives_the_ones_never_used_after_it() {
    for (kind, survivor) in [(DiskKind::Sieve, vec![3]), (DiskKind::Fifo, vec![9])] {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let cache = open(dir.path(), kind);
            for i in 0..10 {
                cache.put(ChunkId::of(&chunk(i)), chunk(i)).await;
            }
            assert_eq!(cache.get(&ChunkId::of(&chunk(3))).await, Some(chunk(3)));
            assert!(cache.save_disk_state());
        }
        assert!(dir.path().join("state/disk-tier").exists());
        let cache = open(dir.path(), kind);
        assert_eq!(cache.disk_bytes(), 10 * CHUNK as u64, "{kind:?}");
        for i in 100..109 {
            cache.put(ChunkId::of(&chunk(i)), chunk(i)).await;
        }
        assert_eq!(held(&cache, 0..10), survivor, "{kind:?}");
        assert_eq!(held(&cache, 100..109).len(), 9, "{kind:?}");
        assert_eq!(cache.disk_bytes(), 10 * CHUNK as u64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_state_file_keeps_every_chunk_and_serves_them_verified() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let cache = open(dir.path(), DiskKind::S3Fifo);
        for i in 0..8 {
            cache.put(ChunkId::of(&chunk(i)), chunk(i)).await;
        }
        assert!(cache.save_disk_state());
    }
    let state = dir.path().join("state/disk-tier");
    let mut bytes = std::fs::read(&state).expect("state");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&state, &bytes).expect("damage");
    // A chunk written after the state was saved (a crash before the next save) is kept too.
    let late = chunk(50);
    let hex = ChunkId::of(&late).to_hex();
    let late_path = dir.path().join("chunks").join(&hex[..2]);
    std::fs::create_dir_all(&late_path).expect("dir");
    std::fs::write(late_path.join(&hex), &late).expect("write");
    for kind in [DiskKind::S3Fifo, DiskKind::Sieve] {
        let cache = open(dir.path(), kind);
        assert_eq!(held(&cache, (0..8).chain([50])).len(), 9, "{kind:?}");
        for i in (0..8).chain([50]) {
            assert_eq!(cache.get(&ChunkId::of(&chunk(i))).await, Some(chunk(i)));
        }
    }
    // The state was rewritten whole on open: it is read back without complaint.
    let cache = open(dir.path(), DiskKind::Sieve);
    assert_eq!(cache.disk_bytes(), 9 * CHUNK as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_smaller_bound_after_a_restart_evicts_down_to_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let cache = open(dir.path(), DiskKind::Fifo);
        for i in 0..10 {
            cache.put(ChunkId::of(&chunk(i)), chunk(i)).await;
        }
        assert!(cache.save_disk_state());
    }
    let cache = ChunkCache::with_policy(1, Some((dir.path(), 4 * CHUNK as u64)), DiskKind::Fifo)
        .expect("cache");
    assert_eq!(held(&cache, 0..10), vec![6, 7, 8, 9], "the oldest went");
    let files = walk(&dir.path().join("chunks"));
    assert_eq!(files, 4, "and their files with them");
}

fn walk(p: &std::path::Path) -> usize {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
