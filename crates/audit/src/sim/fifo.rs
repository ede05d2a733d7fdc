//! First in, first out.

use super::{list::List, make_room, Policy};

pub(super) struct Fifo {
    list: List,
    size: Vec<u32>,
    used: u64,
    capacity: u64,
}

impl Fifo {
    pub fn new(n: usize, capacity: u64) -> Self {
        Self {
            list: List::new(n),
            size: vec![0; n],
            used: 0,
            capacity,
        }
    }
}

impl Policy for Fifo {
    fn access(&mut self, _: usize, id: u32, size: u32) -> bool {
        if self.list.contains(id) {
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
