//! CloudFront standard logs: W3C extended, tab-separated, fields in the order the `#Fields:`
//! line names them (the documented order when a file has none).

use std::borrow::Cow;

use super::{time::days_from_civil, ParseError, Request};

/// The documented field order of CloudFront standard logs (version 1.0).
const DEFAULT: &str = "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem \
    sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type \
    x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol \
    ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields \
    c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len \
    sc-range-start sc-range-end";

/// Where each field used is in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    date: Option<usize>,
    time: Option<usize>,
    bytes: Option<usize>,
    method: Option<usize>,
    host: Option<usize>,
    stem: Option<usize>,
    status: Option<usize>,
    query: Option<usize>,
    result: Option<usize>,
    taken: Option<usize>,
    content_type: Option<usize>,
}

impl Default for Fields {
    fn default() -> Self {
        Self::from_header(DEFAULT)
    }
}

impl Fields {
    /// From a `#Fields:` line's names.
    #[must_use]
    pub fn from_header(names: &str) -> Self {
        let names: Vec<&str> = names.split_whitespace().collect();
        let at = |n: &str| names.iter().position(|x| *x == n);
        Self {
            date: at("date"),
            time: at("time"),
            bytes: at("sc-bytes"),
            method: at("cs-method"),
            host: at("x-host-header").or_else(|| at("cs(Host)")),
            stem: at("cs-uri-stem"),
            status: at("sc-status"),
            query: at("cs-uri-query"),
            result: at("x-edge-result-type"),
            taken: at("time-taken"),
            content_type: at("sc-content-type"),
        }
    }
}

fn present(v: &str) -> Option<&str> {
    (!v.is_empty() && v != "-").then_some(v)
}

pub(super) fn parse<'a>(line: &'a str, f: &Fields) -> Result<Request<'a>, ParseError> {
    let cols: Vec<&str> = line.split('\t').collect();
    let get = |i: Option<usize>| i.and_then(|i| cols.get(i).copied()).and_then(present);
    let need = |i, what| get(i).ok_or(ParseError::Malformed(what));
    let date = need(f.date, "no date")?;
    let time = need(f.time, "no time")?;
    let time_ms = cloudfront_time(date, time).ok_or(ParseError::Malformed("bad date or time"))?;
    let status = need(f.status, "no status")?
        .parse()
        .ok()
        .filter(|s| (100..=999).contains(s))
        .ok_or(ParseError::Malformed("the status is not a number"))?;
    let bytes = need(f.bytes, "no byte count")?
        .parse()
        .map_err(|_| ParseError::Malformed("the byte count is not a number"))?;
    let cache = get(f.result).map(|r| {
        Cow::Borrowed(match r {
            "Hit" | "RefreshHit" | "OriginShieldHit" => "hit",
            "Miss" => "miss",
            "Error" | "LimitExceeded" | "CapacityExceeded" => "error",
            "Redirect" => "pass",
            _ => "other",
        })
    });
    Ok(Request {
        time_ms,
        method: Cow::Borrowed(need(f.method, "no method")?),
        host: get(f.host).map(Cow::Borrowed),
        path: Cow::Borrowed(need(f.stem, "no path")?),
        query: get(f.query).map(Cow::Borrowed),
        status,
        bytes,
        request_time: get(f.taken)
            .and_then(|t| t.parse().ok())
            .filter(|v: &f64| v.is_finite() && *v >= 0.0),
        upstream_time: None,
        content_type: get(f.content_type).map(Cow::Borrowed),
        cache,
    })
}

/// `2019-12-04` and `21:02:31` (UTC) to milliseconds.
fn cloudfront_time(date: &str, time: &str) -> Option<i64> {
    let mut d = date.split('-').map(str::parse::<u32>);
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':').map(str::parse::<u32>);
    let (h, mi, s) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(
        (days_from_civil(i64::from(y), m, day) * 86_400
            + i64::from(h) * 3600
            + i64::from(mi) * 60
            + i64::from(s))
            * 1000,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example line of CloudFront's documentation.
    const LINE: &str = "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\tMozilla/5.0%20(Windows%20NT%2010.0;%20Win64;%20x64)\t-\t-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\td111111abcdef8.cloudfront.net\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-";

    #[test]
    fn reads_the_documented_example() {
        let r = parse(LINE, &Fields::default()).expect("parses");
        assert_eq!(r.path, "/index.html");
        assert_eq!((r.status, r.bytes), (200, 392));
        assert_eq!(r.cache.as_deref(), Some("hit"));
        assert_eq!(r.request_time, Some(0.001));
        assert_eq!(r.content_type.as_deref(), Some("text/html"));
        assert_eq!(r.time_ms, 1_575_493_351_000);
        assert!(parse("2019-12-04\t21:02:31", &Fields::default()).is_err());
    }

    #[test]
    fn follows_the_fields_line() {
        let f = Fields::from_header(" sc-status cs-uri-stem date time sc-bytes cs-method");
        let r = parse("404\t/a\t2020-01-01\t00:00:00\t10\tGET", &f).expect("parses");
        assert_eq!((r.status, r.path.as_ref(), r.bytes), (404, "/a", 10));
    }
}
