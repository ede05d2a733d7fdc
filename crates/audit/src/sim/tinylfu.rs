//! A W-TinyLFU (Einziger, Friedman, Manes; as Caffeine arranges it): new objects enter a small
//! LRU window (1 % of the bytes); leaving it, an object is admitted to the main segmented LRU
//! (20 % probation, 80 % protected) only if a count-min sketch of recent requests says it is
//! wanted more than the object it would evict. The sketch's 4-bit counters halve every
//! `10 × width` requests (aging).

use super::{list::List, Policy};

const WINDOW: f64 = 0.01;
const PROTECTED: f64 = 0.80;

struct Sketch {
    rows: [Vec<u8>; 4],
    mask: usize,
    added: usize,
    reset_at: usize,
}

impl Sketch {
    /// Sized, as Caffeine sizes it, to the entries the cache holds.
    fn new(entries: usize) -> Self {
        let width = entries.clamp(16, 1 << 24).next_power_of_two();
        Self {
            rows: std::array::from_fn(|_| vec![0; width]),
            mask: width - 1,
            added: 0,
            reset_at: width * 10,
        }
    }

    fn slot(id: u32, row: usize) -> usize {
        let seeds = [
            0x9e37_79b9_7f4a_7c15_u64,
            0xc2b2_ae3d_27d4_eb4f,
            0x1656_67b1_9e37_79f9,
            0x27d4_eb2f_1656_67c5,
        ];
        let mut h = u64::from(id).wrapping_mul(seeds[row]);
        h ^= h >> 29;
        h as usize
    }

    fn add(&mut self, id: u32) {
        for r in 0..4 {
            let c = &mut self.rows[r][Self::slot(id, r) & self.mask];
            *c = (*c + 1).min(15);
        }
        self.added += 1;
        if self.added >= self.reset_at {
            self.added /= 2;
            self.rows.iter_mut().flatten().for_each(|c| *c /= 2);
        }
    }

    fn estimate(&self, id: u32) -> u8 {
        (0..4)
            .map(|r| self.rows[r][Self::slot(id, r) & self.mask])
            .min()
            .unwrap_or(0)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Where {
    Out,
    Window,
    Probation,
    Protected,
}

pub(super) struct WTinyLfu {
    window: List,
    probation: List,
    protected: List,
    at: Vec<Where>,
    size: Vec<u32>,
    window_used: u64,
    probation_used: u64,
    protected_used: u64,
    window_cap: u64,
    main_cap: u64,
    protected_cap: u64,
    sketch: Sketch,
}

impl WTinyLfu {
    /// `mean_size`: the trace's mean object size, to size the sketch to the entries the cache
    /// holds.
    pub fn new(n: usize, capacity: u64, mean_size: f64) -> Self {
        let window_cap = ((capacity as f64 * WINDOW) as u64).max(1).min(capacity);
        let main_cap = capacity - window_cap;
        Self {
            window: List::new(n),
            probation: List::new(n),
            protected: List::new(n),
            at: vec![Where::Out; n],
            size: vec![0; n],
            window_used: 0,
            probation_used: 0,
            protected_used: 0,
            window_cap,
            main_cap,
            protected_cap: (main_cap as f64 * PROTECTED) as u64,
            sketch: Sketch::new((capacity as f64 / mean_size.max(1.0)) as usize),
        }
    }

    fn sz(&self, id: u32) -> u64 {
        u64::from(self.size[id as usize])
    }

    /// A probation hit moves up; protected's overflow moves down to probation.
    fn promote(&mut self, id: u32) {
        let s = self.sz(id);
        self.probation.remove(id);
        self.probation_used -= s;
        self.protected.push_head(id);
        self.protected_used += s;
        self.at[id as usize] = Where::Protected;
        while self.protected_used > self.protected_cap {
            let Some(t) = self.protected.pop_tail() else {
                break;
            };
            let ts = self.sz(t);
            self.protected_used -= ts;
            self.probation.push_head(t);
            self.probation_used += ts;
            self.at[t as usize] = Where::Probation;
        }
    }

    fn drop_from_main(&mut self, v: u32) {
        let s = self.sz(v);
        match self.at[v as usize] {
            Where::Probation => {
                self.probation.remove(v);
                self.probation_used -= s;
            }
            Where::Protected => {
                self.protected.remove(v);
                self.protected_used -= s;
            }
            _ => {}
        }
        self.at[v as usize] = Where::Out;
    }

    /// The window's oldest object asks to enter main.
    fn admit(&mut self, c: u32) {
        let cs = self.sz(c);
        if cs > self.main_cap {
            self.at[c as usize] = Where::Out;
            return;
        }
        let want = self.sketch.estimate(c);
        while self.probation_used + self.protected_used + cs > self.main_cap {
            let Some(v) = self.probation.tail().or_else(|| self.protected.tail()) else {
                break;
            };
            if want > self.sketch.estimate(v) {
                self.drop_from_main(v);
            } else {
                self.at[c as usize] = Where::Out;
                return;
            }
        }
        self.probation.push_head(c);
        self.probation_used += cs;
        self.at[c as usize] = Where::Probation;
    }
}

impl Policy for WTinyLfu {
    fn access(&mut self, _: usize, id: u32, size: u32) -> bool {
        self.sketch.add(id);
        match self.at[id as usize] {
            Where::Window => {
                self.window.move_to_head(id);
                return true;
            }
            Where::Probation => {
                self.promote(id);
                return true;
            }
            Where::Protected => {
                self.protected.move_to_head(id);
                return true;
            }
            Where::Out => {}
        }
        if u64::from(size) > self.window_cap + self.main_cap {
            return false;
        }
        self.size[id as usize] = size;
        self.window.push_head(id);
        self.window_used += u64::from(size);
        self.at[id as usize] = Where::Window;
        while self.window_used > self.window_cap {
            let Some(c) = self.window.pop_tail() else {
                break;
            };
            self.window_used -= self.sz(c);
            self.admit(c);
        }
        false
    }
}
