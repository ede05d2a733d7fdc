//! Weighted rendezvous (highest random weight) hashing, as in Thaler and Ravishankar's HRW with
//! the logarithmic weighting of Schindelhauer and Schomaker: member `m` scores
//! `weight(m) / -ln(u(m, key))` with `u` uniform in (0, 1) from BLAKE3 of the member's name and
//! the key; the highest score owns the key. A member of weight 2 owns twice the keys of a member of
//! weight 1, and removing a member moves only the keys it owned.

use crate::members::Member;

/// A number in (0, 1) from the member's name and the key, the same on every machine.
fn unit(name: &str, key: &[u8]) -> f64 {
    let mut h = blake3::Hasher::new();
    h.update(&(name.len() as u64).to_le_bytes());
    h.update(name.as_bytes());
    h.update(key);
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.finalize().as_bytes()[..8]);
    // 53 random bits, shifted off zero: (0, 1) exclusive at both ends.
    let bits = u64::from_le_bytes(b) >> 11;
    (bits as f64 + 0.5) / (1u64 << 53) as f64
}

/// Member `m`'s score for `key`; higher wins.
#[must_use]
pub fn score(m: &Member, key: &[u8]) -> f64 {
    f64::from(m.weight) / -unit(&m.url, key).ln()
}

/// The members in rendezvous order for `key`: owner first, then who takes over if it fails.
/// Ties (equal scores, vanishingly rare) are broken by name, so the order is total.
#[must_use]
pub fn order<'a>(members: &'a [Member], key: &[u8]) -> Vec<&'a Member> {
    let mut scored: Vec<(f64, &Member)> = members.iter().map(|m| (score(m, key), m)).collect();
    scored.sort_by(|(a, ma), (b, mb)| b.total_cmp(a).then_with(|| ma.url.cmp(&mb.url)));
    scored.into_iter().map(|(_, m)| m).collect()
}

/// The share of keys whose owner differs between two memberships, estimated on `samples`
/// fixed keys (the same on every machine): the cost of a membership change, as the fraction of
/// chunks the region fills again from upstream.
#[must_use]
pub fn moved_share(old: &[Member], new: &[Member], samples: u32) -> f64 {
    if samples == 0 || (old.is_empty() && new.is_empty()) {
        return 0.0;
    }
    let moved = (0..samples)
        .filter(|i| {
            let key = blake3::hash(&i.to_le_bytes());
            let a = order(old, key.as_bytes()).first().map(|m| m.url.as_str());
            let b = order(new, key.as_bytes()).first().map(|m| m.url.as_str());
            a != b
        })
        .count();
    moved as f64 / f64::from(samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(url: &str, weight: u32) -> Member {
        Member {
            url: url.into(),
            weight,
        }
    }

    fn key(i: u32) -> [u8; 32] {
        *blake3::hash(&i.to_le_bytes()).as_bytes()
    }

    #[test]
    fn weights_share_keys_in_proportion() {
        let members = [m("http://a", 1), m("http://b", 1), m("http://c", 2)];
        let mut owned = [0u32; 3];
        let n = 40_000;
        for i in 0..n {
            let owner = order(&members, &key(i))[0];
            let idx = members.iter().position(|x| x == owner).expect("member");
            owned[idx] += 1;
        }
        let share = |i: usize| f64::from(owned[i]) / f64::from(n);
        assert!((share(0) - 0.25).abs() < 0.01, "{owned:?}");
        assert!((share(1) - 0.25).abs() < 0.01, "{owned:?}");
        assert!((share(2) - 0.50).abs() < 0.01, "{owned:?}");
    }

    #[test]
    fn removing_a_member_moves_only_its_keys_and_the_next_takes_over() {
        let all = [m("http://a", 1), m("http://b", 1), m("http://c", 1)];
        let without_b = [m("http://a", 1), m("http://c", 1)];
        for i in 0..5_000 {
            let k = key(i);
            let before = order(&all, &k);
            let after = order(&without_b, &k);
            if before[0].url == "http://b" {
                // The owner's successor is the one that takes its keys.
                assert_eq!(after[0], before[1]);
            } else {
                assert_eq!(after[0], before[0]);
            }
        }
    }

    #[test]
    fn moved_share_matches_the_weights() {
        let three = [m("http://a", 1), m("http://b", 1), m("http://c", 1)];
        let four = [
            m("http://a", 1),
            m("http://b", 1),
            m("http://c", 1),
            m("http://d", 1),
        ];
        assert!(moved_share(&three, &three, 1000).abs() < f64::EPSILON);
        // Adding one of four equal members moves a quarter of the keys, removing it the same.
        let added = moved_share(&three, &four, 4000);
        assert!((added - 0.25).abs() < 0.03, "{added}");
        let removed = moved_share(&four, &three, 4000);
        assert!((removed - added).abs() < f64::EPSILON);
        // From nothing to something, everything moves.
        assert!((moved_share(&[], &three, 100) - 1.0).abs() < f64::EPSILON);
        assert!(moved_share(&[], &[], 100).abs() < f64::EPSILON);
    }

    proptest! {
        #[test]
        fn order_is_a_permutation_independent_of_listing_order(
            urls in proptest::collection::btree_set("[a-z]{1,8}", 1..8),
            k in any::<[u8; 32]>(),
            weights in proptest::collection::vec(1u32..5, 8),
        ) {
            let members: Vec<Member> = urls.iter().zip(&weights).map(|(u, w)| m(u, *w)).collect();
            let mut reversed = members.clone();
            reversed.reverse();
            let a: Vec<&str> = order(&members, &k).iter().map(|m| m.url.as_str()).collect();
            let b: Vec<&str> = order(&reversed, &k).iter().map(|m| m.url.as_str()).collect();
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.len(), members.len());
            for member in &members {
                let s = score(member, &k);
                prop_assert!(s.is_finite() && s > 0.0);
            }
        }
    }
}
