//! Responsive image variants for tinycdn.
//!
//! Sans-IO rules, each with its own tests:
//! - [`params`]: which query keys ask for a variant, and their normalised form;
//! - [`negotiate`]: `fmt=auto` from `Accept`;
//! - [`policy`]: signed URLs and allowlists;
//! - [`probe`]: format, size, frames and orientation from the header, before decoding;
//! - [`plan`]: output size and source window.
//!
//! The transform around them ([`transform()`]): [`decode`] (libjpeg-turbo with DCT scaling,
//! `png`, libwebp), [`pixels`] (orientation), [`resize`] (`fast_image_resize`, linear light,
//! premultiplied alpha), [`color`] (ICC to sRGB with lcms2), [`encode`] (mozjpeg, libwebp,
//! rav1e, `png`), under [`limits`].

pub mod color;
pub mod decode;
pub mod encode;
pub mod invariants;
pub mod limits;
pub mod negotiate;
pub mod params;
pub mod pixels;
pub mod plan;
pub mod policy;
pub mod probe;
pub mod resize;
pub mod transform;

pub use limits::{Limits, TransformError};
pub use params::{Fit, Format, FormatChoice, Gravity, Normalised, Params};
pub use transform::{
    inspect, own_format, published_path, transform, variant_name, Output, VARIANTS_DIR,
};
