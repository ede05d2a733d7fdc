//! TLS for the servers (rustls with the ring provider), offering HTTP/2 and HTTP/1.1 by ALPN.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
pub use tokio_rustls::TlsAcceptor;

/// The certificate or key could not be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {}: {why}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// rustls refused the configuration (key does not match the certificate, ...).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// An acceptor for `cert` (PEM chain, leaf first) and `key` (PEM private key).
///
/// # Errors
/// [`TlsError`] when the files cannot be read or do not form a usable pair.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    Ok(reloading(cert, key)?.0)
}

/// An acceptor whose certificate is read again from its files by [`Certificate::reload`]
/// (on SIGHUP, and when the files change: cert-manager renewals): handshakes after a reload
/// use the new pair, connections already open keep theirs.
///
/// # Errors
/// [`TlsError`] when the files cannot be read or do not form a usable pair.
pub fn reloading(cert: &Path, key: &Path) -> Result<(TlsAcceptor, Arc<Certificate>), TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let current = load(cert, key, &provider)?;
    let resolver = Arc::new(Certificate {
        cert: cert.to_owned(),
        key: key.to_owned(),
        stamp: Mutex::new(stamp(cert, key)),
        current: RwLock::new(Arc::new(current)),
        provider: provider.clone(),
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(config)), resolver))
}

/// The certificate a listener presents, replaced whole when its files change.
#[derive(Debug)]
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    /// Modification times (and lengths) of both files when last read.
    stamp: Mutex<Stamp>,
    current: RwLock<Arc<CertifiedKey>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

type Stamp = Option<(SystemTime, u64, SystemTime, u64)>;

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let m = |p: &Path| {
        let m = std::fs::metadata(p).ok()?;
        Some((m.modified().ok()?, m.len()))
    };
    let (c, k) = (m(cert)?, m(key)?);
    Some((c.0, c.1, k.0, k.1))
}

fn load(
    cert: &Path,
    key: &Path,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let pem = |path: &Path, why: String| TlsError::Pem {
        path: path.to_owned(),
        why,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem(cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(pem(cert, "no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| pem(key, e.to_string()))?;
    // The key must be the certificate's (a renewal caught between its two files is refused,
    // and the pair in use stays).
    Ok(CertifiedKey::from_der(certs, key, provider)?)
}

impl Certificate {
    /// Reads the files again when they changed since last read (`force`: whatever their
    /// times); returns whether a new pair is in use.
    ///
    /// # Errors
    /// [`TlsError`]: the files are unreadable or do not form a pair; the pair in use stays.
    pub fn reload(&self, force: bool) -> Result<bool, TlsError> {
        let now = stamp(&self.cert, &self.key);
        let mut seen = self.stamp.lock().unwrap_or_else(PoisonError::into_inner);
        if !force && now == *seen {
            return Ok(false);
        }
        let pair = load(&self.cert, &self.key, &self.provider)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(pair);
        *seen = now;
        Ok(true)
    }

    /// The files, for messages.
    #[must_use]
    pub fn files(&self) -> (&Path, &Path) {
        (&self.cert, &self.key)
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}
