//! The variant records on the cache disk (`img/<name>`: which chunk holds a variant) are
//! trimmed: a record whose chunk the cache no longer holds is dead, and when records reach
//! their share of `--cache-size` (the cache refuses the write) the dead ones are removed, at
//! most once a minute, so that requests for ever new variants cannot fill the disk with them.

use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use super::{Images, Meta};

/// Trims run at most this often.
const TRIM_EVERY: Duration = Duration::from_secs(60);

impl Images {
    /// Writes the record of variant `name`; when records hold their share of the disk, trims
    /// the dead ones first (at most once a minute) and tries once more.
    pub(super) fn keep_record(&self, name: &[u8; 32], meta: &Meta) {
        let key = format!("img/{}", hex::encode(name));
        let text = meta.to_text();
        if self.cache.put_meta(&key, text.as_bytes()) || !self.trim_due() {
            return;
        }
        self.trim_records();
        self.cache.put_meta(&key, text.as_bytes());
    }

    fn trim_due(&self) -> bool {
        let mut last = self
            .last_trim
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < TRIM_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }

    /// Removes the records whose variant the cache no longer holds; how many it removed.
    pub fn trim_records(&self) -> u64 {
        let mut removed = 0;
        for key in self.cache.list_meta("img") {
            let live = self
                .cache
                .get_meta(&key)
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|t| Meta::from_text(&t))
                .is_some_and(|m| self.cache.contains(&m.hash));
            if !live {
                self.cache.delete_meta(&key);
                if let Some(name) = key
                    .strip_prefix("img/")
                    .and_then(|h| hex::decode(h).ok())
                    .and_then(|v| <[u8; 32]>::try_from(v).ok())
                {
                    self.index.remove(&name);
                }
                removed += 1;
            }
        }
        self.counters
            .records_trimmed
            .fetch_add(removed, Ordering::Relaxed);
        removed
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use tinycdn_core::ChunkId;
    use tinycdn_image::params::Format;

    use super::*;
    use crate::cache::ChunkCache;
    use crate::images::ImageConfig;

    fn record(bytes: &[u8]) -> Meta {
        Meta {
            hash: ChunkId::of(bytes),
            len: bytes.len() as u64,
            format: Format::Webp,
            width: 1,
            height: 1,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_of_evicted_variants_are_trimmed_and_live_ones_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = Arc::new(ChunkCache::new(1 << 20, Some((dir.path(), 1 << 20))).expect("cache"));
        let images = Images::new(ImageConfig::default(), cache.clone());
        let live = Bytes::from_static(b"a variant still held");
        cache.put(ChunkId::of(&live), live.clone()).await;
        images.keep_record(&[1; 32], &record(&live));
        images.keep_record(&[2; 32], &record(b"a variant evicted since"));
        assert!(cache.put_meta("img/not-hex", b"garbage"));
        assert_eq!(images.trim_records(), 2, "the dead record and the garbage");
        assert_eq!(
            cache.list_meta("img"),
            vec![format!("img/{}", hex::encode([1; 32]))]
        );
        assert_eq!(images.counters.records_trimmed.load(Ordering::Relaxed), 2);
    }
}
