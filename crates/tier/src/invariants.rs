//! Properties of the disk tier's state on any input, checked by the fuzz target and by
//! replaying its committed corpus in the tests.

use crate::{DiskKind, DiskPolicy};

/// The state file on `data` (its first byte picks the policy): any bytes restore to a policy
/// holding exactly the chunks on disk that fit its bound, which keeps its invariants through
/// more work.
///
/// # Panics
/// When a property fails (that is the point).
pub fn state(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let kind = DiskKind::ALL[usize::from(sel) % 3];
    let on_disk: Vec<(u64, u64)> = (0..40u64).map(|k| (k, 1 + k % 7)).collect();
    let r = DiskPolicy::<u64>::restore(kind, 100, Some(rest), on_disk.iter().copied());
    let mut p = r.policy;
    assert!(p.used() <= p.capacity());
    assert_eq!(p.len() + r.victims.len(), on_disk.len());
    for (k, size) in &on_disk {
        assert!(p.contains(k) != r.victims.contains(k));
        if p.contains(k) {
            assert_eq!(p.size(k), Some(*size));
        }
    }
    let mut victims = Vec::new();
    for k in 0..200u64 {
        p.touch(&(k % 50));
        p.admit(k, 1 + k % 11, &mut victims);
        assert!(p.used() <= p.capacity());
    }
}
