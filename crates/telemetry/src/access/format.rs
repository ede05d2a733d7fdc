//! The two line formats, written straight into a buffer: no allocation for a line whose fields
//! need no repair (valid UTF-8), no float formatting, no `format!`.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{clip, header_text, trace_id, Record};

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A moment's calendar fields, UTC.
struct Civil {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    milli: u32,
}

fn civil_time(t: SystemTime) -> Civil {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, month, day) = civil(i64::try_from(secs / 86_400).unwrap_or(0));
    let s = (secs % 86_400) as u32;
    Civil {
        year: u32::try_from(y).unwrap_or(0).min(9999),
        month,
        day,
        hour: s / 3600,
        minute: s % 3600 / 60,
        second: s % 60,
        milli: d.subsec_millis(),
    }
}

/// `n` in exactly `width` decimal digits (the low ones).
fn digits(o: &mut String, mut n: u32, width: u32) {
    let mut buf = [b'0'; 10];
    let w = width.min(10) as usize;
    for i in (0..w).rev() {
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    buf[..w].iter().for_each(|&b| o.push(char::from(b)));
}

fn write_rfc3339(o: &mut String, t: SystemTime) {
    let c = civil_time(t);
    digits(o, c.year, 4);
    o.push('-');
    digits(o, c.month, 2);
    o.push('-');
    digits(o, c.day, 2);
    o.push('T');
    digits(o, c.hour, 2);
    o.push(':');
    digits(o, c.minute, 2);
    o.push(':');
    digits(o, c.second, 2);
    o.push('.');
    digits(o, c.milli, 3);
    o.push('Z');
}

/// `2026-12-01T20:01:17.123Z`.
#[must_use]
pub fn rfc3339(t: SystemTime) -> String {
    let mut o = String::with_capacity(24);
    write_rfc3339(&mut o, t);
    o
}

fn write_nginx_time(o: &mut String, t: SystemTime) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil_time(t);
    digits(o, c.day, 2);
    o.push('/');
    o.push_str(MONTHS[(c.month as usize).saturating_sub(1).min(11)]);
    o.push('/');
    digits(o, c.year, 4);
    o.push(':');
    digits(o, c.hour, 2);
    o.push(':');
    digits(o, c.minute, 2);
    o.push(':');
    digits(o, c.second, 2);
    o.push_str(" +0000");
}

/// nginx's `$time_local` in UTC: `01/Dec/2026:20:01:17 +0000`.
#[must_use]
pub fn nginx_time(t: SystemTime) -> String {
    let mut o = String::with_capacity(26);
    write_nginx_time(&mut o, t);
    o
}

/// Milliseconds with three decimals, rounded to the microsecond: `1.500`.
fn write_millis(o: &mut String, d: Duration) {
    let micros = (d.as_nanos() + 500) / 1000;
    let _ = write!(o, "{}.", micros / 1000);
    digits(o, (micros % 1000) as u32, 3);
}

/// Whether `s` goes into a JSON string as it is.
fn json_plain(s: &str) -> bool {
    // U+2028 and U+2029 are E2 80 A8/A9: any 0xE2 takes the careful path.
    s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b != 0xE2)
}

fn json_str(out: &mut String, s: &str) {
    out.push('"');
    if json_plain(s) {
        out.push_str(s);
    } else {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

fn json_field(o: &mut String, key: &str, v: Option<&str>) {
    o.push_str(",\"");
    o.push_str(key);
    o.push_str("\":");
    match v {
        Some(s) => json_str(o, s),
        None => o.push_str("null"),
    }
}

/// nginx's escaping of a variable in a log line: `"`, `\` and control bytes as `\xHH`.
fn combined_str(o: &mut String, s: &str) {
    if s.bytes()
        .all(|b| b >= 0x20 && b != 0x7f && b != b'"' && b != b'\\')
    {
        o.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\x22"),
            '\\' => o.push_str("\\x5C"),
            c if c.is_control() => {
                let _ = write!(o, "\\x{:02X}", c as u32 & 0xff);
            }
            c => o.push(c),
        }
    }
}

impl Record {
    /// The JSON line (no newline).
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut o = String::with_capacity(320);
        self.write_json(&mut o);
        o
    }

    /// Appends the JSON line (no newline) to `o`.
    pub fn write_json(&self, o: &mut String) {
        o.push_str("{\"time\":\"");
        write_rfc3339(o, self.time);
        o.push('"');
        json_field(o, "pop", Some(&self.pop));
        // An address's text needs no escaping.
        let _ = write!(o, ",\"client\":\"{}\"", self.client);
        json_field(o, "method", Some(self.method.as_str()));
        json_field(o, "host", Some(&self.host_text()));
        json_field(o, "path", Some(clip(self.uri.path())));
        json_field(o, "query", self.uri.query().map(clip));
        let _ = write!(o, ",\"status\":{},\"bytes\":{}", self.status, self.bytes);
        o.push_str(",\"duration_ms\":");
        write_millis(o, self.duration);
        o.push_str(",\"ttfb_ms\":");
        write_millis(o, self.ttfb);
        json_field(o, "cache", self.cache);
        json_field(o, "upstream", self.upstream.as_deref());
        let tp = header_text(&self.traceparent);
        json_field(o, "trace_id", tp.as_deref().and_then(trace_id));
        json_field(o, "route", Some(self.route));
        json_field(o, "site", self.site.as_deref());
        json_field(o, "user_agent", header_text(&self.user_agent).as_deref());
        json_field(o, "referer", header_text(&self.referer).as_deref());
        o.push('}');
    }

    /// The nginx `combined` line (no newline): `$remote_addr - $remote_user [$time_local]
    /// "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`.
    #[must_use]
    pub fn to_combined(&self) -> String {
        let mut o = String::with_capacity(200);
        self.write_combined(&mut o);
        o
    }

    /// Appends the nginx `combined` line (no newline) to `o`.
    pub fn write_combined(&self, o: &mut String) {
        let _ = write!(o, "{} - - [", self.client.ip());
        write_nginx_time(o, self.time);
        o.push_str("] \"");
        combined_str(o, self.method.as_str());
        o.push(' ');
        combined_str(o, clip(self.uri.path()));
        if let Some(q) = self.uri.query() {
            o.push('?');
            combined_str(o, clip(q));
        }
        let _ = write!(o, " HTTP/1.1\" {} {} \"", self.status, self.bytes);
        combined_str(o, header_text(&self.referer).as_deref().unwrap_or("-"));
        o.push_str("\" \"");
        combined_str(o, header_text(&self.user_agent).as_deref().unwrap_or("-"));
        o.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339(record().time), "2025-12-01T20:01:17.123Z");
        assert_eq!(nginx_time(record().time), "01/Dec/2025:20:01:17 +0000");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn durations_round_to_the_microsecond() {
        let ms = |d| {
            let mut o = String::new();
            write_millis(&mut o, d);
            o
        };
        assert_eq!(ms(Duration::ZERO), "0.000");
        assert_eq!(ms(Duration::from_nanos(1_499_499)), "1.499");
        assert_eq!(ms(Duration::from_nanos(1_499_500)), "1.500");
        assert_eq!(ms(Duration::from_secs(12)), "12000.000");
    }

    #[test]
    fn lines() {
        let j = record().to_json();
        assert_eq!(
            j,
            r#"{"time":"2025-12-01T20:01:17.123Z","pop":"fra1","client":"127.0.0.1:5000","method":"GET","host":"cdn.example","path":"/img/a%22b.jpg","query":"w=640","status":200,"bytes":1234,"duration_ms":1.500,"ttfb_ms":0.900,"cache":"hit","upstream":null,"trace_id":null,"route":"image","site":null,"user_agent":"curl/8\t","referer":null}"#
        );
        assert_eq!(
            record().to_combined(),
            r#"127.0.0.1 - - [01/Dec/2025:20:01:17 +0000] "GET /img/a%22b.jpg?w=640 HTTP/1.1" 200 1234 "-" "curl/8\x09""#
        );
    }

    #[test]
    fn hostile_values_stay_inside_their_fields() {
        let mut r = record();
        r.user_agent =
            Some(http::HeaderValue::from_bytes(b"a\"b\\c\t\xe2\x80\xa8\xff").expect("bytes"));
        r.referer = Some(http::HeaderValue::from_static("x\" \"y"));
        let j = r.to_json();
        let v: serde_json::Value = serde_json::from_str(&j).expect("one JSON object");
        assert_eq!(v["user_agent"], "a\"b\\c\t\u{2028}\u{fffd}");
        assert_eq!(v["referer"], "x\" \"y");
        assert!(j.contains(r#""user_agent":"a\"b\\c\t\u2028"#), "{j}");
        let c = r.to_combined();
        assert!(
            c.ends_with("\"x\\x22 \\x22y\" \"a\\x22b\\x5Cc\\x09\u{2028}\u{fffd}\""),
            "{c}"
        );
        assert_eq!(c.matches('"').count(), 6, "{c}");
    }

    proptest::proptest! {
        #[test]
        fn every_json_line_parses_back_to_its_fields(ua in proptest::collection::vec(proptest::num::u8::ANY, 0..64), path in "/[a-zA-Z0-9%._~-]{0,40}") {
            let mut r = record();
            r.uri = path.parse().expect("a path");
            r.user_agent = http::HeaderValue::from_bytes(&ua).ok();
            let v: serde_json::Value = serde_json::from_str(&r.to_json()).expect("JSON");
            proptest::prop_assert_eq!(v["path"].as_str(), Some(path.as_str()));
            let want = r.user_agent.as_ref().map(|u| String::from_utf8_lossy(u.as_bytes()).into_owned());
            proptest::prop_assert_eq!(v["user_agent"].as_str().map(str::to_owned), want);
            let c = r.to_combined();
            proptest::prop_assert_eq!(c.matches('"').count(), 6);
            proptest::prop_assert!(!c.contains('\n'));
        }
    }
}
