//! Why a pull failed.

use thiserror::Error;
use tinycdn_core::root::RootError;
use tinycdn_core::{DecodeError, SignatureError};
use tinycdn_fetch::FetchError;
use tinycdn_store::StoreError;

/// A pull failed; nothing that was not verified was kept, and what was verified stays staged.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PullError {
    /// No mirror could provide something.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Metadata did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A signature did not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The reference is neither a tag nor a full version id.
    #[error("{0:?} is neither a tag nor a 64-digit version id")]
    BadReference(String),
    /// The local store already has a different version under that number.
    #[error("the store already has {volume} version {number} as {local}, not {remote}; remove it or pull into another store")]
    Conflict {
        /// The volume.
        volume: String,
        /// The version number.
        number: u64,
        /// The local version id.
        local: String,
        /// The pulled version id.
        remote: String,
    },
    /// The mirrors' tag was signed before the store's copy of the same tag (by signing time, then
    /// version number): a stale or hostile mirror (a rollback).
    #[error("refusing to roll {volume}@{tag} back from version {local} to version {offered}: the mirrors serve an older tag than this store has seen")]
    Rollback {
        /// The volume.
        volume: String,
        /// The tag.
        tag: String,
        /// The version number the store's tag names.
        local: u64,
        /// The older version number offered.
        offered: u64,
    },
    /// The snapshot of current tags is missing, expired, older than one seen, or does not list
    /// the tag offered.
    #[error("snapshot check failed: {why}")]
    Snapshot {
        /// What is wrong.
        why: String,
    },
    /// The trust rotations the store holds do not verify.
    #[error(transparent)]
    Volume(#[from] tinycdn_volume::VolumeError),
    /// A trust root update did not verify, or the newest trust root has expired.
    #[error(transparent)]
    Root(#[from] RootError),
    /// A rebuilt file did not hash to its manifest entry.
    #[error("the rebuilt file {0} does not match its hash")]
    Rebuild(String),
    /// The transparency log check failed (a split view, or the version is not logged).
    #[error(transparent)]
    Log(#[from] crate::log::LogCheckError),
}

impl tinycdn_core::error::Classified for PullError {
    fn class(&self) -> tinycdn_core::error::ErrorClass {
        use tinycdn_core::error::ErrorClass;
        match self {
            Self::Fetch(e) => e.class(),
            Self::Store(e) => e.class(),
            Self::Volume(e) => e.class(),
            Self::Log(e) => e.class(),
            Self::Decode(e) => e.class(),
            Self::Signature(_)
            | Self::Rollback { .. }
            | Self::Snapshot { .. }
            | Self::Root(_)
            | Self::Rebuild(_) => ErrorClass::Integrity,
            Self::BadReference(_) => ErrorClass::Usage,
            Self::Conflict { .. } => ErrorClass::Failure,
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Fetch(e) => e.hint(),
            Self::Store(e) => e.hint(),
            Self::Volume(e) => e.hint(),
            Self::Log(e) => e.hint(),
            Self::Signature(_) => {
                Some("check that --trust names the publisher's .pub file or the current trust root")
            }
            _ => None,
        }
    }
}
