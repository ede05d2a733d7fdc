//! Which site a request is for: its `Host` header normalised (lower case, no port, no trailing
//! dot, only hostname bytes), and preview hosts — `<label>.HOST`, where the label is a version
//! id in lower-case base32 (RFC 4648, no padding: 52 characters, since 64 hex digits do not fit
//! a 63-byte DNS label). A preview host names one immutable version; its own origin keeps its
//! cookies and service worker apart from the live site's.

/// Characters of a preview label (RFC 4648 base32, lower case).
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Length of a preview label: 32 bytes in base32 without padding.
pub const LABEL_LEN: usize = 52;

/// Longest host name (RFC 1035).
pub const MAX_HOST: usize = 253;

/// The host a `Host` header (or `:authority`) names: lower case, without a port or a trailing
/// dot; `None` when it is not a host name (empty, too long, a bad byte, an empty label, a
/// bracketed address, a bad port).
#[must_use]
pub fn normalise(header: &str) -> Option<String> {
    let (name, port) = match header.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (header, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > MAX_HOST {
        return None;
    }
    let ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    ok.then(|| name.to_ascii_lowercase())
}

/// The preview label of a version id (32 bytes).
#[must_use]
pub fn preview_label(id: &[u8; 32]) -> String {
    let mut out = String::with_capacity(LABEL_LEN);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in id {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The version id a preview label names; `None` unless it is exactly [`preview_label`] of one
/// (canonical: the unused low bits of the last character are zero).
#[must_use]
pub fn parse_label(label: &str) -> Option<[u8; 32]> {
    if label.len() != LABEL_LEN {
        return None;
    }
    let mut out = [0u8; 32];
    let (mut acc, mut bits, mut n) = (0u32, 0u32, 0usize);
    for c in label.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)?;
        acc = (acc << 5) | u32::try_from(v).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(n)? = u8::try_from((acc >> bits) & 0xff).ok()?;
            n += 1;
        }
        acc &= (1 << bits) - 1;
    }
    (n == 32 && acc == 0).then_some(out)
}

/// What a normalised host is, given the site hosts configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch<'a> {
    /// The live site at this configured host.
    Live(&'a str),
    /// A preview of the version `id` of the site at this configured host.
    Preview(&'a str, [u8; 32]),
    /// No site.
    None,
}

/// Matches `host` (already [`normalise`]d) against the configured site hosts.
#[must_use]
pub fn classify<'a>(host: &str, sites: impl IntoIterator<Item = &'a str>) -> HostMatch<'a> {
    let (label, parent) = host.split_once('.').unwrap_or((host, ""));
    let id = parse_label(label);
    for site in sites {
        if site == host {
            return HostMatch::Live(site);
        }
        if let Some(id) = id.filter(|_| site == parent) {
            return HostMatch::Preview(site, id);
        }
    }
    HostMatch::None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hosts_normalise() {
        assert_eq!(
            normalise("Example.COM:8080").as_deref(),
            Some("example.com")
        );
        assert_eq!(normalise("example.com.").as_deref(), Some("example.com"));
        assert_eq!(normalise("127.0.0.1:80").as_deref(), Some("127.0.0.1"));
        for bad in [
            "",
            ":80",
            "a..b",
            "a b",
            "ex/ample",
            "a:",
            "a:123456",
            "a:8x",
            "-a.com",
            "a-.com",
            "[::1]:80",
            "a\r\nb",
            "exämple.com",
        ] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
        assert_eq!(normalise(&"a".repeat(254)), None);
    }

    #[test]
    fn labels_match_rfc4648() {
        // RFC 4648 section 10's vector, lower case, for the first bytes.
        let mut id = [0u8; 32];
        id[..6].copy_from_slice(b"foobar");
        assert!(preview_label(&id).starts_with("mzxw6ytboi"));
        assert_eq!(preview_label(&[0; 32]), "a".repeat(52));
        // The last character carries 2 unused bits: only the canonical spelling parses.
        let l = preview_label(&[0xff; 32]);
        assert_eq!(parse_label(&l), Some([0xff; 32]));
        let mut other = l.clone();
        other.pop();
        other.push('7');
        assert_eq!(parse_label(&other), None);
        assert_eq!(parse_label(&l[1..]), None);
        assert_eq!(parse_label(&l.to_uppercase()), None);
    }

    #[test]
    fn previews_are_one_label_below_a_site() {
        let id = [7u8; 32];
        let label = preview_label(&id);
        let sites = ["example.com", "shop.example.com"];
        assert_eq!(
            classify("example.com", sites),
            HostMatch::Live("example.com")
        );
        assert_eq!(
            classify(&format!("{label}.example.com"), sites),
            HostMatch::Preview("example.com", id)
        );
        assert_eq!(
            classify(&format!("{label}.shop.example.com"), sites),
            HostMatch::Preview("shop.example.com", id)
        );
        assert_eq!(classify("www.example.com", sites), HostMatch::None);
        assert_eq!(
            classify(&format!("{label}.other.com"), sites),
            HostMatch::None
        );
        assert_eq!(
            classify(&format!("x.{label}.example.com"), sites),
            HostMatch::None
        );
    }

    proptest! {
        #[test]
        fn labels_round_trip(id in proptest::array::uniform32(any::<u8>())) {
            let l = preview_label(&id);
            prop_assert_eq!(l.len(), LABEL_LEN);
            prop_assert_eq!(normalise(&format!("{l}.example.com")), Some(format!("{l}.example.com")));
            prop_assert_eq!(parse_label(&l), Some(id));
        }

        #[test]
        fn labels_parse_only_canonically(s in "[a-z2-7]{52}") {
            if let Some(id) = parse_label(&s) {
                prop_assert_eq!(preview_label(&id), s);
            }
        }

        #[test]
        fn normalise_is_idempotent(s in "\\PC{0,40}") {
            if let Some(h) = normalise(&s) {
                prop_assert_eq!(normalise(&h), Some(h.clone()));
            }
        }
    }
}
