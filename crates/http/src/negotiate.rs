//! `Accept-Encoding` negotiation (RFC 9110 §12.5.3) among precompressed variants.

/// A content coding tinycdn can serve precompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// Zstandard.
    Zstd,
    /// Brotli.
    Br,
    /// gzip.
    Gzip,
}

impl Coding {
    /// The token used in headers.
    #[must_use]
    pub fn token(self) -> &'static str {
        match self {
            Self::Zstd => "zstd",
            Self::Br => "br",
            Self::Gzip => "gzip",
        }
    }
}

/// Whether a media type is worth compressing (text and text-like formats; encoded media is not).
#[must_use]
pub fn compressible(media_type: &str) -> bool {
    let t = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    t.starts_with("text/")
        || t.ends_with("+json")
        || t.ends_with("+xml")
        || matches!(
            t.as_str(),
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "application/wasm"
                | "image/svg+xml"
                | "application/manifest+json"
        )
}

fn qvalue(params: &str) -> Option<f32> {
    for p in params.split(';') {
        let p = p.trim();
        if let Some(v) = p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")) {
            let q: f32 = v.trim().parse().ok()?;
            return (0.0..=1.0).contains(&q).then_some(q);
        }
    }
    Some(1.0)
}

/// Picks the best coding among `available` (in the server's order of preference) that the client
/// accepts; `None` means send the identity encoding.
#[must_use]
pub fn choose(accept_encoding: Option<&str>, available: &[Coding]) -> Option<Coding> {
    let header = accept_encoding?;
    let mut best: Option<(f32, usize, Coding)> = None;
    let mut star: Option<f32> = None;
    let mut listed = Vec::new();
    for item in header.split(',') {
        let (name, params) = item.split_once(';').unwrap_or((item, ""));
        let name = name.trim().to_ascii_lowercase();
        let Some(q) = qvalue(params) else { continue };
        if name == "*" {
            star = Some(q);
            continue;
        }
        listed.push(name.clone());
        if let Some((rank, c)) = available
            .iter()
            .enumerate()
            .find(|(_, c)| c.token() == name)
        {
            if q > 0.0 && best.is_none_or(|(bq, br, _)| q > bq || (q == bq && rank < br)) {
                best = Some((q, rank, *c));
            }
        }
    }
    if best.is_none() {
        if let Some(q) = star.filter(|q| *q > 0.0) {
            best = available
                .iter()
                .enumerate()
                .find(|(_, c)| !listed.iter().any(|l| l == c.token()))
                .map(|(rank, c)| (q, rank, *c));
        }
    }
    best.map(|(_, _, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Coding; 3] = [Coding::Zstd, Coding::Br, Coding::Gzip];

    #[test]
    fn picks_by_quality_then_server_order() {
        assert_eq!(choose(None, &ALL), None);
        assert_eq!(choose(Some("gzip, br"), &ALL), Some(Coding::Br));
        assert_eq!(choose(Some("gzip;q=1, br;q=0.5"), &ALL), Some(Coding::Gzip));
        assert_eq!(choose(Some("zstd;q=0, gzip"), &ALL), Some(Coding::Gzip));
        assert_eq!(choose(Some("identity"), &ALL), None);
        assert_eq!(choose(Some("*"), &ALL), Some(Coding::Zstd));
        assert_eq!(choose(Some("zstd;q=0, *"), &ALL), Some(Coding::Br));
        assert_eq!(choose(Some("gzip;q=bogus"), &ALL), None);
        assert_eq!(choose(Some("br"), &[Coding::Gzip]), None);
    }

    #[test]
    fn only_text_like_types_compress() {
        assert!(compressible("text/css; charset=utf-8"));
        assert!(compressible("application/javascript"));
        assert!(compressible("image/svg+xml"));
        assert!(!compressible("image/jpeg"));
        assert!(!compressible("video/mp4"));
    }
}
