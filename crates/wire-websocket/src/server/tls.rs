//! [`ServerTls`]: the certificate and key the standalone server answers `wss://` with.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

/// TLS for the standalone server ([`ServerConfig::tls`](super::ServerConfig::tls)):
/// clients then connect with `wss://`. rustls with the ring provider; TLS 1.2 and 1.3,
/// HTTP/1.1 only (WebSocket upgrades need it).
#[derive(Clone)]
pub struct ServerTls(pub(super) Arc<rustls::ServerConfig>);

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

impl ServerTls {
    /// From PEM files: `cert` holds the certificate chain (leaf first), `key` its
    /// private key (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] naming the file that cannot be read or holds no usable
    /// certificate or key, or a key that does not match the certificate.
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<ServerTls> {
        let (cert, key) = (cert.as_ref(), key.as_ref());
        let tls_error = |path: &Path, what: &str, reason: String| Error::Tls {
            reason: format!("{what} {}: {reason}", path.display()),
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(|error| tls_error(cert, "certificate", error.to_string()))?;
        if chain.is_empty() {
            return Err(tls_error(
                cert,
                "certificate",
                "no certificate in it".into(),
            ));
        }
        let private = PrivateKeyDer::from_pem_file(key)
            .map_err(|error| tls_error(key, "private key", error.to_string()))?;
        Self::from_der(chain, private)
    }

    /// From a certificate chain and its private key, already parsed.
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] when rustls refuses them (a key that does not match, say).
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<ServerTls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
            .map_err(|error| Error::Tls {
                reason: error.to_string(),
            })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls(Arc::new(config)))
    }
}
