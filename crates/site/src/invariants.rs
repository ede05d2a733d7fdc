//! Properties of the site rules on any input, checked by the fuzz targets and by replaying
//! their committed corpora in the tests.

use crate::{HeaderRules, Redirects};

/// `_redirects` on `data`: parsed or refused with a line, never a panic; a parsed file answers
/// each rule's example path with a destination that is a path or (when allowed) an URL.
///
/// # Panics
/// When a property fails (that is the point).
pub fn redirects(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for allow in [false, true] {
        match Redirects::parse(text, allow) {
            Ok(r) => {
                for rule in r.rules() {
                    let m = r
                        .lookup(&rule.source.example())
                        .expect("a rule's example path matches some rule");
                    assert!(m.to.starts_with('/') || (allow && m.to.contains("//")));
                }
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}

/// `_headers` on `data`: parsed or refused with a line, never a panic; the headers a parsed
/// file yields are tokens with values free of control bytes.
///
/// # Panics
/// When a property fails (that is the point).
pub fn headers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(h) = HeaderRules::parse(text) {
        for rule in h.rules() {
            for (name, value) in h.headers_for(&rule.pattern.example()) {
                assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()));
                assert!(!value.bytes().any(|b| b.is_ascii_control()));
            }
        }
    }
}

/// A request's `Host` and `Cookie` on `data` (split at the first newline): never a panic; a
/// normalised host normalises to itself and is lower case without a port; a host classified as
/// a preview names exactly the version its label spells, one label below the site; the pinning
/// cookie's value is a substring of the header.
///
/// # Panics
/// When a property fails (that is the point).
pub fn request_host(data: &[u8]) {
    use crate::host::{classify, normalise, parse_label, preview_label, HostMatch};
    let text = String::from_utf8_lossy(data);
    let (host, cookie) = text.split_once('\n').unwrap_or((&text, ""));
    if let Some(h) = normalise(host) {
        assert_eq!(normalise(&h).as_deref(), Some(h.as_str()));
        assert!(!h.contains(':') && h == h.to_ascii_lowercase());
        let sites = ["example.com", "a.b.example.com"];
        match classify(&h, sites) {
            HostMatch::Live(s) => assert_eq!(s, h),
            HostMatch::Preview(s, id) => {
                assert_eq!(h, format!("{}.{s}", preview_label(&id)));
            }
            HostMatch::None => assert!(!sites.contains(&h.as_str())),
        }
    }
    if let Some(id) = parse_label(host) {
        assert_eq!(preview_label(&id), host);
    }
    if let Some(v) = crate::pinning::cookie_value(cookie) {
        assert!(cookie.contains(v));
    }
}
