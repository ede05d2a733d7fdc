use std::collections::HashMap;

use proptest::prelude::*;

use super::{DiskKind, DiskPolicy, SnapshotError};

fn admit(p: &mut DiskPolicy<u64>, k: u64, size: u64) -> Vec<u64> {
    let mut v = Vec::new();
    p.admit(k, size, &mut v);
    v
}

#[test]
fn fifo_evicts_in_the_order_written_whatever_was_used() {
    let mut p = DiskPolicy::new(DiskKind::Fifo, 3);
    for k in 1..=3 {
        assert!(admit(&mut p, k, 1).is_empty());
    }
    assert!(p.touch(&1));
    assert_eq!(admit(&mut p, 4, 1), vec![1]);
    assert_eq!(admit(&mut p, 5, 2), vec![2, 3]);
    assert_eq!(p.used(), 3);
    assert!(!p.touch(&1), "gone");
}

#[test]
fn sieve_spares_a_used_entry_once() {
    let mut p = DiskPolicy::new(DiskKind::Sieve, 3);
    for k in 1..=3 {
        admit(&mut p, k, 1);
    }
    p.touch(&1);
    assert_eq!(admit(&mut p, 4, 1), vec![2], "1 was used: 2 goes");
    assert_eq!(admit(&mut p, 5, 1), vec![3], "the hand moved on");
    assert_eq!(
        admit(&mut p, 6, 1),
        vec![4],
        "on toward the head, past the newest"
    );
    assert_eq!(
        admit(&mut p, 7, 1),
        vec![5],
        "the hand goes on; 1 waits for it to wrap"
    );
}

#[test]
fn s3fifo_keeps_what_was_used_twice_against_a_scan() {
    let mut p = DiskPolicy::new(DiskKind::S3Fifo, 100);
    // A working set of 8 used three times each, then a scan of 200 one-hit entries.
    for k in 0..8 {
        admit(&mut p, k, 1);
        p.touch(&k);
        p.touch(&k);
    }
    for k in 1000..1200 {
        admit(&mut p, k, 1);
    }
    for k in 0..8 {
        assert!(p.contains(&k), "{k} survived the scan");
    }
    // A key the small queue evicted comes back straight into main.
    assert!(!p.contains(&1000));
    admit(&mut p, 1000, 1);
    let snap = DiskPolicy::<u64>::restore(
        DiskKind::S3Fifo,
        100,
        Some(&p.snapshot()),
        p.keys().map(|k| (k, 1)),
    );
    assert!(snap.policy.contains(&1000));
}

#[test]
fn an_entry_larger_than_the_tier_is_refused_and_evicts_nothing() {
    for kind in DiskKind::ALL {
        let mut p = DiskPolicy::new(kind, 100);
        admit(&mut p, 1, 5);
        let mut v = Vec::new();
        assert!(!p.admit(2, 101, &mut v), "{kind:?}");
        assert!(v.is_empty() && p.contains(&1), "{kind:?}");
        assert!(!p.admit(1, 5, &mut v), "already held");
    }
}

#[test]
fn a_reservation_evicts_until_the_rest_fits_and_bounds_later_admissions() {
    for kind in [DiskKind::Fifo, DiskKind::Sieve, DiskKind::S3Fifo] {
        let mut p = DiskPolicy::new(kind, 10);
        for k in 1..=5 {
            admit(&mut p, k, 2);
        }
        assert_eq!(p.used(), 10);
        let mut victims = Vec::new();
        p.reserve(5, &mut victims);
        assert!(p.used() <= 5, "{kind:?}: {} held", p.used());
        assert_eq!(victims.len(), 3, "{kind:?}");
        assert_eq!(p.room(), 5);
        admit(&mut p, 6, 2);
        assert!(
            p.used() <= 5,
            "{kind:?}: admissions respect the reservation"
        );
        assert!(!p.admit(7, 6, &mut Vec::new()), "larger than the room");
        p.reserve(0, &mut victims);
        assert_eq!(p.room(), 10);
    }
}

#[test]
fn a_damaged_snapshot_is_ignored_and_the_disk_is_what_counts() {
    let mut p = DiskPolicy::new(DiskKind::Sieve, 100);
    for k in 0..10 {
        admit(&mut p, k, 5);
    }
    let mut snap = p.snapshot();
    let last = snap.len() - 40;
    snap[last] ^= 1;
    let on_disk: Vec<(u64, u64)> = (0..10).map(|k| (k, 5)).collect();
    let r = DiskPolicy::restore(DiskKind::Sieve, 100, Some(&snap), on_disk.clone());
    assert_eq!(r.error, Some(SnapshotError::Checksum));
    assert_eq!((r.from_snapshot, r.added, r.policy.len()), (0, 10, 10));
    let r = DiskPolicy::<u64>::restore(DiskKind::Sieve, 100, Some(b"garbage"), on_disk);
    assert_eq!(r.error, Some(SnapshotError::Format));
    // A snapshot of 32-byte keys is not read as 8-byte ones.
    let other = DiskPolicy::<tinycdn_core::ChunkId>::new(DiskKind::Sieve, 1).snapshot();
    let r = DiskPolicy::<u64>::restore(DiskKind::Sieve, 100, Some(&other), []);
    assert_eq!(r.error, Some(SnapshotError::Format));
}

#[test]
fn restore_trusts_the_disk_for_presence_and_size_and_the_bound_for_what_stays() {
    let mut p = DiskPolicy::new(DiskKind::Fifo, 100);
    for k in 0..10 {
        admit(&mut p, k, 10);
    }
    let snap = p.snapshot();
    // 3 was deleted behind the snapshot's back, 4 changed size, 50 and 51 are new; the bound shrank.
    let on_disk = (0..10)
        .filter(|&k| k != 3)
        .map(|k| (k, if k == 4 { 20 } else { 10 }))
        .chain([(50, 10), (51, 10)]);
    let r = DiskPolicy::restore(DiskKind::Fifo, 60, Some(&snap), on_disk);
    assert_eq!(r.error, None);
    assert_eq!((r.from_snapshot, r.added), (9, 2));
    assert_eq!(
        r.victims,
        vec![0, 1, 2, 4, 5],
        "oldest first, by the snapshot's order"
    );
    assert_eq!(r.policy.used(), 60);
    assert_eq!(r.policy.size(&51), Some(10));
    assert!(!r.policy.contains(&3));
}

#[test]
fn a_snapshot_of_another_policy_keeps_the_order() {
    let mut p = DiskPolicy::new(DiskKind::Fifo, 100);
    for k in 0..10 {
        admit(&mut p, k, 10);
    }
    let r = DiskPolicy::restore(
        DiskKind::Sieve,
        100,
        Some(&p.snapshot()),
        p.keys().map(|k| (k, 10)),
    );
    let mut q = r.policy;
    assert_eq!(r.from_snapshot, 10);
    assert_eq!(admit(&mut q, 99, 10), vec![0]);
}

#[derive(Debug, Clone)]
enum Op {
    Admit(u64, u64),
    Touch(u64),
    Remove(u64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            4 => (0u64..60, 1u64..30).prop_map(|(k, s)| Op::Admit(k, s)),
            3 => (0u64..60).prop_map(Op::Touch),
            1 => (0u64..60).prop_map(Op::Remove),
        ],
        0..400,
    )
}

/// Runs `ops`, checking against a model of what is held; the victims, in order.
fn run(p: &mut DiskPolicy<u64>, model: &mut HashMap<u64, u64>, ops: &[Op]) -> Vec<u64> {
    let mut all = Vec::new();
    for op in ops {
        match *op {
            Op::Admit(k, s) => {
                let mut v = Vec::new();
                let held = model.contains_key(&k);
                let ok = p.admit(k, s, &mut v);
                for x in &v {
                    assert!(model.remove(x).is_some(), "victim {x} was held");
                }
                assert!(!(held && ok));
                if ok {
                    model.insert(k, s);
                }
                all.extend(v);
            }
            Op::Touch(k) => assert_eq!(p.touch(&k), model.contains_key(&k)),
            Op::Remove(k) => assert_eq!(p.remove(&k), model.remove(&k)),
        }
        assert_eq!(p.used(), model.values().sum::<u64>());
        assert_eq!(p.len(), model.len());
        assert!(p.used() <= p.capacity());
    }
    all
}

proptest! {
    #[test]
    fn every_policy_matches_a_model_of_what_it_holds(ops in ops(), cap in 1u64..200, k in 0usize..3) {
        let mut p = DiskPolicy::new(DiskKind::ALL[k], cap);
        run(&mut p, &mut HashMap::new(), &ops);
        let mut seen = 0;
        let mut cursor = 0;
        loop {
            let (batch, next, wrapped) = p.entries_from(cursor, 7);
            seen += batch.len();
            if wrapped { break; }
            cursor = next;
        }
        prop_assert_eq!(seen, p.len(), "the scrub walk sees every entry once");
    }

    /// A restored policy behaves exactly as the one saved.
    #[test]
    fn a_restored_policy_decides_as_the_saved_one(a in ops(), b in ops(), cap in 1u64..200, k in 0usize..3) {
        let kind = DiskKind::ALL[k];
        let mut p = DiskPolicy::new(kind, cap);
        let mut model = HashMap::new();
        run(&mut p, &mut model, &a);
        let r = DiskPolicy::restore(kind, cap, Some(&p.snapshot()), model.clone());
        prop_assert_eq!(r.error, None);
        prop_assert_eq!(r.added, 0);
        let mut q = r.policy;
        let mut model2 = model.clone();
        prop_assert_eq!(run(&mut p, &mut model, &b), run(&mut q, &mut model2, &b));
    }

    #[test]
    fn any_bytes_restore_without_panic_to_exactly_the_disk(bytes in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..400) {
        let mut p = DiskPolicy::new(DiskKind::S3Fifo, 1000);
        for k in 0..20 { p.admit(k, 10, &mut Vec::new()); p.touch(&k); }
        let mut good = p.snapshot();
        good.truncate(cut.min(good.len()));
        for b in [&bytes[..], &good[..]] {
            let r = DiskPolicy::<u64>::restore(DiskKind::S3Fifo, 1000, Some(b), (0..5).map(|k| (k, 10)));
            prop_assert_eq!(r.policy.len(), 5);
        }
    }
}
