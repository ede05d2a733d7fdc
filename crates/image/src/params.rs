//! Image parameters in a URL query, without I/O: which keys ask for a variant, their normalised
//! form (what names a variant in the cache), and the query left for the application.
//!
//! `w`, `h` (pixels before `dpr`, 1–8192), `fit` (`inside`, default; `cover`; `fill`), `g`
//! (gravity for `cover`: `c`, `n`, `s`, `e`, `w`, `ne`, `nw`, `se`, `sw`), `fmt` (`jpeg`,
//! `webp`, `avif`, `png`, `auto`), `q` (1–100), `dpr` (1–4, one decimal), `up` (`1`: allow
//! upscaling) and `sig` (a signature over the rest, see [`crate::sign`]). Other keys belong to
//! the application and are left as they were.

use std::fmt;

use thiserror::Error;

/// Largest `w` or `h` a client may ask for (before `dpr`).
pub const MAX_SIDE: u32 = 8192;

/// How the output box is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Fit {
    /// Fit inside the box, keeping the aspect ratio; never crops.
    #[default]
    Inside,
    /// Fill the box, keeping the aspect ratio; crops what overflows (at the gravity).
    Cover,
    /// Stretch to the box.
    Fill,
}

/// Which part of the image `cover` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Gravity {
    /// The centre.
    #[default]
    Centre,
    /// Top edge.
    North,
    /// Bottom edge.
    South,
    /// Right edge.
    East,
    /// Left edge.
    West,
    /// Top right.
    NorthEast,
    /// Top left.
    NorthWest,
    /// Bottom right.
    SouthEast,
    /// Bottom left.
    SouthWest,
}

impl Gravity {
    /// Where the kept window sits along x and y, from 0 (left, top) to 1 (right, bottom).
    #[must_use]
    pub fn anchor(self) -> (f64, f64) {
        match self {
            Self::Centre => (0.5, 0.5),
            Self::North => (0.5, 0.0),
            Self::South => (0.5, 1.0),
            Self::East => (1.0, 0.5),
            Self::West => (0.0, 0.5),
            Self::NorthEast => (1.0, 0.0),
            Self::NorthWest => (0.0, 0.0),
            Self::SouthEast => (1.0, 1.0),
            Self::SouthWest => (0.0, 1.0),
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::Centre => "c",
            Self::North => "n",
            Self::South => "s",
            Self::East => "e",
            Self::West => "w",
            Self::NorthEast => "ne",
            Self::NorthWest => "nw",
            Self::SouthEast => "se",
            Self::SouthWest => "sw",
        }
    }
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Baseline-compatible progressive JPEG.
    Jpeg,
    /// Lossy WebP.
    Webp,
    /// AVIF (AV1 still image).
    Avif,
    /// Lossless PNG.
    Png,
}

impl Format {
    /// Its media type.
    #[must_use]
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Avif => "image/avif",
            Self::Png => "image/png",
        }
    }

    /// Its short name (`fmt=` value, file extension).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Webp => "webp",
            Self::Avif => "avif",
            Self::Png => "png",
        }
    }

    /// The quality used when the request names none (tuned so that the formats give about the
    /// same SSIM; see BENCHMARKS.md).
    #[must_use]
    pub fn default_quality(self) -> u8 {
        match self {
            Self::Jpeg | Self::Webp => 80,
            Self::Avif => 60,
            Self::Png => 100,
        }
    }

    /// Whether the format carries an alpha channel.
    #[must_use]
    pub fn has_alpha(self) -> bool {
        !matches!(self, Self::Jpeg)
    }

    /// Parses a `fmt=` value (`jpg` is `jpeg`).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "jpeg" | "jpg" => Some(Self::Jpeg),
            "webp" => Some(Self::Webp),
            "avif" => Some(Self::Avif),
            "png" => Some(Self::Png),
            _ => None,
        }
    }
}

/// The format a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FormatChoice {
    /// The source's own format (no `fmt`).
    #[default]
    Source,
    /// This one.
    Fixed(Format),
    /// The best one the client's `Accept` lists (see [`crate::negotiate`]).
    Auto,
}

/// What a variant request asks for, as given (before `dpr` is applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Params {
    /// Box width in CSS pixels.
    pub w: Option<u32>,
    /// Box height in CSS pixels.
    pub h: Option<u32>,
    /// How the box is filled.
    pub fit: Fit,
    /// Which part `cover` keeps.
    pub gravity: Gravity,
    /// Output format.
    pub format: FormatChoice,
    /// Quality, 1–100.
    pub q: Option<u8>,
    /// Device pixel ratio in tenths (10–40).
    pub dpr_tenths: u8,
    /// Whether the output may be larger than the source.
    pub upscale: bool,
}

/// Why a query's image parameters were refused (a 400).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParamError {
    /// A key came twice.
    #[error("image parameter `{0}` is given more than once")]
    Repeated(&'static str),
    /// A value is not one the key takes.
    #[error("image parameter `{key}={value}`: {why}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// The value, shortened.
        value: String,
        /// What it takes.
        why: &'static str,
    },
}

/// The keys this module owns.
pub const KEYS: [&str; 9] = ["w", "h", "fit", "g", "fmt", "q", "dpr", "up", "sig"];

/// A query split into the image parameters and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The image parameters.
    pub params: Params,
    /// The `sig` value, when given.
    pub signature: Option<String>,
    /// The query without `sig`, as it came (what a signature covers).
    pub signed_part: String,
    /// The query without any image key: what the source is asked for with.
    pub rest: String,
}

fn invalid(key: &'static str, value: &str, why: &'static str) -> ParamError {
    ParamError::Invalid {
        key,
        value: value.chars().take(40).collect(),
        why,
    }
}

fn side(key: &'static str, v: &str) -> Result<u32, ParamError> {
    match v.parse::<u32>() {
        Ok(n) if (1..=MAX_SIDE).contains(&n) && !v.starts_with('+') => Ok(n),
        _ => Err(invalid(key, v, "a whole number of pixels from 1 to 8192")),
    }
}

/// `dpr` in tenths: `1`, `1.5`, `2`, … `4`.
fn dpr(v: &str) -> Result<u8, ParamError> {
    let err = || invalid("dpr", v, "a ratio from 1 to 4 with at most one decimal");
    let (whole, frac) = v.split_once('.').unwrap_or((v, "0"));
    if whole.is_empty()
        || whole.len() > 1
        || frac.len() != 1
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return Err(err());
    }
    let tenths = (whole.as_bytes()[0] - b'0') * 10 + (frac.as_bytes()[0] - b'0');
    if (10..=40).contains(&tenths) {
        Ok(tenths)
    } else {
        Err(err())
    }
}

fn set<T>(slot: &mut Option<T>, key: &'static str, v: T) -> Result<(), ParamError> {
    if slot.is_some() {
        return Err(ParamError::Repeated(key));
    }
    *slot = Some(v);
    Ok(())
}

/// Splits a query (without `?`). `None`: no image key is present, the request is for the file
/// itself.
///
/// # Errors
/// [`ParamError`] for a repeated key or a value out of range.
pub fn split(query: &str) -> Result<Option<Split>, ParamError> {
    let mut rest = Vec::new();
    let mut signed = Vec::new();
    let mut seen = false;
    let (mut w, mut h, mut fit, mut g, mut fmt, mut q, mut dp, mut up, mut sig) =
        (None, None, None, None, None, None, None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(key) = KEYS.iter().copied().find(|known| *known == k) else {
            rest.push(pair);
            signed.push(pair);
            continue;
        };
        seen = true;
        if key != "sig" {
            signed.push(pair);
        }
        match key {
            "w" => set(&mut w, key, side(key, v)?)?,
            "h" => set(&mut h, key, side(key, v)?)?,
            "fit" => {
                let f = match v {
                    "inside" | "contain" => Fit::Inside,
                    "cover" => Fit::Cover,
                    "fill" => Fit::Fill,
                    _ => return Err(invalid(key, v, "one of inside, cover, fill")),
                };
                set(&mut fit, key, f)?;
            }
            "g" => {
                let gr = match v {
                    "c" | "center" | "centre" => Gravity::Centre,
                    "n" => Gravity::North,
                    "s" => Gravity::South,
                    "e" => Gravity::East,
                    "w" => Gravity::West,
                    "ne" => Gravity::NorthEast,
                    "nw" => Gravity::NorthWest,
                    "se" => Gravity::SouthEast,
                    "sw" => Gravity::SouthWest,
                    _ => return Err(invalid(key, v, "one of c, n, s, e, w, ne, nw, se, sw")),
                };
                set(&mut g, key, gr)?;
            }
            "fmt" => {
                let f = match v {
                    "auto" => FormatChoice::Auto,
                    other => FormatChoice::Fixed(
                        Format::parse(other)
                            .ok_or_else(|| invalid(key, v, "one of jpeg, webp, avif, png, auto"))?,
                    ),
                };
                set(&mut fmt, key, f)?;
            }
            "q" => {
                let n = match v.parse::<u8>() {
                    Ok(n) if (1..=100).contains(&n) && !v.starts_with('+') => n,
                    _ => return Err(invalid(key, v, "a whole number from 1 to 100")),
                };
                set(&mut q, key, n)?;
            }
            "dpr" => set(&mut dp, key, dpr(v)?)?,
            "up" => {
                let b = match v {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => return Err(invalid(key, v, "1 or 0")),
                };
                set(&mut up, key, b)?;
            }
            _ => set(&mut sig, "sig", v.to_owned())?,
        }
    }
    if !seen {
        return Ok(None);
    }
    Ok(Some(Split {
        params: Params {
            w,
            h,
            fit: fit.unwrap_or_default(),
            gravity: g.unwrap_or_default(),
            format: fmt.unwrap_or_default(),
            q,
            dpr_tenths: dp.unwrap_or(10),
            upscale: up.unwrap_or(false),
        },
        signature: sig,
        signed_part: signed.join("&"),
        rest: rest.join("&"),
    }))
}

impl Params {
    /// The box in device pixels (`dpr` applied, rounded to the nearest pixel).
    #[must_use]
    pub fn device_box(&self) -> (Option<u32>, Option<u32>) {
        let scale = |v: u32| {
            let px = (u64::from(v) * u64::from(self.dpr_tenths) + 5) / 10;
            u32::try_from(px).unwrap_or(u32::MAX).max(1)
        };
        (self.w.map(scale), self.h.map(scale))
    }

    /// The normalised form for an output format: `dpr` folded into the box, defaults filled,
    /// and what the output does not depend on left out (gravity unless `cover`, quality for
    /// PNG). Two requests with the same normalised form get the same bytes.
    #[must_use]
    pub fn normalised(&self, out: Format) -> Normalised {
        let (w, h) = self.device_box();
        // With one side given, fit makes no difference: `inside` is what all three do.
        let fit = if w.is_none() || h.is_none() {
            Fit::Inside
        } else {
            self.fit
        };
        Normalised {
            w,
            h,
            fit,
            gravity: if fit == Fit::Cover {
                self.gravity
            } else {
                Gravity::Centre
            },
            format: out,
            q: if out == Format::Png {
                100
            } else {
                self.q.unwrap_or_else(|| out.default_quality())
            },
            upscale: self.upscale,
        }
    }
}

/// A variant's parameters in normal form (see [`Params::normalised`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Normalised {
    /// Box width in device pixels.
    pub w: Option<u32>,
    /// Box height in device pixels.
    pub h: Option<u32>,
    /// How the box is filled.
    pub fit: Fit,
    /// Which part `cover` keeps.
    pub gravity: Gravity,
    /// Output format.
    pub format: Format,
    /// Quality.
    pub q: u8,
    /// Whether upscaling is allowed.
    pub upscale: bool,
}

impl fmt::Display for Normalised {
    /// `w=1280,h=-,fit=inside,g=c,q=80,fmt=webp,up=0`: the canonical text a variant's name
    /// hashes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |v: Option<u32>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
        let fit = match self.fit {
            Fit::Inside => "inside",
            Fit::Cover => "cover",
            Fit::Fill => "fill",
        };
        write!(
            f,
            "w={},h={},fit={fit},g={},q={},fmt={},up={}",
            side(self.w),
            side(self.h),
            self.gravity.code(),
            self.q,
            self.format.name(),
            u8::from(self.upscale)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(q: &str) -> Split {
        split(q).expect("valid").expect("image keys")
    }

    #[test]
    fn a_query_without_image_keys_is_the_file_itself() {
        assert_eq!(split(""), Ok(None));
        assert_eq!(split("v=3&utm=x"), Ok(None));
    }

    #[test]
    fn image_keys_are_taken_and_the_rest_kept_in_order() {
        let s = parsed("v=3&w=640&fmt=auto&x=1&sig=ab");
        assert_eq!(s.params.w, Some(640));
        assert_eq!(s.params.format, FormatChoice::Auto);
        assert_eq!(s.rest, "v=3&x=1");
        assert_eq!(s.signed_part, "v=3&w=640&fmt=auto&x=1");
        assert_eq!(s.signature.as_deref(), Some("ab"));
    }

    #[test]
    fn values_out_of_range_and_repeats_are_refused() {
        for bad in [
            "w=0", "w=8193", "w=-1", "w=+5", "w=1e3", "h=abc", "q=0", "q=101", "fit=crop",
            "g=middle", "fmt=gif", "dpr=0.5", "dpr=4.5", "dpr=2.25", "dpr=.5", "dpr=10", "up=yes",
        ] {
            assert!(split(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(split("w=1&w=2"), Err(ParamError::Repeated("w")));
    }

    #[test]
    fn dpr_folds_into_the_box_and_equal_requests_normalise_alike() {
        let a = parsed("w=640&dpr=2").params.normalised(Format::Webp);
        let b = parsed("w=1280").params.normalised(Format::Webp);
        assert_eq!(a, b);
        assert_eq!(
            a.to_string(),
            "w=1280,h=-,fit=inside,g=c,q=80,fmt=webp,up=0"
        );
        let c = parsed("w=333&dpr=1.5").params.device_box();
        assert_eq!(c, (Some(500), None));
    }

    #[test]
    fn what_the_output_does_not_depend_on_is_left_out() {
        let cover_one_side = parsed("w=100&fit=cover&g=ne")
            .params
            .normalised(Format::Jpeg);
        assert_eq!(
            cover_one_side,
            parsed("w=100").params.normalised(Format::Jpeg)
        );
        let png = parsed("w=100&q=30").params.normalised(Format::Png);
        assert_eq!(png.q, 100);
        let inside_g = parsed("w=10&h=10&g=s").params.normalised(Format::Jpeg);
        assert_eq!(inside_g.gravity, Gravity::Centre);
    }
}
