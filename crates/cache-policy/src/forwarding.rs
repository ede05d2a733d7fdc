//! Header fields an intermediary removes or adds when it forwards a message: hop-by-hop fields
//! (RFC 9110 §7.6.1), `Via` (§7.6.3), `Forwarded` (RFC 7239) and the `X-Forwarded-*` family.
//!
//! Applications behind a proxy build links, redirects and "force https" rules from
//! `X-Forwarded-Host`, `X-Forwarded-Proto` or `Forwarded: host=` (Rails, Django with
//! `USE_X_FORWARDED_HOST`, Symfony, Express with `trust proxy`, Next.js). None of these is part of
//! the cache key, so a client that sends them can have a page built for a host or scheme of its
//! choice stored for every visitor (web cache poisoning). [`rewrite_forwarding`] therefore removes
//! every such field a client sent ([`CLIENT_FORWARDING`]) and writes them afresh from what the
//! edge itself knows: the connection and the `Host` it keyed on. Only a previous hop the operator
//! trusts (a load balancer or TLS terminator) may extend the `Forwarded`/`X-Forwarded-For` chain
//! and say which scheme the client used.

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

/// Fields through which a client can tell an application what the request "really" was, removed
/// from every client request: the proxy family (`Forwarded`, `X-Forwarded-*`), URL-rewrite
/// overrides (IIS's `X-Original-URL`, `X-Rewrite-URL`; Symfony and Zend honour them), method
/// overrides (a `GET` an application treats as `POST` or `DELETE` but the cache stores as a
/// `GET`), and the client-address fields other CDNs and load balancers set.
pub const CLIENT_FORWARDING: [&str; 27] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-forwarded-scheme",
    "x-forwarded-ssl",
    "x-forwarded-protocol",
    "x-forwarded-path",
    "x-forwarded-uri",
    "x-forwarded",
    "forwarded-for",
    "front-end-https",
    "x-url-scheme",
    "x-scheme",
    "x-original-url",
    "x-rewrite-url",
    "x-original-host",
    "x-host",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
];

/// The hop a request arrived on, as the edge saw it.
#[derive(Debug, Clone, Copy)]
pub struct Hop<'a> {
    /// The connection's peer.
    pub client: IpAddr,
    /// `http` or `https`: the scheme the edge keyed the request under.
    pub proto: &'a str,
    /// The `Host` the edge keyed the request under.
    pub host: &'a str,
    /// Whether the peer is a proxy the operator trusts (`--trusted-proxies`): then its
    /// `Forwarded` and `X-Forwarded-For` chains are kept and extended.
    pub trusted: bool,
}

/// Removes what a client sent of [`CLIENT_FORWARDING`] (a trusted peer keeps its `Forwarded` and
/// `X-Forwarded-For` chains) and sets `Forwarded`, `X-Forwarded-For`, `X-Forwarded-Proto` and
/// `X-Forwarded-Host` from `hop`.
pub fn rewrite_forwarding(headers: &mut HeaderMap, hop: &Hop<'_>) {
    for name in CLIENT_FORWARDING {
        if hop.trusted && matches!(name, "forwarded" | "x-forwarded-for") {
            continue;
        }
        headers.remove(name);
    }
    append_forwarded(headers, hop.client, hop.proto, Some(hop.host));
    if let Ok(v) = HeaderValue::from_str(hop.proto) {
        headers.insert("x-forwarded-proto", v);
    }
    if let Ok(v) = HeaderValue::from_str(hop.host) {
        headers.insert("x-forwarded-host", v);
    }
}

/// The scheme a trusted previous hop says the client used: the last `proto=` of `Forwarded`,
/// else the last value of `X-Forwarded-Proto`; `None` when it says nothing usable (only `http`
/// and `https` are).
#[must_use]
pub fn forwarded_proto(headers: &HeaderMap) -> Option<&'static str> {
    let pick = |v: &str| match v.trim().trim_matches('"') {
        p if p.eq_ignore_ascii_case("https") => Some("https"),
        p if p.eq_ignore_ascii_case("http") => Some("http"),
        _ => None,
    };
    if let Some(f) = field_value(headers, "forwarded") {
        let last = f.rsplit(',').next().unwrap_or("");
        let proto = last.split(';').find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("proto").then_some(v)
        });
        if let Some(p) = proto {
            return pick(p);
        }
    }
    field_value(headers, "x-forwarded-proto").and_then(|v| pick(v.rsplit(',').next()?))
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

    #[test]
    fn a_client_cannot_choose_the_host_or_scheme_the_application_sees() {
        let sent = [
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "http"),
            ("x-forwarded-port", "1"),
            ("x-forwarded-prefix", "/evil"),
            ("forwarded", "for=1.2.3.4;host=evil.example;proto=http"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-original-url", "/admin"),
            ("x-rewrite-url", "/admin"),
            ("x-http-method-override", "DELETE"),
            ("x-real-ip", "1.2.3.4"),
            ("accept", "*/*"),
        ];
        let hop = Hop {
            client: "192.0.2.7".parse().expect("ip"),
            proto: "https",
            host: "shop.example",
            trusted: false,
        };
        let mut m = h(&sent);
        rewrite_forwarding(&mut m, &hop);
        assert_eq!(m["x-forwarded-host"], "shop.example");
        assert_eq!(m["x-forwarded-proto"], "https");
        assert_eq!(m["x-forwarded-for"], "192.0.2.7");
        assert_eq!(
            m["forwarded"],
            "for=192.0.2.7;proto=https;host=shop.example"
        );
        for gone in [
            "x-forwarded-port",
            "x-forwarded-prefix",
            "x-original-url",
            "x-rewrite-url",
            "x-http-method-override",
            "x-real-ip",
        ] {
            assert!(!m.contains_key(gone), "{gone}");
        }
        assert_eq!(m["accept"], "*/*");
        assert_eq!(m.get_all("x-forwarded-host").iter().count(), 1);

        // A trusted load balancer's chain is extended, not replaced; its host claim still goes.
        let mut m = h(&sent);
        rewrite_forwarding(
            &mut m,
            &Hop {
                trusted: true,
                ..hop
            },
        );
        assert_eq!(m["x-forwarded-for"], "1.2.3.4, 192.0.2.7");
        assert_eq!(m["x-forwarded-host"], "shop.example");
        assert!(m["forwarded"]
            .to_str()
            .expect("ascii")
            .ends_with(", for=192.0.2.7;proto=https;host=shop.example"));
    }

    #[test]
    fn the_scheme_a_trusted_hop_reports() {
        assert_eq!(
            forwarded_proto(&h(&[("x-forwarded-proto", "https")])),
            Some("https")
        );
        assert_eq!(
            forwarded_proto(&h(&[("x-forwarded-proto", "http, HTTPS")])),
            Some("https")
        );
        assert_eq!(
            forwarded_proto(&h(&[
                (
                    "forwarded",
                    "for=1.2.3.4;proto=http, for=5.6.7.8;proto=\"https\""
                ),
                ("x-forwarded-proto", "http")
            ])),
            Some("https")
        );
        assert_eq!(
            forwarded_proto(&h(&[("x-forwarded-proto", "gopher")])),
            None
        );
        assert_eq!(forwarded_proto(&h(&[])), None);
    }
}
