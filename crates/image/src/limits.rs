//! What one transform may cost, and why one was refused.

use thiserror::Error;

use crate::probe::ProbeError;

/// Caps on one transform. Every one is checked before the work it bounds starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Source pixels, every frame counted (default 40 MP).
    pub max_source_pixels: u64,
    /// Source bytes (default 64 MiB).
    pub max_source_bytes: u64,
    /// Output pixels (default 16.8 MP, 4096 x 4096).
    pub max_output_pixels: u64,
    /// Output bytes (default 32 MiB).
    pub max_output_bytes: u64,
    /// Pixel memory one transform may hold at once (default 256 MiB).
    pub max_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_source_pixels: 40_000_000,
            max_source_bytes: 64 << 20,
            max_output_pixels: 4096 * 4096,
            max_output_bytes: 32 << 20,
            max_memory: 256 << 20,
        }
    }
}

/// Why a transform did not give an image.
#[derive(Debug, Error)]
pub enum TransformError {
    /// The header cannot be read.
    #[error("{0}")]
    Probe(#[from] ProbeError),
    /// Too many source pixels (a decompression bomb, or just too large).
    #[error("the source has {pixels} pixels{frames}, above this edge's cap of {cap}")]
    SourcePixels {
        /// Pixels, every frame counted.
        pixels: u64,
        /// " over N frames" for an animation.
        frames: String,
        /// The cap.
        cap: u64,
    },
    /// Too many source bytes.
    #[error("the source is {0} bytes, above this edge's cap of {1}")]
    SourceBytes(u64, u64),
    /// The output asked for is too large.
    #[error("the output would be {0} pixels, above this edge's cap of {1}")]
    OutputPixels(u64, u64),
    /// The encoded output is too large.
    #[error("the output came to {0} bytes, above this edge's cap of {1}")]
    OutputBytes(u64, u64),
    /// Decoding would need more memory than one transform may hold.
    #[error("decoding needs {0} bytes of pixel memory, above this edge's cap of {1}")]
    Memory(u64, u64),
    /// A source this edge reads the header of but does not decode.
    #[error("{0}")]
    Unsupported(String),
    /// The source does not decode: corrupt or truncated.
    #[error("the source image does not decode: {0}")]
    Corrupt(String),
    /// The transform ran past its deadline.
    #[error("the transform took longer than this edge allows")]
    Timeout,
    /// Encoding failed.
    #[error("encoding failed: {0}")]
    Encode(String),
}

impl TransformError {
    /// The HTTP status that says it: 415 for a format not transformed, 422 for a source or
    /// output past a cap or one that does not decode, 503 for a timeout, 500 for an encoder
    /// failure.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::Probe(ProbeError::Unknown) | Self::Unsupported(_) => 415,
            Self::Timeout => 503,
            Self::Encode(_) => 500,
            _ => 422,
        }
    }
}
