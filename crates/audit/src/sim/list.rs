//! A doubly linked list over dense object ids (`0..n`), every operation O(1) and no allocation
//! after it is made: the queues the policies keep.

const NIL: u32 = u32::MAX;

/// Objects in order, head (newest) to tail (oldest).
#[derive(Debug, Clone)]
pub(crate) struct List {
    prev: Vec<u32>,
    next: Vec<u32>,
    linked: Vec<bool>,
    head: u32,
    tail: u32,
    len: usize,
}

impl List {
    pub fn new(n: usize) -> Self {
        Self {
            prev: vec![NIL; n],
            next: vec![NIL; n],
            linked: vec![false; n],
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    pub fn contains(&self, id: u32) -> bool {
        self.linked[id as usize]
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn push_head(&mut self, id: u32) {
        debug_assert!(!self.contains(id));
        let i = id as usize;
        self.prev[i] = NIL;
        self.next[i] = self.head;
        if self.head != NIL {
            self.prev[self.head as usize] = id;
        } else {
            self.tail = id;
        }
        self.head = id;
        self.linked[i] = true;
        self.len += 1;
    }

    pub fn remove(&mut self, id: u32) {
        debug_assert!(self.contains(id));
        let i = id as usize;
        let (p, n) = (self.prev[i], self.next[i]);
        if p != NIL {
            self.next[p as usize] = n;
        } else {
            self.head = n;
        }
        if n != NIL {
            self.prev[n as usize] = p;
        } else {
            self.tail = p;
        }
        self.linked[i] = false;
        self.len -= 1;
    }

    pub fn tail(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// The next object toward the head.
    pub fn newer(&self, id: u32) -> Option<u32> {
        let p = self.prev[id as usize];
        (p != NIL).then_some(p)
    }

    pub fn pop_tail(&mut self) -> Option<u32> {
        let t = self.tail()?;
        self.remove(t);
        Some(t)
    }

    pub fn move_to_head(&mut self, id: u32) {
        self.remove(id);
        self.push_head(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn behaves_as_a_deque(ops in proptest::collection::vec((0u8..4, 0u32..16), 0..200)) {
            let mut l = List::new(16);
            let mut model: std::collections::VecDeque<u32> = Default::default();
            for (op, id) in ops {
                match op {
                    0 if !l.contains(id) => { l.push_head(id); model.push_front(id); }
                    1 if l.contains(id) => { l.remove(id); model.retain(|x| *x != id); }
                    2 => { proptest::prop_assert_eq!(l.pop_tail(), model.pop_back()); }
                    3 if l.contains(id) => { l.move_to_head(id); model.retain(|x| *x != id); model.push_front(id); }
                    _ => {}
                }
                proptest::prop_assert_eq!(l.len(), model.len());
                proptest::prop_assert_eq!(l.tail(), model.back().copied());
            }
        }
    }
}
