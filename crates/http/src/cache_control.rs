//! `Cache-Control` values (RFC 9111, RFC 5861) for what tinycdn serves.

/// For anything named by content (a version-pinned URL, an object, a manifest by id): it can never
/// change, so caches keep it for a year and never revalidate.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Freshness policy for URLs that go through a tag, which moves when a new version is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagPolicy {
    /// Seconds a response is fresh.
    pub max_age: u32,
    /// Seconds a stale response may be served while it is revalidated in the background.
    pub stale_while_revalidate: u32,
    /// Seconds a stale response may be served when the origin fails.
    pub stale_if_error: u32,
}

impl Default for TagPolicy {
    fn default() -> Self {
        Self {
            max_age: 60,
            stale_while_revalidate: 300,
            stale_if_error: 86_400,
        }
    }
}

impl TagPolicy {
    /// The header value.
    #[must_use]
    pub fn header(&self) -> String {
        format!(
            "public, max-age={}, stale-while-revalidate={}, stale-if-error={}",
            self.max_age, self.stale_while_revalidate, self.stale_if_error
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values() {
        assert_eq!(
            TagPolicy::default().header(),
            "public, max-age=60, stale-while-revalidate=300, stale-if-error=86400"
        );
        assert!(IMMUTABLE.contains("immutable"));
    }
}
