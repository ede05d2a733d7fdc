//! Choosing one victim, per policy.

use super::slab::Queue;
use super::{DiskKind, DiskPolicy, Key};

/// S3-FIFO moves an entry from small to main once it was used this often.
const MOVE_TO_MAIN: u8 = 2;

impl<K: Key> DiskPolicy<K> {
    /// Evicts one held entry; its key, or `None` when nothing is held.
    pub(super) fn evict_one(&mut self) -> Option<K> {
        let i = match self.kind {
            DiskKind::Fifo => self.slab.tail(Queue::Main)?,
            DiskKind::Sieve => self.sieve_victim()?,
            DiskKind::S3Fifo => return self.s3fifo_evict(),
        };
        Some(self.drop_slot(i))
    }

    fn drop_slot(&mut self, i: u32) -> K {
        if self.hand == Some(i) {
            self.hand = self.slab.newer(i);
        }
        let (key, _) = self.slab.remove(i);
        self.index.remove(&key);
        key
    }

    /// SIEVE: from the hand toward the head (wrapping to the tail), clear visited bits until an
    /// unvisited entry; the hand stays just past it.
    fn sieve_victim(&mut self) -> Option<u32> {
        let tail = self.slab.tail(Queue::Main)?;
        let mut h = self.hand.unwrap_or(tail);
        loop {
            let n = self.slab.node_mut(h);
            if n.mark == 0 {
                self.hand = self.slab.newer(h);
                return Some(h);
            }
            n.mark = 0;
            h = self.slab.newer(h).unwrap_or(tail);
        }
    }

    fn s3fifo_evict(&mut self) -> Option<K> {
        self.has_evicted = true;
        let main_over = self.slab.bytes(Queue::Main) > self.capacity - self.small_capacity();
        if main_over || self.slab.len(Queue::Small) == 0 {
            self.s3fifo_evict_main()
                .or_else(|| self.s3fifo_evict_small())
        } else {
            self.s3fifo_evict_small()
                .or_else(|| self.s3fifo_evict_main())
        }
    }

    /// Main: a 2-bit clock; a used entry goes back to the head with one use less.
    fn s3fifo_evict_main(&mut self) -> Option<K> {
        while let Some(t) = self.slab.tail(Queue::Main) {
            let n = self.slab.node_mut(t);
            if n.mark >= 1 {
                n.mark = n.mark.min(3) - 1;
                self.slab.move_to(t, Queue::Main);
            } else {
                return Some(self.drop_slot(t));
            }
        }
        None
    }

    /// Small: an entry used twice moves to main (its count reset); the first one that was not is
    /// evicted and remembered as a ghost.
    fn s3fifo_evict_small(&mut self) -> Option<K> {
        while let Some(t) = self.slab.tail(Queue::Small) {
            let n = self.slab.node_mut(t);
            if n.mark >= MOVE_TO_MAIN {
                n.mark = 0;
                self.slab.move_to(t, Queue::Main);
            } else {
                let (key, size) = (n.key, n.size);
                self.slab.remove(t);
                self.index.remove(&key);
                self.remember_ghost(key, size);
                return Some(key);
            }
        }
        None
    }

    fn remember_ghost(&mut self, key: K, size: u64) {
        let cap = self.ghost_capacity();
        if size > cap {
            return;
        }
        while self.slab.bytes(Queue::Ghost) + size > cap {
            let Some(g) = self.slab.tail(Queue::Ghost) else {
                break;
            };
            let (old, _) = self.slab.remove(g);
            self.index.remove(&old);
        }
        let i = self.slab.push(Queue::Ghost, key, size, 0);
        self.index.insert(key, i);
    }
}
