//! Belady's MIN: evicts the object whose next request is furthest away (never requested again
//! first), as libCacheSim's `Belady` does — the new object is always admitted.

use std::collections::BTreeSet;

use super::{Policy, Trace};

pub(super) struct Belady {
    next: Vec<usize>,
    /// (next use, object) of every cached object.
    order: BTreeSet<(usize, u32)>,
    /// The next use each cached object is filed under, `None` when not cached.
    filed: Vec<Option<usize>>,
    size: Vec<u32>,
    used: u64,
    capacity: u64,
}

impl Belady {
    pub fn new(trace: &Trace, capacity: u64) -> Self {
        let n = trace.objects();
        Self {
            next: trace.next_uses(),
            order: BTreeSet::new(),
            filed: vec![None; n],
            size: vec![0; n],
            used: 0,
            capacity,
        }
    }
}

impl Policy for Belady {
    fn access(&mut self, index: usize, id: u32, size: u32) -> bool {
        let next = self.next[index];
        let i = id as usize;
        if let Some(old) = self.filed[i] {
            self.order.remove(&(old, id));
            self.order.insert((next, id));
            self.filed[i] = Some(next);
            return true;
        }
        if u64::from(size) > self.capacity {
            return false;
        }
        while self.used + u64::from(size) > self.capacity {
            let Some((_, v)) = self.order.pop_last() else {
                break;
            };
            self.filed[v as usize] = None;
            self.used -= u64::from(self.size[v as usize]);
        }
        self.order.insert((next, id));
        self.filed[i] = Some(next);
        self.size[i] = size;
        self.used += u64::from(size);
        false
    }
}
