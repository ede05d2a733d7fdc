//! The policy's state as bytes: queue order, access marks, ghosts and SIEVE's hand, checked by a
//! BLAKE3 trailer; restored against what is really on disk, so a stale, torn or foreign snapshot
//! can only cost ordering, never a wrong size or a chunk the disk does not hold.

use std::collections::HashMap;

use super::slab::Queue;
use super::{DiskKind, DiskPolicy, Key};

const MAGIC: &[u8] = b"tinycdn-disk-tier 1\n";
const HASH: usize = 32;
/// Entries a snapshot may claim per queue before its length is even checked (a bound on work).
const MAX_ENTRIES: u64 = 1 << 32;

/// Why a snapshot was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Not a snapshot of this format (or of another key type).
    #[error("not a disk-tier snapshot (bad magic or key length)")]
    Format,
    /// The checksum does not match: torn or damaged.
    #[error("disk-tier snapshot checksum mismatch")]
    Checksum,
    /// Lengths inside do not add up.
    #[error("disk-tier snapshot truncated or malformed at byte {0}")]
    Malformed(usize),
}

/// What [`DiskPolicy::restore`] did.
#[derive(Debug, Clone)]
pub struct Restored<K> {
    /// The policy, holding exactly the entries on disk that fit.
    pub policy: DiskPolicy<K>,
    /// Entries on disk beyond the bound (the bound shrank): delete them.
    pub victims: Vec<K>,
    /// Entries placed where the snapshot had them.
    pub from_snapshot: usize,
    /// Entries on disk the snapshot did not know (written after it), added as new.
    pub added: usize,
    /// Why the snapshot was not used, if it was not.
    pub error: Option<SnapshotError>,
}

struct Decoded<K> {
    kind: DiskKind,
    has_evicted: bool,
    queues: [Vec<(K, u64, u8)>; 3],
    hand: Option<u64>,
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(SnapshotError::Malformed(self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
}

fn decode<K: Key>(bytes: &[u8]) -> Result<Decoded<K>, SnapshotError> {
    if bytes.len() < MAGIC.len() + HASH || !bytes.starts_with(MAGIC) {
        return Err(SnapshotError::Format);
    }
    let (body, sum) = bytes.split_at(bytes.len() - HASH);
    if blake3::hash(body).as_bytes() != sum {
        return Err(SnapshotError::Checksum);
    }
    let mut r = Reader {
        b: body,
        at: MAGIC.len(),
    };
    let kind = DiskKind::from_u8(r.u8()?).ok_or(SnapshotError::Malformed(r.at - 1))?;
    let has_evicted = r.u8()? != 0;
    if usize::from(r.u8()?) != K::LEN {
        return Err(SnapshotError::Format);
    }
    let mut queues: [Vec<(K, u64, u8)>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for q in &mut queues {
        let n = r.u64()?;
        let each = K::LEN + 9;
        let fits = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(each))
            .is_some_and(|need| need <= body.len() - r.at);
        if n > MAX_ENTRIES || !fits {
            return Err(SnapshotError::Malformed(r.at));
        }
        for _ in 0..n {
            let key = K::decode(r.take(K::LEN)?).ok_or(SnapshotError::Malformed(r.at))?;
            let size = r.u64()?;
            let mark = r.u8()?.min(3);
            q.push((key, size, mark));
        }
    }
    let hand = Some(r.u64()?).filter(|&h| h != u64::MAX);
    if r.at != body.len() {
        return Err(SnapshotError::Malformed(r.at));
    }
    Ok(Decoded {
        kind,
        has_evicted,
        queues,
        hand,
    })
}

impl<K: Key> DiskPolicy<K> {
    /// The state as bytes, for [`DiskPolicy::restore`].
    #[must_use]
    pub fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAGIC.len() + 64 + self.index.len() * (K::LEN + 9));
        out.extend_from_slice(MAGIC);
        out.push(self.kind.to_u8());
        out.push(u8::from(self.has_evicted));
        out.push(u8::try_from(K::LEN).unwrap_or(u8::MAX));
        let mut hand = u64::MAX;
        for q in Queue::ALL {
            out.extend_from_slice(&(self.slab.len(q) as u64).to_le_bytes());
            for (pos, i) in self.slab.oldest_first(q).enumerate() {
                if q == Queue::Main && self.hand == Some(i) {
                    hand = pos as u64;
                }
                let n = self.slab.node(i);
                n.key.encode(&mut out);
                out.extend_from_slice(&n.size.to_le_bytes());
                out.push(n.mark);
            }
        }
        out.extend_from_slice(&hand.to_le_bytes());
        let sum = blake3::hash(&out);
        out.extend_from_slice(sum.as_bytes());
        out
    }

    /// A policy of `kind` and `capacity` holding exactly the entries `on_disk` lists (key and
    /// size as found on disk), ordered and marked as `snapshot` had them where it knew them
    /// (ordering only, when the snapshot was of another policy). Entries the snapshot did not
    /// know are added as new; a snapshot that fails its checks is reported and ignored.
    #[must_use]
    pub fn restore(
        kind: DiskKind,
        capacity: u64,
        snapshot: Option<&[u8]>,
        on_disk: impl IntoIterator<Item = (K, u64)>,
    ) -> Restored<K> {
        let mut disk: HashMap<K, u64> = on_disk.into_iter().collect();
        let mut p = Self::new(kind, capacity);
        let (mut from_snapshot, mut error) = (0, None);
        match snapshot.map(decode::<K>) {
            Some(Ok(d)) => {
                let same = d.kind == kind;
                p.has_evicted = same && d.has_evicted;
                let [main, small, ghost] = d.queues;
                for (q, entries) in [(Queue::Main, main), (Queue::Small, small)] {
                    let q = if same { q } else { Queue::Main };
                    for (pos, (key, _, mark)) in entries.into_iter().enumerate() {
                        let Some(size) = disk.remove(&key) else {
                            continue;
                        };
                        let i = p.slab.push(q, key, size, if same { mark } else { 0 });
                        p.index.insert(key, i);
                        from_snapshot += 1;
                        if same && q == Queue::Main && d.hand == Some(pos as u64) {
                            p.hand = Some(i);
                        }
                    }
                }
                if same && kind == DiskKind::S3Fifo {
                    for (key, size, _) in ghost {
                        if !disk.contains_key(&key) && !p.index.contains_key(&key) {
                            let i = p.slab.push(Queue::Ghost, key, size, 0);
                            p.index.insert(key, i);
                        }
                    }
                }
            }
            Some(Err(e)) => error = Some(e),
            None => {}
        }
        // What the snapshot did not know, in a stable order.
        let mut rest: Vec<(K, u64)> = disk.into_iter().collect();
        rest.sort_by_key(|(k, _)| {
            let mut b = Vec::with_capacity(K::LEN);
            k.encode(&mut b);
            b
        });
        let added = rest.len();
        let new_queue = match kind {
            DiskKind::S3Fifo => Queue::Small,
            DiskKind::Fifo | DiskKind::Sieve => Queue::Main,
        };
        for (key, size) in rest {
            if let Some(&g) = p.index.get(&key) {
                p.slab.remove(g);
            }
            let i = p.slab.push(new_queue, key, size, 0);
            p.index.insert(key, i);
        }
        let mut victims = Vec::new();
        while p.used() > p.capacity {
            match p.evict_one() {
                Some(v) => victims.push(v),
                None => break,
            }
        }
        Restored {
            policy: p,
            victims,
            from_snapshot,
            added,
            error,
        }
    }
}
