//! Passive health: a member that failed a request is skipped for a while, longer after each
//! consecutive failure, and asked again when the while is over; one success makes it healthy.
//! Times are given by the caller (milliseconds on any monotonic clock), so this is pure.

use std::collections::HashMap;

/// The first pause after a failure, in milliseconds.
pub const FIRST_PAUSE_MS: u64 = 1_000;
/// The longest pause.
pub const MAX_PAUSE_MS: u64 = 30_000;

#[derive(Debug, Clone, Copy, Default)]
struct State {
    failures: u32,
    until_ms: u64,
}

/// Failures seen per member URL.
#[derive(Debug, Default)]
pub struct Health {
    members: HashMap<String, State>,
}

impl Health {
    /// No failures seen.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `url` may be asked at `now_ms`.
    #[must_use]
    pub fn is_up(&self, url: &str, now_ms: u64) -> bool {
        self.members.get(url).is_none_or(|s| now_ms >= s.until_ms)
    }

    /// Records a failed request to `url` at `now_ms`; returns the pause before it is asked again.
    pub fn failed(&mut self, url: &str, now_ms: u64) -> u64 {
        let s = self.members.entry(url.to_owned()).or_default();
        s.failures = s.failures.saturating_add(1);
        let pause = FIRST_PAUSE_MS
            .saturating_mul(1u64 << (s.failures - 1).min(16))
            .min(MAX_PAUSE_MS);
        s.until_ms = now_ms.saturating_add(pause);
        pause
    }

    /// Records a success: `url` is healthy again.
    pub fn succeeded(&mut self, url: &str) {
        self.members.remove(url);
    }

    /// Forgets members no longer in the region.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.members.retain(|url, _| keep(url));
    }

    /// How many members are being skipped at `now_ms`.
    #[must_use]
    pub fn down(&self, now_ms: u64) -> usize {
        self.members
            .values()
            .filter(|s| now_ms < s.until_ms)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_and_a_success_resets() {
        let mut h = Health::new();
        assert!(h.is_up("a", 0));
        assert_eq!(h.failed("a", 0), 1_000);
        assert!(!h.is_up("a", 999));
        assert!(h.is_up("a", 1_000));
        assert_eq!(h.failed("a", 1_000), 2_000);
        assert_eq!(h.failed("a", 3_000), 4_000);
        for _ in 0..40 {
            h.failed("a", 10_000);
        }
        assert_eq!(h.failed("a", 10_000), MAX_PAUSE_MS);
        assert_eq!(h.down(10_001), 1);
        h.succeeded("a");
        assert!(h.is_up("a", 10_001));
        assert_eq!(h.failed("a", 20_000), 1_000);
        h.retain(|u| u != "a");
        assert_eq!(h.down(20_001), 0);
    }
}
