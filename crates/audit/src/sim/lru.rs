//! Least recently used.

use super::{list::List, make_room, Policy};

pub(super) struct Lru {
    list: List,
    size: Vec<u32>,
    used: u64,
    capacity: u64,
}

impl Lru {
    pub fn new(n: usize, capacity: u64) -> Self {
        Self {
            list: List::new(n),
            size: vec![0; n],
            used: 0,
            capacity,
        }
    }
}

impl Policy for Lru {
    fn access(&mut self, _: usize, id: u32, size: u32) -> bool {
        if self.list.contains(id) {
            self.list.move_to_head(id);
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
