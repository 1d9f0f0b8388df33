//! TLS setup: the mkcert certificate and key, rustls with the `ring` provider, ALPN h2 + http/1.1.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Why the TLS acceptor could not be built.
#[derive(Debug)]
pub enum TlsError {
    Cert { path: PathBuf, error: String },
    Key { path: PathBuf, error: String },
    Config(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HINT: &str = "run scripts/mkcert.sh to create certs/lockstep.pem and certs/lockstep-key.pem";
        match self {
            TlsError::Cert { path, error } => {
                write!(f, "cannot read certificate {}: {error} ({HINT})", path.display())
            }
            TlsError::Key { path, error } => {
                write!(f, "cannot read private key {}: {error} ({HINT})", path.display())
            }
            TlsError::Config(e) => write!(f, "TLS configuration refused: {e}"),
        }
    }
}

/// Loads the PEM files and builds one acceptor shared by all three listeners.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let cert_err = |error: String| TlsError::Cert { path: cert.to_path_buf(), error };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no CERTIFICATE block".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| TlsError::Key { path: key.to_path_buf(), error: e.to_string() })?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
