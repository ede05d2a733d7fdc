//! Entries in a slab with intrusive doubly linked queues: every operation O(1), a slot keeps
//! its index for the entry's life (the scrub walks slots), freed slots are reused.

pub(crate) const NIL: u32 = u32::MAX;

/// The queues an entry can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queue {
    /// The one queue of FIFO and SIEVE; S3-FIFO's main queue.
    Main = 0,
    /// S3-FIFO's small queue, where new entries start.
    Small = 1,
    /// S3-FIFO's ghosts: keys (and sizes) the small queue evicted, no data on disk.
    Ghost = 2,
}

impl Queue {
    /// In the order snapshots list them.
    pub const ALL: [Queue; 3] = [Queue::Main, Queue::Small, Queue::Ghost];
}

#[derive(Debug, Clone)]
pub(crate) struct Node<K> {
    pub key: K,
    pub size: u64,
    /// SIEVE's visited bit (0/1) or S3-FIFO's frequency (0..=3).
    pub mark: u8,
    pub queue: Queue,
    /// Toward the head (newer).
    prev: u32,
    /// Toward the tail (older).
    next: u32,
    live: bool,
}

#[derive(Debug, Clone, Copy)]
struct Ends {
    head: u32,
    tail: u32,
    len: usize,
    bytes: u64,
}

const EMPTY: Ends = Ends {
    head: NIL,
    tail: NIL,
    len: 0,
    bytes: 0,
};

/// The slab and its three queues.
#[derive(Debug, Clone)]
pub(crate) struct Slab<K> {
    nodes: Vec<Node<K>>,
    free: Vec<u32>,
    ends: [Ends; 3],
}

impl<K: Copy> Slab<K> {
    pub fn new() -> Self {
        Self {
            nodes: Vec::new(),
            free: Vec::new(),
            ends: [EMPTY; 3],
        }
    }

    pub fn node(&self, i: u32) -> &Node<K> {
        &self.nodes[i as usize]
    }

    pub fn node_mut(&mut self, i: u32) -> &mut Node<K> {
        &mut self.nodes[i as usize]
    }

    /// Slots ever used (live or free): the scrub's range.
    pub fn slots(&self) -> usize {
        self.nodes.len()
    }

    /// The live entry in slot `i`, if any.
    pub fn live(&self, i: usize) -> Option<&Node<K>> {
        self.nodes.get(i).filter(|n| n.live)
    }

    pub fn len(&self, q: Queue) -> usize {
        self.ends[q as usize].len
    }

    pub fn bytes(&self, q: Queue) -> u64 {
        self.ends[q as usize].bytes
    }

    pub fn tail(&self, q: Queue) -> Option<u32> {
        Some(self.ends[q as usize].tail).filter(|&t| t != NIL)
    }

    /// The entry after `i` toward the head of its queue.
    pub fn newer(&self, i: u32) -> Option<u32> {
        Some(self.nodes[i as usize].prev).filter(|&p| p != NIL)
    }

    /// A new entry at the head of `q`; its slot.
    pub fn push(&mut self, q: Queue, key: K, size: u64, mark: u8) -> u32 {
        let node = Node {
            key,
            size,
            mark,
            queue: q,
            prev: NIL,
            next: NIL,
            live: true,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                // Slots are u32: 4 billion entries is far past any disk's chunk count.
                let i = u32::try_from(self.nodes.len()).unwrap_or(NIL - 1);
                self.nodes.push(node);
                i
            }
        };
        self.link(q, i);
        i
    }

    fn link(&mut self, q: Queue, i: u32) {
        let e = &mut self.ends[q as usize];
        let old_head = e.head;
        e.head = i;
        if old_head == NIL {
            e.tail = i;
        }
        e.len += 1;
        e.bytes += self.nodes[i as usize].size;
        if old_head != NIL {
            self.nodes[old_head as usize].prev = i;
        }
        let n = &mut self.nodes[i as usize];
        n.prev = NIL;
        n.next = old_head;
        n.queue = q;
    }

    fn unlink(&mut self, i: u32) {
        let (q, prev, next, size) = {
            let n = &self.nodes[i as usize];
            (n.queue, n.prev, n.next, n.size)
        };
        let e = &mut self.ends[q as usize];
        if prev == NIL {
            e.head = next;
        }
        if next == NIL {
            e.tail = prev;
        }
        e.len -= 1;
        e.bytes -= size;
        if prev != NIL {
            self.nodes[prev as usize].next = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
    }

    /// Moves entry `i` to the head of `q` (its own queue or another).
    pub fn move_to(&mut self, i: u32, q: Queue) {
        self.unlink(i);
        self.link(q, i);
    }

    /// Frees entry `i`; its key and size.
    pub fn remove(&mut self, i: u32) -> (K, u64) {
        self.unlink(i);
        let n = &mut self.nodes[i as usize];
        n.live = false;
        self.free.push(i);
        (n.key, n.size)
    }

    /// The entries of `q`, oldest first.
    pub fn oldest_first(&self, q: Queue) -> impl Iterator<Item = u32> + '_ {
        let mut at = self.ends[q as usize].tail;
        std::iter::from_fn(move || {
            if at == NIL {
                return None;
            }
            let i = at;
            at = self.nodes[i as usize].prev;
            Some(i)
        })
    }
}
