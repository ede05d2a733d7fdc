//! Errors of opening an object store. Errors of using one are [`tinycdn_store::StoreError`]s.

use thiserror::Error;

/// Why a store URL could not be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ObjStoreError {
    /// A `scheme://` that names no supported object store.
    #[error("{url}: `{scheme}://` is not a supported store (use a directory, file:///path, s3://bucket/prefix, gs://bucket/prefix, az://container/prefix or memory://)")]
    UnsupportedScheme {
        /// The value given.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// A store URL that does not parse.
    #[error("{url}: {why}")]
    BadUrl {
        /// The value given.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// The object store client could not be configured (credentials, region, endpoint).
    #[error("{url}: {source}")]
    Config {
        /// The store URL.
        url: String,
        /// The client's error.
        #[source]
        source: object_store::Error,
    },
    /// This build leaves out the service the URL names.
    #[error("{url}: this tinycdn was built without the `{feature}` cargo feature")]
    NotBuilt {
        /// The store URL.
        url: String,
        /// The feature that adds the service.
        feature: &'static str,
    },
    /// The runtime that drives requests could not start.
    #[error("could not start the object store client: {0}")]
    Runtime(#[source] std::io::Error),
    /// A store-level error (missing marker, I/O).
    #[error(transparent)]
    Store(#[from] tinycdn_store::StoreError),
}

impl tinycdn_core::error::Classified for ObjStoreError {
    fn class(&self) -> tinycdn_core::error::ErrorClass {
        use tinycdn_core::error::ErrorClass;
        match self {
            Self::UnsupportedScheme { .. }
            | Self::BadUrl { .. }
            | Self::Config { .. }
            | Self::NotBuilt { .. } => ErrorClass::Usage,
            Self::Runtime(_) => ErrorClass::Failure,
            Self::Store(e) => e.class(),
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Config { .. } => Some(
                "credentials and endpoints come from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ENDPOINT_URL (and AWS_ALLOW_HTTP=true for http://); GOOGLE_APPLICATION_CREDENTIALS; AZURE_STORAGE_ACCOUNT_NAME, AZURE_STORAGE_ACCOUNT_KEY",
            ),
            Self::Store(e) => e.hint(),
            _ => None,
        }
    }
}
