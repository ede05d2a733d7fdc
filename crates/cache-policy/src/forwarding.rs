//! Header fields an intermediary removes or adds when it forwards a message: hop-by-hop fields
//! (RFC 9110 §7.6.1), `Via` (§7.6.3), `Forwarded` (RFC 7239) and `X-Forwarded-For`.

use std::net::IpAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::directives::field_value;

/// Fields that describe one connection, never forwarded or stored (RFC 9110 §7.6.1, and the
/// non-standard `Keep-Alive` and `Proxy-Connection`).
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop fields: the fixed list and every field `Connection` names.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = field_value(headers, "connection")
        .unwrap_or_default()
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    for n in named {
        if let Ok(name) = HeaderName::from_bytes(n.as_bytes()) {
            headers.remove(name);
        }
    }
    for n in HOP_BY_HOP {
        headers.remove(n);
    }
}

/// The protocol version as `Via` writes it (`1.0`, `1.1`, `2`, `3`).
#[must_use]
pub fn via_version(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// Appends `VERSION PSEUDONYM` to `Via`.
pub fn append_via(headers: &mut HeaderMap, version: http::Version, pseudonym: &str) {
    let mut hop = String::with_capacity(4 + pseudonym.len());
    hop.push_str(via_version(version));
    hop.push(' ');
    hop.push_str(pseudonym);
    let joined = match field_value(headers, "via") {
        Some(v) => format!("{v}, {hop}"),
        None => hop,
    };
    if let Ok(v) = HeaderValue::from_str(&joined) {
        headers.insert("via", v);
    }
}

/// Whether `Via` already lists `pseudonym` (the message has come round: a forwarding loop).
#[must_use]
pub fn via_lists(headers: &HeaderMap, pseudonym: &str) -> bool {
    field_value(headers, "via").is_some_and(|v| {
        v.split(',').any(|hop| {
            hop.split_whitespace()
                .nth(1)
                .is_some_and(|p| p.eq_ignore_ascii_case(pseudonym))
        })
    })
}

/// A `Forwarded` node for an address (RFC 7239 §6: IPv6 bracketed and quoted).
fn node(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("\"[{v6}]\""),
    }
}

/// A `Forwarded` parameter value: a token as it is, anything else quoted.
fn value(s: &str) -> String {
    let token = !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c));
    if token {
        s.to_owned()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// Adds this hop to `Forwarded` (`for`, `proto`, `host`) and `X-Forwarded-For`, after what earlier
/// proxies wrote.
pub fn append_forwarded(headers: &mut HeaderMap, client: IpAddr, proto: &str, host: Option<&str>) {
    let mut element = format!("for={};proto={proto}", node(client));
    if let Some(h) = host {
        element.push_str(&format!(";host={}", value(h)));
    }
    for (name, add) in [
        ("forwarded", element),
        ("x-forwarded-for", client.to_string()),
    ] {
        let joined = match field_value(headers, name) {
            Some(v) => format!("{v}, {add}"),
            None => add,
        };
        if let Ok(v) = HeaderValue::from_str(&joined) {
            headers.insert(name, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::headers as h;

    #[test]
    fn rfc9110_section_7_6_1_hop_by_hop_fields_go() {
        let mut m = h(&[
            ("connection", "keep-alive, X-Secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic x"),
            ("content-type", "text/plain"),
        ]);
        remove_hop_by_hop(&mut m);
        assert_eq!(m.len(), 1);
        assert!(m.contains_key("content-type"));
    }

    #[test]
    fn rfc9110_section_7_6_3_via() {
        let mut m = HeaderMap::new();
        append_via(&mut m, http::Version::HTTP_11, "tinycdn-a1");
        append_via(&mut m, http::Version::HTTP_2, "tinycdn-b2");
        assert_eq!(m["via"], "1.1 tinycdn-a1, 2 tinycdn-b2");
        assert!(via_lists(&m, "tinycdn-b2"));
        assert!(!via_lists(&m, "tinycdn"));
    }

    #[test]
    fn rfc7239_forwarded_and_x_forwarded_for() {
        let mut m = h(&[("x-forwarded-for", "203.0.113.9")]);
        append_forwarded(
            &mut m,
            "192.0.2.1".parse().expect("ip"),
            "http",
            Some("example.com"),
        );
        append_forwarded(
            &mut m,
            "2001:db8::1".parse().expect("ip"),
            "https",
            Some("a b"),
        );
        assert_eq!(
            m["forwarded"],
            "for=192.0.2.1;proto=http;host=example.com, for=\"[2001:db8::1]\";proto=https;host=\"a b\""
        );
        assert_eq!(m["x-forwarded-for"], "203.0.113.9, 192.0.2.1, 2001:db8::1");
    }
}
