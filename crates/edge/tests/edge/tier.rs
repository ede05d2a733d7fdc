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

/// A file system block: what the tier's state file takes out of `--cache-size`.
const BLOCK: u64 = 4096;

/// No room in memory (every read comes from disk), ten chunks and the state file on disk.
fn open(dir: &std::path::Path, kind: DiskKind) -> ChunkCache {
    ChunkCache::with_policy(1, Some((dir, 10 * CHUNK as u64 + BLOCK)), kind).expect("cache")
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
    let cache = ChunkCache::with_policy(
        1,
        Some((dir.path(), 4 * CHUNK as u64 + BLOCK)),
        DiskKind::Fifo,
    )
    .expect("cache");
    assert_eq!(held(&cache, 0..10), vec![6, 7, 8, 9], "the oldest went");
    let files = walk(&dir.path().join("chunks"));
    assert_eq!(files, 4, "and their files with them");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_files_count_against_the_cache_size_and_records_take_at_most_a_quarter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let size = 64 * BLOCK;
    let open = || ChunkCache::with_policy(1, Some((dir.path(), size)), DiskKind::Fifo);
    let cache = open().expect("cache");
    let big = |i: u16| {
        let mut v = vec![0u8; 4 * BLOCK as usize];
        v[..2].copy_from_slice(&i.to_le_bytes());
        Bytes::from(v)
    };
    for i in 0..16 {
        cache.put(ChunkId::of(&big(i)), big(i)).await;
    }
    assert_eq!(cache.disk_bytes(), size, "the chunks fill the tier");
    // Records of a few bytes each cost a block on disk: chunks make room for them.
    let mut written = 0;
    for i in 0..64 {
        if cache.put_meta(&format!("img/{i:064x}"), b"a record") {
            written += 1;
        }
    }
    assert_eq!(
        written, 16,
        "records may take a quarter of the disk, then are refused"
    );
    assert_eq!(cache.meta_disk_bytes(), 16 * BLOCK);
    assert!(cache.disk_bytes() + cache.meta_disk_bytes() <= size);
    assert_eq!(
        cache
            .counters
            .meta_refused
            .load(std::sync::atomic::Ordering::Relaxed),
        48
    );
    // Trust state is written whatever records hold.
    assert!(cache.put_meta("root", b"the root in force"));
    assert!(cache.put_meta("t/media/stable", b"a tag"));
    assert!(cache.disk_bytes() + cache.meta_disk_bytes() <= size);
    // Rewriting a record costs nothing more; deleting one gives its block back.
    assert!(cache.put_meta(
        "img/0000000000000000000000000000000000000000000000000000000000000000",
        b"again"
    ));
    assert_eq!(cache.meta_disk_bytes(), 18 * BLOCK);
    cache.delete_meta("img/0000000000000000000000000000000000000000000000000000000000000001");
    assert_eq!(cache.meta_disk_bytes(), 17 * BLOCK);
    drop(cache);
    // After a restart the files found are counted again.
    let cache = open().expect("cache");
    assert_eq!(cache.meta_disk_bytes(), 17 * BLOCK);
    assert!(cache.disk_bytes() + cache.meta_disk_bytes() <= size);
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
