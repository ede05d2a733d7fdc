//! Properties the fuzz targets check (`fuzz/fuzz_targets/log_line.rs`) and the tests replay on
//! the committed corpora: no parser panics on any line, what parses is sane, and path folding
//! is stable.

use crate::parse::{detect, Format, Parser};
use crate::pattern::{mount_prefix, pattern};

/// Every format's parser on `data` as lines (the CloudFront one with any `#Fields:` line in it).
///
/// # Panics
/// When a property fails (that is the point).
pub fn log_line(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for f in [
        Format::Nginx,
        Format::Common,
        Format::Json,
        Format::CloudFront,
    ] {
        let mut p = Parser::new(f);
        for line in text.lines() {
            if let Ok(r) = p.parse(line) {
                assert!(
                    (100..=999).contains(&r.status),
                    "{f:?}: status {}",
                    r.status
                );
                assert!(!r.method.is_empty());
                assert!(r.request_time.is_none_or(|t| t.is_finite() && t >= 0.0));
                assert!(r.upstream_time.is_none_or(|t| t.is_finite() && t >= 0.0));
                let g = pattern(&r.path);
                assert_eq!(pattern(&g), g, "folding is idempotent");
                assert!(g.len() <= r.path.len() + 1);
                assert!(g.starts_with(mount_prefix(&g)) || mount_prefix(&g) == "/");
            }
        }
    }
    let _ = detect(text.lines());
}
