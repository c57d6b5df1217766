//! `wss://`: the client's TLS, on rustls with the ring provider, trusting the system's
//! root certificates (or `SSL_CERT_FILE` / `SSL_CERT_DIR` instead, as OpenSSL does)
//! plus any given in [`ClientConfig::root_certificates`](super::ClientConfig).

use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::error::{Error, Result};

/// The system's roots, read once per process: the store is read from disk, and a
/// reconnecting client would otherwise read it on every attempt.
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::debug!(%error, "a system root certificate could not be loaded");
        }
        found.certs
    })
}

/// The rustls settings for a client trusting the system's roots and `extra`.
pub(super) fn client_config(
    extra: &[CertificateDer<'static>],
) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = RootCertStore::empty();
    // Invalid system certificates are skipped, as browsers and curl do.
    let (_added, _ignored) = roots.add_parsable_certificates(system_roots().iter().cloned());
    for cert in extra {
        roots.add(cert.clone()).map_err(|error| Error::Tls {
            reason: format!("a given root certificate is not usable: {error}"),
        })?;
    }
    if roots.is_empty() {
        return Err(Error::Tls {
            reason: "no root certificate to trust: none in the system store (install \
                     ca-certificates, or set SSL_CERT_FILE) and none given"
                .into(),
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| Error::Tls {
            reason: error.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The TLS handshake over `tcp` for `host`, checking its certificate.
pub(super) async fn handshake(
    tcp: TcpStream,
    host: &str,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
}
