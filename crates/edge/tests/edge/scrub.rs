//! The disk tier's background scrub: a chunk damaged on disk is found by the scrub (not by a
//! request), dropped and counted; intact chunks stay and are served.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use tinycdn_core::ChunkId;
use tinycdn_edge::cache::ChunkCache;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrub_finds_and_drops_a_damaged_chunk() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No room in memory: every read after the put comes from disk.
    let cache = ChunkCache::new(1, Some((dir.path(), 1 << 30))).expect("cache");
    let chunks: Vec<Bytes> = (0..20u8)
        .map(|i| Bytes::from(vec![i; 10_000 + usize::from(i)]))
        .collect();
    for c in &chunks {
        cache.put(ChunkId::of(c), c.clone()).await;
    }
    let victim = ChunkId::of(&chunks[7]);
    let hex = victim.to_hex();
    let path = dir.path().join("chunks").join(&hex[..2]).join(&hex);
    let mut bytes = std::fs::read(&path).expect("on disk");
    bytes[500] ^= 0x40;
    std::fs::write(&path, &bytes).expect("damage");

    let mut total = tinycdn_edge::cache::ScrubStep::default();
    loop {
        let step = tokio::task::block_in_place(|| cache.scrub_step(30_000));
        total.chunks += step.chunks;
        total.bad += step.bad;
        if step.wrapped {
            break;
        }
    }
    assert_eq!((total.chunks, total.bad), (20, 1));
    assert!(!path.exists(), "the damaged chunk is dropped");
    assert_eq!(cache.counters.disk_corrupt.load(Ordering::Relaxed), 1);
    assert_eq!(cache.counters.scrub_passes.load(Ordering::Relaxed), 1);
    assert!(cache.get(&victim).await.is_none());
    for c in chunks.iter().filter(|c| ChunkId::of(c) != victim) {
        assert_eq!(cache.get(&ChunkId::of(c)).await.as_ref(), Some(c));
    }
    // A second pass finds nothing more.
    let step = tokio::task::block_in_place(|| cache.scrub_step(1 << 30));
    assert_eq!((step.chunks, step.bad, step.wrapped), (19, 0, true));
}
