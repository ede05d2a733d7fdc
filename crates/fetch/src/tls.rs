//! TLS to upstreams and applications (`https://`): rustls with the system's trust roots
//! (`rustls-native-certs`, what the machine's own tools trust) and any certificate authority a
//! PEM file names (`--upstream-ca`, `--origin-ca`: a private CA inside a cluster). Certificates
//! are always verified; there is no switch to turn that off.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::FetchError;

/// A client configuration trusting the system's roots and the certificates in `extra_ca` (PEM).
///
/// # Errors
/// [`FetchError::Tls`]: the file cannot be read or holds no certificate, or no root at all is
/// trusted.
pub fn client_config(extra_ca: Option<&Path>) -> Result<ClientConfig, FetchError> {
    let mut roots = RootCertStore::empty();
    // Roots the system cannot parse are skipped (as its own tools do); none at all with no
    // extra CA is refused below.
    let native = rustls_native_certs::load_native_certs();
    let _ = roots.add_parsable_certificates(native.certs);
    if let Some(path) = extra_ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| FetchError::Tls(format!("{}: {e}", path.display())))?
            .collect::<Result<_, _>>()
            .map_err(|e| FetchError::Tls(format!("{}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(FetchError::Tls(format!(
                "{} holds no PEM certificate",
                path.display()
            )));
        }
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(FetchError::Tls(format!(
                "{} holds no usable CA certificate",
                path.display()
            )));
        }
    }
    if roots.is_empty() {
        return Err(FetchError::Tls(
            "no trusted roots: install ca-certificates or name a CA file".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
