//! S3-FIFO (Yang et al., SOSP '23) as libCacheSim implements it: a small FIFO (10 % of the
//! bytes) that new objects enter, a main FIFO with a 2-bit clock, and a ghost FIFO (90 % of the
//! bytes, ids only) of objects the small queue evicted; an object seen twice in the small queue
//! moves to main, a ghost hit goes straight to main.

use super::{list::List, Policy};

const SMALL: f64 = 0.10;
const GHOST: f64 = 0.90;
const MOVE_TO_MAIN: u32 = 2;

/// A FIFO of sizes over dense ids.
struct Queue {
    list: List,
    used: u64,
    capacity: u64,
}

impl Queue {
    fn new(n: usize, capacity: u64) -> Self {
        Self {
            list: List::new(n),
            used: 0,
            capacity,
        }
    }

    fn push(&mut self, id: u32, size: u32) {
        self.list.push_head(id);
        self.used += u64::from(size);
    }

    fn remove(&mut self, id: u32, size: u32) {
        self.list.remove(id);
        self.used -= u64::from(size);
    }
}

pub(super) struct S3Fifo {
    small: Queue,
    main: Queue,
    ghost: Queue,
    freq: Vec<u32>,
    size: Vec<u32>,
    ghost_size: Vec<u32>,
    capacity: u64,
    has_evicted: bool,
}

impl S3Fifo {
    pub fn new(n: usize, capacity: u64) -> Self {
        let small = (capacity as f64 * SMALL) as u64;
        Self {
            small: Queue::new(n, small),
            main: Queue::new(n, capacity - small),
            ghost: Queue::new(n, (capacity as f64 * GHOST) as u64),
            freq: vec![0; n],
            size: vec![0; n],
            ghost_size: vec![0; n],
            capacity,
            has_evicted: false,
        }
    }

    fn remember_in_ghost(&mut self, id: u32, size: u32) {
        let g = &mut self.ghost;
        if u64::from(size) > g.capacity {
            return;
        }
        while g.used + u64::from(size) > g.capacity {
            let Some(t) = g.list.pop_tail() else { break };
            g.used -= u64::from(self.ghost_size[t as usize]);
        }
        g.push(id, size);
        self.ghost_size[id as usize] = size;
    }

    fn evict_small(&mut self) {
        while let Some(t) = self.small.list.tail() {
            let size = self.size[t as usize];
            self.small.remove(t, size);
            if self.freq[t as usize] >= MOVE_TO_MAIN {
                self.freq[t as usize] = 0;
                self.main.push(t, size);
            } else {
                self.remember_in_ghost(t, size);
                return;
            }
        }
    }

    fn evict_main(&mut self) {
        while let Some(t) = self.main.list.tail() {
            let f = self.freq[t as usize];
            if f >= 1 {
                self.main.list.move_to_head(t);
                self.freq[t as usize] = f.min(3) - 1;
            } else {
                self.main.remove(t, self.size[t as usize]);
                return;
            }
        }
    }

    fn evict(&mut self) {
        self.has_evicted = true;
        if self.main.used > self.main.capacity || self.small.used == 0 {
            self.evict_main();
        } else {
            self.evict_small();
        }
    }
}

impl Policy for S3Fifo {
    fn access(&mut self, _: usize, id: u32, size: u32) -> bool {
        let i = id as usize;
        if self.small.list.contains(id) || self.main.list.contains(id) {
            self.freq[i] += 1;
            return true;
        }
        let ghost_hit = self.ghost.list.contains(id);
        if ghost_hit {
            self.ghost.remove(id, self.ghost_size[i]);
        }
        if u64::from(size) > self.capacity {
            return false;
        }
        while self.small.used + self.main.used + u64::from(size) > self.capacity {
            if self.small.used + self.main.used == 0 {
                return false;
            }
            self.evict();
        }
        self.size[i] = size;
        self.freq[i] = 0;
        if ghost_hit {
            self.main.push(id, size);
        } else if u64::from(size) >= self.small.capacity {
            // Too big for the small queue: not admitted (as libCacheSim).
        } else if !self.has_evicted && self.small.used >= self.small.capacity {
            self.main.push(id, size);
        } else {
            self.small.push(id, size);
        }
        false
    }
}
