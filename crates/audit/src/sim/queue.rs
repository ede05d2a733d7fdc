//! Least recently used, and first in, first out: one queue, a hit moving its object to the head
//! (LRU) or not (FIFO).

use super::{list::List, make_room, Policy};

pub(super) struct Queue {
    list: List,
    size: Vec<u32>,
    used: u64,
    capacity: u64,
    /// LRU: hits move to the head.
    promote: bool,
}

impl Queue {
    pub fn lru(n: usize, capacity: u64) -> Self {
        Self::new(n, capacity, true)
    }

    pub fn fifo(n: usize, capacity: u64) -> Self {
        Self::new(n, capacity, false)
    }

    fn new(n: usize, capacity: u64, promote: bool) -> Self {
        Self {
            list: List::new(n),
            size: vec![0; n],
            used: 0,
            capacity,
            promote,
        }
    }
}

impl Policy for Queue {
    fn access(&mut self, _: usize, id: u32, size: u32) -> bool {
        if self.list.contains(id) {
            if self.promote {
                self.list.move_to_head(id);
            }
            return true;
        }
        let (list, sizes) = (&mut self.list, &self.size);
        if make_room(&mut self.used, self.capacity, size, || {
            list.pop_tail().map(|v| sizes[v as usize])
        }) {
            self.list.push_head(id);
            self.size[id as usize] = size;
        }
        false
    }
}
