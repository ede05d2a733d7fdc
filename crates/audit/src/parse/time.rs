//! The times logs write: CLF's `10/Oct/2000:13:55:36 -0700` and RFC 3339.

/// Days from 1970-01-01 to a proleptic Gregorian date (Hinnant's algorithm).
#[must_use]
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(s: &str) -> Option<u32> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn checked(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    ((1..=12).contains(&mo) && (1..=31).contains(&d) && h < 24 && mi < 60 && s <= 60).then(|| {
        days_from_civil(i64::from(y), mo, d) * 86_400
            + i64::from(h) * 3600
            + i64::from(mi) * 60
            + i64::from(s)
    })
}

/// `10/Oct/2000:13:55:36 -0700` to milliseconds since the epoch.
#[must_use]
pub fn parse_clf_time(s: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (date, zone) = s.split_once(' ').unwrap_or((s, "+0000"));
    let mut p = date.splitn(3, '/');
    let (d, mon, rest) = (p.next()?, p.next()?, p.next()?);
    let mut t = rest.split(':');
    let (y, h, mi, sec) = (t.next()?, t.next()?, t.next()?, t.next()?);
    if t.next().is_some() {
        return None;
    }
    let mo = MONTHS.iter().position(|m| *m == mon)? as u32 + 1;
    let secs = checked(num(y)?, mo, num(d)?, num(h)?, num(mi)?, num(sec)?)?;
    let z = zone.as_bytes();
    if z.len() != 5 || !matches!(z[0], b'+' | b'-') {
        return None;
    }
    let zh = i64::from(num(&zone[1..3])?);
    let zm = i64::from(num(&zone[3..5])?);
    let off = (zh * 3600 + zm * 60) * if z[0] == b'-' { -1 } else { 1 };
    Some((secs - off) * 1000)
}

/// RFC 3339 (`2026-12-01T20:01:17.123Z`, `+01:00` offsets, any fraction) to milliseconds.
#[must_use]
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (date, rest) = (s.get(..10)?, s.get(11..)?);
    let (clock, mut zone) = rest.split_at(rest.find(['Z', 'z', '+', '-'])?);
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut t = hms.split(':');
    let (h, mi, sec) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
    let secs = checked(
        num(&date[..4])?,
        num(&date[5..7])?,
        num(&date[8..10])?,
        h,
        mi,
        sec,
    )?;
    let ms = match frac.len() {
        0 => 0,
        n if frac.bytes().all(|c| c.is_ascii_digit()) => {
            let f = &frac[..n.min(3)];
            i64::from(num(f)?) * 10_i64.pow(3 - f.len() as u32)
        }
        _ => return None,
    };
    let off = if zone.eq_ignore_ascii_case("z") {
        0
    } else {
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        zone = &zone[1..];
        let (zh, zm) = zone.split_once(':')?;
        sign * (i64::from(num(zh)?) * 3600 + i64::from(num(zm)?) * 60)
    };
    Some((secs - off) * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_times() {
        assert_eq!(parse_clf_time("01/Jan/1970:00:00:00 +0000"), Some(0));
        assert_eq!(
            parse_clf_time("10/Oct/2000:13:55:36 -0700"),
            Some(971_211_336_000)
        );
        assert_eq!(parse_clf_time("10/Foo/2000:13:55:36 -0700"), None);
        assert_eq!(parse_clf_time("10/Oct/2000:25:55:36 -0700"), None);
        assert_eq!(parse_clf_time("10/Oct/2000:13:55:36 0700"), None);
        assert_eq!(parse_clf_time(""), None);
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-12-01T20:01:17.123Z"),
            Some(1_796_155_277_123)
        );
        assert_eq!(
            parse_rfc3339("2026-12-01T21:01:17.1+01:00"),
            Some(1_796_155_277_100)
        );
        assert_eq!(parse_rfc3339("2026-13-01T20:01:17Z"), None);
        assert_eq!(parse_rfc3339("2026-12-01T20:01:17"), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_clf_time(&s);
            let _ = parse_rfc3339(&s);
        }

        #[test]
        fn days_round_trip(days in -100_000i64..100_000) {
            // Against the inverse the access log writes with.
            let z = days + 719_468;
            let era = z.div_euclid(146_097);
            let doe = z.rem_euclid(146_097);
            let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
            let mp = (5 * doy + 2) / 153;
            let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
            let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
            let y = yoe + era * 400 + i64::from(m <= 2);
            proptest::prop_assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
