//! What must hold for any input to the parsers this crate owns (the header probe, the query
//! parameters, the transform's glue): checked by the fuzz targets (`fuzz/`) and by the tests
//! that replay their corpora. Each function panics when an invariant breaks.

use crate::limits::Limits;
use crate::params::{split, Format};
use crate::policy::Policy;
use crate::probe::probe as probe_header;

/// The header probe on arbitrary bytes: no panic; what it accepts is consistent.
pub fn probe(data: &[u8]) {
    let _ = crate::probe::jpeg_complete(data);
    if let Ok(i) = probe_header(data) {
        assert!(i.width >= 1 && i.height >= 1);
        assert!((1..=8).contains(&i.orientation));
        assert!(i.frames >= 1);
        let (w, h) = i.oriented();
        assert_eq!(
            u64::from(w) * u64::from(h),
            u64::from(i.width) * u64::from(i.height)
        );
    }
}

/// Query parameters on arbitrary text: no panic; the query left for the source holds no image
/// key; normalised forms are stable and within bounds.
pub fn params(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::negotiate::lists(&text, "image/avif");
    let Ok(Some(s)) = split(&text) else { return };
    assert_eq!(
        split(&s.rest),
        Ok(None),
        "the rest still has image keys: {}",
        s.rest
    );
    assert!(!s
        .signed_part
        .split('&')
        .any(|p| p.starts_with("sig=") || p == "sig"));
    let (w, h) = s.params.device_box();
    for v in [w, h].into_iter().flatten() {
        assert!((1..=4 * crate::params::MAX_SIDE).contains(&v));
    }
    for f in [Format::Jpeg, Format::Webp, Format::Avif, Format::Png] {
        let n = s.params.normalised(f);
        assert_eq!(n, s.params.normalised(f));
        assert_eq!(n.format, f);
        assert!((1..=100).contains(&n.q));
        let _ = n.to_string();
    }
    let _ = Policy::default().check("h", "/a.jpg", &s);
    let guarded = Policy {
        keys: vec![b"k".to_vec()],
        allow: Some(crate::policy::Allowlist::default()),
        legacy_signatures: true,
    };
    let _ = guarded.check("h", "/a.jpg", &s);
}

/// The whole transform on arbitrary bytes under small caps: no panic, and an output is an image
/// of the size asked for.
pub fn transform(data: &[u8]) {
    let limits = Limits {
        max_source_pixels: 1 << 20,
        max_memory: 32 << 20,
        ..Limits::default()
    };
    let Ok(info) = crate::inspect(data, &limits) else {
        return;
    };
    let Ok(Some(s)) = split("w=32&h=32") else {
        return;
    };
    let n = s.params.normalised(Format::Png);
    if let Ok(out) = crate::transform(data, &info, &n, &limits, None) {
        let back = probe_header(&out.bytes).unwrap_or_else(|e| panic!("the output: {e}"));
        assert!(back.width <= 32 && back.height <= 32);
        assert_eq!((back.width, back.height), (out.width, out.height));
    }
}
