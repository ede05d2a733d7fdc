//! SIEVE (Zhang et al., NSDI '24): a FIFO queue with a visited bit and a hand that moves from
//! the tail toward the head, sparing visited objects (clearing their bit) and evicting the
//! first unvisited one; hits only set the bit.

use super::{list::List, make_room, Policy};

pub(super) struct Sieve {
    list: List,
    size: Vec<u32>,
    visited: Vec<bool>,
    hand: Option<u32>,
    used: u64,
    capacity: u64,
}

impl Sieve {
    pub fn new(n: usize, capacity: u64) -> Self {
        Self {
            list: List::new(n),
            size: vec![0; n],
            visited: vec![false; n],
            hand: None,
            used: 0,
            capacity,
        }
    }

    fn evict(list: &mut List, visited: &mut [bool], hand: &mut Option<u32>) -> Option<u32> {
        let mut h = hand.or_else(|| list.tail())?;
        loop {
            if std::mem::replace(&mut visited[h as usize], false) {
                h = list.newer(h).or_else(|| list.tail())?;
            } else {
                *hand = list.newer(h);
                list.remove(h);
                return Some(h);
            }
        }
    }
}

impl Policy for Sieve {
    fn access(&mut self, _: usize, id: u32, size: u32) -> bool {
        if self.list.contains(id) {
            self.visited[id as usize] = true;
            return true;
        }
        let (list, visited, hand, sizes) = (
            &mut self.list,
            &mut self.visited,
            &mut self.hand,
            &self.size,
        );
        if make_room(&mut self.used, self.capacity, size, || {
            Self::evict(list, visited, hand).map(|v| sizes[v as usize])
        }) {
            self.list.push_head(id);
            self.size[id as usize] = size;
            self.visited[id as usize] = false;
        }
        false
    }
}
