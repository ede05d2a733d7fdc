//! The wall clock, read in one place: Unix seconds for the expiries, creation times and ages
//! every crate records.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 for a clock set before 1970; never panics).
#[must_use]
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// [`unix_now`] as an unsigned count, for ages and lease times that cannot be negative.
#[must_use]
pub fn unix_now_u64() -> u64 {
    u64::try_from(unix_now()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_after_this_code_was_written_and_both_forms_agree() {
        let (signed, unsigned) = (unix_now(), unix_now_u64());
        assert!(signed > 1_767_225_600, "{signed}"); // 2026-01-01
        assert!(unsigned.abs_diff(u64::try_from(signed).unwrap_or(0)) <= 1);
    }
}
