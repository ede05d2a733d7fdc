//! Errors of volume operations. Messages name the path, volume or reference involved.

use std::path::PathBuf;

use thiserror::Error;
use tinycdn_core::{DecodeError, NameError, SignatureError};
use tinycdn_store::StoreError;

/// A volume operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VolumeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A name broke a rule.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A signature or key problem.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Bytes did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A reference is not `VOLUME@REF`.
    #[error("{reference:?} is not a reference: write VOLUME@TAG or VOLUME@<version hash prefix>")]
    BadReference {
        /// What was given.
        reference: String,
    },
    /// Nothing matches a reference.
    #[error("{reference} does not exist{hint}")]
    UnknownReference {
        /// The reference.
        reference: String,
        /// Known tags or versions, as a hint.
        hint: String,
    },
    /// A hash prefix matches more than one version.
    #[error("{reference} is ambiguous: it matches {matches}")]
    Ambiguous {
        /// The reference.
        reference: String,
        /// The matching versions.
        matches: String,
    },
    /// A path is not in the volume, or is not a regular file.
    #[error("{path:?} is not a file in {reference}{why}")]
    NoSuchFile {
        /// The path asked for.
        path: String,
        /// The volume version.
        reference: String,
        /// More detail.
        why: String,
    },
    /// A file or directory of the source tree could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Source {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The source tree holds something a volume cannot hold.
    #[error("{}: {why}", path.display())]
    Unsupported {
        /// The path.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// A file kept changing while it was published.
    #[error("{} changed while it was being read ({tries} tries); publish it again once it is stable", path.display())]
    Changing {
        /// The path.
        path: PathBuf,
        /// How many times it was read.
        tries: u32,
    },
    /// A checkout destination cannot be used.
    #[error("cannot check out to {}: {why}", path.display())]
    Destination {
        /// The destination.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// Writing a checkout failed.
    #[error("could not {op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest references content the store lacks or holds damaged.
    #[error("{reference} is damaged: {why}")]
    Damaged {
        /// The volume version.
        reference: String,
        /// What is missing or wrong.
        why: String,
    },
    /// Trust metadata has expired: it is not used for new fetches.
    #[error("the {what} expired at {at} (Unix seconds); get a current one from the publisher (`tinycdn trust rotate` makes one)")]
    Expired {
        /// What expired.
        what: String,
        /// When, Unix seconds.
        at: i64,
    },
    /// A trust root is not usable here: not self-signed, not a valid successor, expired.
    #[error(transparent)]
    Root(#[from] tinycdn_core::root::RootError),
    /// The store already publishes another root under that version.
    #[error("the store already publishes a different trust root version {version}: versions are never replaced")]
    RootConflict {
        /// The version.
        version: u64,
    },
    /// A timestamp was asked for but the store has no snapshot to name.
    #[error(
        "the store has no snapshot yet: publish a tagged version or run `tinycdn snapshot` first"
    )]
    NoSnapshot,
    /// The transparency log refused something.
    #[error(transparent)]
    Log(Box<crate::log::LogError>),
    /// The chunk sizes asked for are not usable.
    #[error(transparent)]
    ChunkParams(#[from] tinycdn_core::chunking::ChunkParamsError),
}

impl VolumeError {
    /// An I/O error while building a checkout.
    pub(crate) fn io<'a>(
        op: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| Self::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

impl tinycdn_core::error::Classified for VolumeError {
    fn class(&self) -> tinycdn_core::error::ErrorClass {
        use tinycdn_core::error::ErrorClass;
        match self {
            Self::Store(e) => e.class(),
            Self::Name(e) => e.class(),
            Self::ChunkParams(e) => e.class(),
            Self::Log(e) => e.class(),
            Self::Decode(e) => e.class(),
            Self::Signature(_)
            | Self::Damaged { .. }
            | Self::Expired { .. }
            | Self::Root(_)
            | Self::RootConflict { .. } => ErrorClass::Integrity,
            Self::BadReference { .. } | Self::Ambiguous { .. } => ErrorClass::Usage,
            Self::Changing { .. } => ErrorClass::Transient,
            Self::UnknownReference { .. }
            | Self::NoSuchFile { .. }
            | Self::Source { .. }
            | Self::Unsupported { .. }
            | Self::Destination { .. }
            | Self::Io { .. }
            | Self::NoSnapshot => ErrorClass::Failure,
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Store(e) => e.hint(),
            Self::Signature(_) => Some("check that --trust names the publisher's .pub file or the current trust root"),
            Self::Changing { .. } => Some("stop whatever is writing to the directory, then publish again"),
            Self::Damaged { .. } => Some("`tinycdn fsck` finds every damaged object; `fsck --repair --from URL` fetches them again"),
            Self::Io { source, .. }
                if source.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error()) =>
            {
                Some("the disk is full; free space (`tinycdn gc`) and run the command again: nothing was half-written")
            }
            _ => None,
        }
    }
}
