//! tinycdn stores in object storage.
//!
//! `--store` takes a directory or a URL ([`Location`]): `s3://bucket/prefix` (Amazon S3 and
//! S3-compatible servers), `gs://bucket/prefix`, `az://container/prefix`, and `memory://`
//! (`object_store`'s in-memory store, for tests). [`open`] and [`init`] give a
//! [`tinycdn_store::Store`] over an [`ObjectBackend`], so that every command that takes a store
//! works on one. Credentials and endpoints come from the environment the way each service's own
//! tools read them (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT_URL`, `GOOGLE_APPLICATION_CREDENTIALS`,
//! `AZURE_STORAGE_ACCOUNT_NAME`, ...).

pub mod backend;
mod bridge;
pub mod error;
pub mod lease;
pub mod location;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;
use std::time::Duration;

pub use backend::ObjectBackend;
pub use error::ObjStoreError;
pub use location::{Location, Service};
use object_store::ObjectStore;
use tinycdn_store::Store;

/// How the backend talks to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Files at least this large go up as multipart uploads, in parts of this size (S3 wants
    /// at least 5 MiB per part but the last).
    pub part_size: usize,
    /// Retries of a failed request (5xx, 429, `SlowDown`, connection errors), with backoff.
    pub retries: usize,
    /// The most time one request may spend retrying.
    pub retry_timeout: Duration,
    /// The writer lease's time to live (renewed every third of it).
    pub lease_ttl: Duration,
    /// How long a writer waits for another's lease before giving up.
    pub lease_wait: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            part_size: 8 << 20,
            retries: 10,
            retry_timeout: Duration::from_secs(180),
            lease_ttl: Duration::from_secs(30),
            lease_wait: Duration::from_secs(600),
        }
    }
}

impl Options {
    /// The defaults, overridden by `TINYCDN_STORE_PART_MIB`, `TINYCDN_STORE_RETRIES`,
    /// `TINYCDN_STORE_RETRY_TIMEOUT` (seconds), `TINYCDN_LEASE_TTL` and `TINYCDN_LEASE_WAIT`
    /// (seconds). Values that do not parse are ignored.
    #[must_use]
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        let d = Self::default();
        Self {
            part_size: var("TINYCDN_STORE_PART_MIB").map_or(d.part_size, |m| {
                usize::try_from(m.clamp(5, 4096) << 20).unwrap_or(d.part_size)
            }),
            retries: var("TINYCDN_STORE_RETRIES")
                .map_or(d.retries, |r| usize::try_from(r).unwrap_or(d.retries)),
            retry_timeout: var("TINYCDN_STORE_RETRY_TIMEOUT")
                .map_or(d.retry_timeout, Duration::from_secs),
            lease_ttl: var("TINYCDN_LEASE_TTL")
                .map_or(d.lease_ttl, |s| Duration::from_secs(s.max(3))),
            lease_wait: var("TINYCDN_LEASE_WAIT").map_or(d.lease_wait, Duration::from_secs),
        }
    }

    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
    pub(crate) fn retry(&self) -> object_store::RetryConfig {
        object_store::RetryConfig {
            max_retries: self.retries,
            retry_timeout: self.retry_timeout,
            ..object_store::RetryConfig::default()
        }
    }
}

/// An object store client with the prefix and URL it was opened for.
pub struct Client {
    /// The configured client.
    pub store: Arc<dyn ObjectStore>,
    /// The key prefix inside the bucket (no leading or trailing `/`).
    pub prefix: String,
    /// The URL, for messages.
    pub url: String,
}

/// The object store client for a location, configured from the environment.
///
/// # Errors
/// [`ObjStoreError::Config`] when the service's configuration is incomplete.
pub fn client(location: &Location, options: &Options) -> Result<Option<Client>, ObjStoreError> {
    let Location::Object {
        service,
        bucket,
        prefix,
        url,
    } = location
    else {
        return Ok(None);
    };
    #[cfg(any(feature = "s3", feature = "gcs", feature = "azure"))]
    let config = |source| ObjStoreError::Config {
        url: url.clone(),
        source,
    };
    #[cfg(not(any(feature = "s3", feature = "gcs", feature = "azure")))]
    let _ = (bucket, options);
    #[cfg(not(all(feature = "s3", feature = "gcs", feature = "azure")))]
    let missing = |feature: &'static str| ObjStoreError::NotBuilt {
        url: url.clone(),
        feature,
    };
    let store: Arc<dyn ObjectStore> = match service {
        #[cfg(feature = "s3")]
        Service::S3 => Arc::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_retry(options.retry())
                .build()
                .map_err(config)?,
        ),
        #[cfg(feature = "gcs")]
        Service::Gcs => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(options.retry())
                .build()
                .map_err(config)?,
        ),
        #[cfg(feature = "azure")]
        Service::Azure => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(bucket)
                .with_retry(options.retry())
                .build()
                .map_err(config)?,
        ),
        #[cfg(not(feature = "s3"))]
        Service::S3 => return Err(missing("s3")),
        #[cfg(not(feature = "gcs"))]
        Service::Gcs => return Err(missing("gcs")),
        #[cfg(not(feature = "azure"))]
        Service::Azure => return Err(missing("azure")),
        Service::Memory => Arc::new(object_store::memory::InMemory::new()),
    };
    Ok(Some(Client {
        store,
        prefix: prefix.clone(),
        url: url.clone(),
    }))
}

fn backend(location: &Location) -> Result<Option<ObjectBackend>, ObjStoreError> {
    let options = Options::from_env();
    let Some(Client { store, prefix, url }) = client(location, &options)? else {
        return Ok(None);
    };
    Ok(Some(
        ObjectBackend::new(store, &prefix, &url, options).map_err(ObjStoreError::Runtime)?,
    ))
}

/// Opens the store at `location`.
///
/// # Errors
/// Not a store, configuration and request errors.
pub fn open(location: &Location) -> Result<Store, ObjStoreError> {
    match (location, backend(location)?) {
        (Location::Local(path), _) => Ok(Store::open(path)?),
        (_, Some(b)) => Ok(Store::open_backend(Box::new(b))?),
        (_, None) => unreachable_local(),
    }
}

/// Creates (or opens, if it is one) the store at `location`.
///
/// # Errors
/// A non-empty directory or prefix, configuration and request errors.
pub fn init(location: &Location) -> Result<Store, ObjStoreError> {
    match (location, backend(location)?) {
        (Location::Local(path), _) => Ok(Store::init(path)?),
        (_, Some(b)) => Ok(Store::init_backend(Box::new(b))?),
        (_, None) => unreachable_local(),
    }
}

fn unreachable_local() -> Result<Store, ObjStoreError> {
    Err(ObjStoreError::BadUrl {
        url: String::new(),
        why: "not an object store".into(),
    })
}
