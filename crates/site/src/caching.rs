//! The caching a site's files need by default, before `_headers` overrides it: a file whose name
//! carries a content hash (`app.3f9a1c.js`, Vite's `index-BzTf3Ab9.js`, esbuild's
//! `chunk-AB12CD34.js`) never changes under that name, so it is cached for a year and marked
//! `immutable`; everything else — HTML, the service worker, the web manifest, and files whose
//! names do not change with their content — must be revalidated on every use, so a new version
//! shows at the next navigation (with strong ETags the revalidation is a 304).

/// `Cache-Control` for files named by their content.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` for everything else.
pub const REVALIDATE: &str = "public, max-age=0, must-revalidate";

/// Whether `token` looks like a content hash: 6–64 characters of `[A-Za-z0-9_]` with a digit and
/// a letter, and either all hex, mixed case, or at least 8 long (so `v2`, `2x`, `min`, `20240101`
/// and `IMG1234` are not).
fn is_hash(token: &str) -> bool {
    let b = token.as_bytes();
    if !(6..=64).contains(&b.len()) || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') {
        return false;
    }
    let digit = b.iter().any(u8::is_ascii_digit);
    let letter = b.iter().any(u8::is_ascii_alphabetic);
    let hex = b
        .iter()
        .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
    let mixed = b.iter().any(u8::is_ascii_lowercase) && b.iter().any(u8::is_ascii_uppercase);
    digit && letter && (hex || mixed || b.len() >= 8)
}

/// Whether the file name (the last path segment) carries a content hash: one of the `.`, `-` or
/// `_`-separated tokens before the extension (CRA's `main.8c8b27cf.chunk.css` has it in the
/// middle; webpack's `[contenthash].js` is nothing but).
#[must_use]
pub fn is_hashed_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some((stem, _ext)) = name.rsplit_once('.') else {
        return false;
    };
    stem.split(['.', '-', '_']).any(is_hash)
}

/// The default `Cache-Control` of a site file.
#[must_use]
pub fn default_cache_control(path: &str) -> &'static str {
    if is_hashed_name(path) {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_immutable_and_the_rest_revalidates() {
        for p in [
            "assets/app.3f9a1c.js",
            "assets/index-BzTf3Ab9.js",
            "chunk-AB12CD34.js",
            "img/hero.5d41402abc4b2a76b9719d911017c592.jpg",
            "static/css/main.8c8b27cf.chunk.css",
        ] {
            assert_eq!(default_cache_control(p), IMMUTABLE, "{p}");
        }
        for p in [
            "index.html",
            "about.html",
            "sw.js",
            "manifest.webmanifest",
            "jquery-3.7.1.min.js",
            "logo-2x.png",
            "bundle-20240101.js",
            "photo-IMG1234.jpg",
            "robots.txt",
            "README",
            "app.min.js",
        ] {
            assert_eq!(default_cache_control(p), REVALIDATE, "{p}");
        }
    }
}
