//! nginx `combined` and Apache `common`: `host ident user [time] "request" status bytes`, then
//! for `combined` `"referer" "agent"`, then whatever an operator appended; `$request_time` and
//! `$upstream_response_time` are recognised as the first two numbers (or as `rt=`, `urt=`,
//! `request_time=`, `upstream_response_time=`).

use std::borrow::Cow;

use super::{time::parse_clf_time, ParseError, Request};

/// The line's fields: quoted ones and bracketed ones whole, without their delimiters.
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = (&'a str, bool);

    /// The next field and whether it was quoted.
    fn next(&mut self) -> Option<(&'a str, bool)> {
        let s = self.rest.trim_start_matches(' ');
        if s.is_empty() {
            return None;
        }
        let b = s.as_bytes();
        let (tok, quoted, rest) = match b[0] {
            b'"' => {
                let mut i = 1;
                loop {
                    match b.get(i) {
                        None => return None,
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                (s.get(1..i)?, true, s.get(i + 1..)?)
            }
            b'[' => {
                let end = s.find(']')?;
                (&s[1..end], false, &s[end + 1..])
            }
            _ => {
                // Up to a space outside quotes (`urt="0.002, 0.003"` is one field).
                let mut quoted = false;
                let end = b
                    .iter()
                    .position(|&c| {
                        if c == b'"' {
                            quoted = !quoted;
                        }
                        c == b' ' && !quoted
                    })
                    .unwrap_or(b.len());
                (&s[..end], false, &s[end..])
            }
        };
        self.rest = rest;
        Some((tok, quoted))
    }
}

/// Whether the line has the referer and agent of `combined` (else it is `common`).
pub(super) fn has_agent(line: &str) -> bool {
    let mut t = Tokens { rest: line };
    t.nth(7).is_some_and(|(_, q)| q) && t.next().is_some_and(|(_, q)| q)
}

/// A number of seconds, or the sum of a list of them (`0.001, 0.002`, `0.001 : 0.002`).
fn seconds(s: &str) -> Option<f64> {
    let mut sum = 0.0;
    let mut any = false;
    for part in s
        .split([',', ':', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        if part == "-" {
            continue;
        }
        let v: f64 = part.parse().ok()?;
        if !v.is_finite() || v < 0.0 {
            return None;
        }
        sum += v;
        any = true;
    }
    any.then_some(sum)
}

pub(super) fn parse(line: &str) -> Result<Request<'_>, ParseError> {
    let mut t = Tokens { rest: line };
    let mut next = |what| t.next().ok_or(ParseError::Malformed(what));
    let _client = next("no client")?;
    let _ident = next("no ident")?;
    let _user = next("no user")?;
    let (time, _) = next("no time")?;
    let time_ms = parse_clf_time(time).ok_or(ParseError::Malformed("the time is not CLF's"))?;
    let (request, _) = next("no request")?;
    let mut r = request.split(' ');
    let method = r.next().filter(|m| {
        !m.is_empty()
            && m.bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
    });
    let target = r.next().filter(|p| !p.is_empty());
    let (Some(method), Some(target)) = (method, target) else {
        return Err(ParseError::Malformed(
            "the request line is not METHOD TARGET",
        ));
    };
    let (status, _) = next("no status")?;
    let status: u16 = status
        .parse()
        .ok()
        .filter(|s| (100..=999).contains(s))
        .ok_or(ParseError::Malformed("the status is not a number"))?;
    let (bytes, _) = next("no byte count")?;
    let bytes = match bytes {
        "-" => 0,
        b => b
            .parse()
            .map_err(|_| ParseError::Malformed("the byte count is not a number"))?,
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(Cow::Borrowed(q))),
        None => (target, None),
    };
    let mut req = Request {
        time_ms,
        method: Cow::Borrowed(method),
        host: None,
        path: Cow::Borrowed(path),
        query,
        status,
        bytes,
        request_time: None,
        upstream_time: None,
        content_type: None,
        cache: None,
    };
    // The referer and agent, then the operator's extras.
    let mut numbers = 0;
    for (tok, quoted) in t.by_ref() {
        let (key, value) = match tok.split_once('=') {
            Some((k, v))
                if !quoted
                    && !k.is_empty()
                    && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                (Some(k), v.trim_matches('"'))
            }
            _ => (None, tok),
        };
        match key {
            Some("rt" | "request_time") => req.request_time = seconds(value),
            Some("urt" | "upstream_response_time") => req.upstream_time = seconds(value),
            Some("cs" | "cache" | "upstream_cache_status") if value != "-" => {
                req.cache = Some(Cow::Owned(value.to_ascii_lowercase()));
            }
            Some(_) => {}
            None => {
                if let Some(v) = seconds(value).filter(|_| !value.contains('/')) {
                    match numbers {
                        0 => req.request_time = Some(v),
                        1 => req.upstream_time = Some(v),
                        _ => {}
                    }
                    numbers += 1;
                } else if value == "-" && numbers > 0 {
                    numbers += 1;
                }
            }
        }
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_with_times() {
        let r = parse(r#"10.0.0.1 - - [01/Dec/2026:20:01:17 +0000] "GET /media/12/thumb.jpg?w=640 HTTP/1.1" 200 5120 "https://a.example/" "Mozilla/5.0 (X11) \"q\"" 0.012 0.010"#).expect("parses");
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/media/12/thumb.jpg");
        assert_eq!(r.query.as_deref(), Some("w=640"));
        assert_eq!((r.status, r.bytes), (200, 5120));
        assert_eq!(r.request_time, Some(0.012));
        assert_eq!(r.upstream_time, Some(0.010));
        assert_eq!(r.time_ms, 1_796_155_277_000);
    }

    #[test]
    fn extras_by_name_and_missing_upstream() {
        let r = parse(r#"::1 - u [01/Dec/2026:20:01:17 +0100] "HEAD / HTTP/2.0" 304 - "-" "-" rt=0.001 uct="-" urt="0.002, 0.003" cs=HIT"#).expect("parses");
        assert_eq!(r.bytes, 0);
        assert_eq!(r.request_time, Some(0.001));
        assert!((r.upstream_time.expect("urt") - 0.005).abs() < 1e-9);
        assert_eq!(r.cache.as_deref(), Some("hit"));
        assert_eq!(r.time_ms, 1_796_151_677_000);
        let r = parse(
            r#"1.2.3.4 - - [01/Dec/2026:20:01:17 +0000] "GET /x HTTP/1.1" 200 1 "-" "-" 0.100 -"#,
        )
        .expect("parses");
        assert_eq!((r.request_time, r.upstream_time), (Some(0.1), None));
    }

    #[test]
    fn common_and_broken_lines() {
        let l = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
        assert_eq!(parse(l).expect("common").bytes, 2326);
        assert!(!has_agent(l));
        for bad in [
            "",
            "garbage",
            r#"1.2.3.4 - - [01/Dec/2026:20:01:17 +0000] "\x16\x03\x01" 400 0 "-" "-""#,
            r#"1.2.3.4 - - [01/Dec/2026:20:01:17 +0000] "GET /x HTTP/1.1" 2000 0"#,
            r#"1.2.3.4 - - [01/Dec/2026:20:01:17 +0000] "GET /x HTTP/1.1" 200 many"#,
            r#"1.2.3.4 - - [yesterday] "GET /x HTTP/1.1" 200 1"#,
            r#"1.2.3.4 - - [01/Dec/2026:20:01:17 +0000] "GET /x HTTP/1.1"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,120}") {
            let _ = parse(&s);
            let _ = has_agent(&s);
        }

        #[test]
        fn reads_back_what_nginx_writes(path in "/[a-z0-9/._-]{0,30}", status in 100u16..600, bytes in 0u64..1 << 40) {
            let l = format!(r#"10.1.2.3 - - [01/Dec/2026:20:01:17 +0000] "GET {path} HTTP/1.1" {status} {bytes} "-" "ua""#);
            let r = parse(&l).expect("parses");
            proptest::prop_assert_eq!(r.path.as_ref(), path.as_str());
            proptest::prop_assert_eq!((r.status, r.bytes), (status, bytes));
        }
    }
}
