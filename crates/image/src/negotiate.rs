//! `fmt=auto`: the output format from the client's `Accept`, without I/O.
//!
//! AVIF when `Accept` names `image/avif`, else WebP when it names `image/webp`, else PNG for a
//! source with alpha and JPEG otherwise. Only an exact media type with a non-zero `q` counts: a
//! browser that sends `*/*` or `image/*` has not said it decodes AVIF. The answer is one of four
//! format classes, and the cache keys on that class, never on the raw header (which has as many
//! spellings as there are browser versions).

use crate::params::{Format, FormatChoice};

/// Whether `accept` lists `media` (exactly, case-insensitively) with a non-zero weight.
#[must_use]
pub fn lists(accept: &str, media: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let ty = parts.next().unwrap_or("").trim();
        if !ty.eq_ignore_ascii_case(media) {
            return false;
        }
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("q") {
                let v = v.trim();
                // RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
                return v.parse::<f32>().is_ok_and(|q| q > 0.0 && q <= 1.0);
            }
        }
        true
    })
}

/// The output format for a request: what it fixed, the source's own (`source` with `alpha`
/// when it has an alpha channel), or the best one `accept` takes.
#[must_use]
pub fn choose(choice: FormatChoice, accept: Option<&str>, source: Format, alpha: bool) -> Format {
    match choice {
        FormatChoice::Fixed(f) => f,
        FormatChoice::Source => source,
        FormatChoice::Auto => {
            let accept = accept.unwrap_or("");
            if lists(accept, "image/avif") {
                Format::Avif
            } else if lists(accept, "image/webp") {
                Format::Webp
            } else if alpha {
                Format::Png
            } else {
                Format::Jpeg
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
    const SAFARI_15: &str =
        "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5";
    const FIREFOX_OLD: &str = "image/webp,*/*";

    #[test]
    fn auto_takes_the_best_format_the_client_names() {
        let auto = FormatChoice::Auto;
        assert_eq!(
            choose(auto, Some(CHROME), Format::Jpeg, false),
            Format::Avif
        );
        assert_eq!(
            choose(auto, Some(SAFARI_15), Format::Jpeg, false),
            Format::Webp
        );
        assert_eq!(
            choose(auto, Some(FIREFOX_OLD), Format::Png, true),
            Format::Webp
        );
        assert_eq!(choose(auto, Some("*/*"), Format::Png, true), Format::Png);
        assert_eq!(choose(auto, None, Format::Webp, false), Format::Jpeg);
        assert_eq!(
            choose(auto, Some("image/*"), Format::Jpeg, false),
            Format::Jpeg
        );
    }

    #[test]
    fn a_zero_weight_or_a_malformed_one_refuses_the_format() {
        assert!(!lists("image/avif;q=0, image/webp", "image/avif"));
        assert!(!lists("image/avif;q=0.000", "image/avif"));
        assert!(!lists("image/avif;q=2", "image/avif"));
        assert!(lists("IMAGE/AVIF ; q=0.5", "image/avif"));
        assert!(!lists("image/avifx", "image/avif"));
    }

    #[test]
    fn fixed_and_source_ignore_accept() {
        let f = FormatChoice::Fixed(Format::Png);
        assert_eq!(choose(f, Some(CHROME), Format::Jpeg, false), Format::Png);
        assert_eq!(
            choose(FormatChoice::Source, Some(CHROME), Format::Jpeg, false),
            Format::Jpeg
        );
    }
}
