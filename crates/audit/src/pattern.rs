//! Paths folded into groups: the parts that vary between objects of one kind (numeric ids,
//! hashes, UUIDs, sizes such as `640x480` or `w640`) become `*`, so `/media/1234/thumb.jpg` and
//! `/media/98/thumb.jpg` are both `/media/*/thumb.jpg`.

/// Whether one token (a piece of a path segment between `-`, `_` and `.`) varies by object.
fn varies(t: &str) -> bool {
    let b = t.as_bytes();
    if b.is_empty() {
        return false;
    }
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    let all = |f: fn(&u8) -> bool| b.iter().all(f);
    // 123, 0042
    if digits == b.len() {
        return true;
    }
    // Hashes: a1b2c3d4, DEADBEEF01 (with a digit, so words such as "deadbeef" stay).
    if b.len() >= 8 && digits > 0 && all(u8::is_ascii_hexdigit) {
        return true;
    }
    // Sizes: 640x480, w640, h200, 640w, 2x, 300px, q80.
    let lower = t.to_ascii_lowercase();
    let l = lower.as_str();
    if let Some((a, c)) = l.split_once('x') {
        if !a.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && c.bytes().all(|c| c.is_ascii_digit())
        {
            return true;
        }
    }
    for prefix in ["w", "h", "q", "s", "v"] {
        if l.strip_prefix(prefix)
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|c| c.is_ascii_digit()))
        {
            return true;
        }
    }
    for suffix in ["w", "h", "px", "p", "k"] {
        if l.strip_suffix(suffix)
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|c| c.is_ascii_digit()))
        {
            return true;
        }
    }
    // Opaque ids (base64url and the like): long, letters and digits mixed.
    b.len() >= 16 && digits > 0 && digits < b.len() && all(|c| c.is_ascii_alphanumeric())
}

/// One segment with its varying tokens folded, runs of `*` and separators as one `*`.
fn fold_segment(seg: &str, out: &mut String) {
    let start = out.len();
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if varies(token) {
            out.push('*');
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in seg.chars() {
        if matches!(c, '-' | '_' | '.' | ',' | '~' | '+' | '=') {
            flush(&mut token, out);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, out);
    // `*-*-*-*-*` (a UUID) and `*_*` are one `*`.
    let folded: String = {
        let s = &out[start..];
        let mut r = String::with_capacity(s.len());
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            r.push(c);
            if c == '*' {
                loop {
                    let mut look = chars.clone();
                    match (look.next(), look.next()) {
                        (Some('-' | '_'), Some('*')) => {
                            chars.next();
                            chars.next();
                        }
                        _ => break,
                    }
                }
            }
        }
        r
    };
    out.truncate(start);
    out.push_str(&folded);
}

/// `seg` with every UUID (8-4-4-4-12 hex digits) in it as `*`.
fn without_uuids(seg: &str) -> std::borrow::Cow<'_, str> {
    fn is_uuid(b: &[u8]) -> bool {
        b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            })
    }
    let b = seg.as_bytes();
    if b.len() < 36 || !(0..=b.len() - 36).any(|i| is_uuid(&b[i..i + 36])) {
        return std::borrow::Cow::Borrowed(seg);
    }
    let mut out = String::with_capacity(seg.len());
    let mut i = 0;
    while i < b.len() {
        if i + 36 <= b.len() && is_uuid(&b[i..i + 36]) {
            out.push('*');
            i += 36;
        } else {
            // Hex digits and dashes are ASCII: `i` only stops on character boundaries here.
            let c = seg[i..].chars().next().unwrap_or('?');
            out.push(c);
            i += c.len_utf8();
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The group a path belongs to.
#[must_use]
pub fn pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        fold_segment(&without_uuids(seg), &mut out);
    }
    out
}

/// The longest prefix (whole segments, ending in `/`) before the first varying part, to mount
/// a volume at: `/media/*/thumb.jpg` → `/media/`.
#[must_use]
pub fn mount_prefix(pattern: &str) -> &str {
    let cut = pattern.find('*').unwrap_or(pattern.len());
    match pattern[..cut].rfind('/') {
        Some(i) => &pattern[..=i],
        None => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_what_varies() {
        for (path, want) in [
            ("/media/1234/thumb.jpg", "/media/*/thumb.jpg"),
            ("/media/98/thumb.jpg", "/media/*/thumb.jpg"),
            ("/img/640x480/a.png", "/img/*/a.png"),
            ("/static/app.3f9a1c2b7d.js", "/static/app.*.js"),
            ("/u/550e8400-e29b-41d4-a716-446655440000.webp", "/u/*.webp"),
            ("/v/w640/hero.avif", "/v/*/hero.avif"),
            ("/photos/img_2023_0042.jpg", "/photos/img_*.jpg"),
            ("/about/team.html", "/about/team.html"),
            ("/", "/"),
            ("/deadbeef/x", "/deadbeef/x"),
            ("/t/aGVsbG8gd29ybGQ1234/i.jpg", "/t/*/i.jpg"),
        ] {
            assert_eq!(pattern(path), want, "{path}");
        }
    }

    #[test]
    fn mount_prefixes() {
        assert_eq!(mount_prefix("/media/*/thumb.jpg"), "/media/");
        assert_eq!(mount_prefix("/static/app.*.js"), "/static/");
        assert_eq!(mount_prefix("/about/team.html"), "/about/");
        assert_eq!(mount_prefix("*"), "/");
    }

    proptest::proptest! {
        #[test]
        fn folding_is_idempotent_and_keeps_segments(path in "(/[a-zA-Z0-9._~-]{0,12}){0,6}") {
            let p = pattern(&path);
            proptest::prop_assert_eq!(pattern(&p), p.clone());
            proptest::prop_assert_eq!(p.matches('/').count(), path.matches('/').count());
        }
    }
}
