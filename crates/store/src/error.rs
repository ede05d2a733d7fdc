//! Store errors. Messages name the key or path involved and what the caller can do.

use std::path::PathBuf;

use thiserror::Error;
use tinycdn_core::DecodeError;

/// Something went wrong reading or writing the store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The key does not exist.
    #[error("{key} is not in the store")]
    NotFound {
        /// The key.
        key: String,
    },
    /// An object's bytes do not hash to its name: it was damaged on disk.
    #[error("{key} is corrupt: its bytes hash to {actual}, not to its name")]
    Corrupt {
        /// The key.
        key: String,
        /// The hash of the bytes found.
        actual: String,
    },
    /// An operating-system call failed.
    #[error("could not {op} {}: {source}", path.display())]
    Io {
        /// What was being done ("write", "rename", ...).
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The directory is not a tinycdn store.
    #[error("{} is not a tinycdn store (create one with `tinycdn init --store {}`)", path.display(), path.display())]
    NotAStore {
        /// The directory.
        path: PathBuf,
    },
    /// `init` was asked to create a store where a non-empty directory already is.
    #[error("{} already exists and is not empty", path.display())]
    NotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// Stored bytes could not be decoded.
    #[error("{key}: {source}")]
    Decode {
        /// The key.
        key: String,
        /// Why.
        #[source]
        source: Box<DecodeError>,
    },
    /// A conditional write lost: another writer changed the object first.
    #[error("{key} was changed by another writer at the same time; nothing of this run refers to it (run the command again)")]
    Conflict {
        /// The key.
        key: String,
    },
    /// A remote object store refused or failed a request (after its retries).
    #[error("could not {op} {key} in {store}: {source}")]
    Remote {
        /// What was being done.
        op: &'static str,
        /// The key.
        key: String,
        /// The store (`s3://bucket/prefix`).
        store: String,
        /// The object store's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another writer holds the store's lease and kept it for longer than this one would wait.
    #[error("{store} is being written by {holder} (waited {waited_secs} s)")]
    Locked {
        /// The store.
        store: String,
        /// Who holds the lease (host, process, since when).
        holder: String,
        /// How long this writer waited.
        waited_secs: u64,
    },
    /// A key is not a valid store key.
    #[error("invalid store key {key:?}")]
    BadKey {
        /// The key.
        key: String,
    },
}

impl StoreError {
    /// Whether the error is a missing key.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// Whether the error came from a full disk or exhausted quota.
    #[must_use]
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::Io { source, .. }
            if source.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error())
            || source.raw_os_error() == Some(rustix::io::Errno::DQUOT.raw_os_error()))
    }
}

impl tinycdn_core::error::Classified for StoreError {
    fn class(&self) -> tinycdn_core::error::ErrorClass {
        use tinycdn_core::error::ErrorClass;
        match self {
            Self::Corrupt { .. } | Self::Decode { .. } => ErrorClass::Integrity,
            Self::Conflict { .. } | Self::Remote { .. } | Self::Locked { .. } => {
                ErrorClass::Transient
            }
            Self::NotFound { .. }
            | Self::Io { .. }
            | Self::NotAStore { .. }
            | Self::NotEmpty { .. }
            | Self::BadKey { .. } => ErrorClass::Failure,
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Io { .. } if self.is_disk_full() => Some("the disk is full; free space (`tinycdn gc`) and run the command again: nothing was half-written"),
            Self::Locked { .. } => Some(
                "a writer that died frees the lease when it expires (TINYCDN_LEASE_TTL seconds after its last renewal)",
            ),
            Self::Remote { .. } => Some(
                "object storage reads its credentials and endpoint from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL (AWS_ALLOW_HTTP=true for http://); GOOGLE_APPLICATION_CREDENTIALS; AZURE_STORAGE_ACCOUNT_NAME, AZURE_STORAGE_ACCOUNT_KEY",
            ),
            Self::Corrupt { .. } => Some("`tinycdn fsck` quarantines it; `fsck --repair --from URL` fetches it again"),
            _ => None,
        }
    }
}
