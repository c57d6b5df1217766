//! [`ClientConfig`]: the settings of an [`AsyncWebSocketClient`](super::AsyncWebSocketClient).

use std::time::Duration;

use http::{HeaderName, HeaderValue, header};
use wiredb::ProviderConfig;

use super::Backoff;
use crate::keepalive::KeepAlive;

/// Settings of an [`AsyncWebSocketClient`](super::AsyncWebSocketClient).
///
/// ```
/// use std::time::Duration;
/// use wire_websocket::{Backoff, ClientConfig};
///
/// let config = ClientConfig::default()
///     .header("authorization", "Bearer 42")
///     .cookie("session", "abc")
///     .cookie("theme", "dark")
///     .reconnect(Some(Backoff { max: Duration::from_secs(10), ..Backoff::default() }));
/// // Cookies share one `Cookie` header, as HTTP/1.1 wants.
/// assert_eq!(config.headers.len(), 2);
/// assert_eq!(config.headers[1].1, "session=abc; theme=dark");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The options every client shares, from the core: `auto_push` (send local
    /// changes as they happen, else hold them until `push()`), `auto_pull` (apply
    /// remote changes as they arrive, else hold them until `pull()`), and the
    /// `awareness` to use (shared with the application or another provider; by
    /// default the client makes its own over the doc).
    pub provider: ProviderConfig,
    /// Extra request headers (tokens, cookies) sent with every connection attempt.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Reconnect after a drop (default [`Backoff::default`]); `None` ends the client
    /// at the first drop. A reconnection refused with an HTTP 4xx (not 408/429), or
    /// a close with 1009 (the document is over the server's limit), ends it anyway.
    pub reconnect: Option<Backoff>,
    /// Keepalive pings to the server (default [`KeepAlive::default`]): a server that
    /// vanished without closing the TCP connection is noticed, and reconnected to.
    pub keepalive: Option<KeepAlive>,
    /// Largest message accepted from the server (default 64 MiB: a server's first
    /// SyncStep2 carries the whole document).
    pub max_frame_size: usize,
    /// Bytes read from the socket at once (default 16 KiB).
    pub read_buffer_size: usize,
    /// How long one connection attempt may take (default 10 s).
    pub connect_timeout: Duration,
    /// Root certificates trusted for `wss://` besides the system's (a private CA, a
    /// test certificate); see [`ClientConfig::root_certificates_pem_file`]. The
    /// system's store can be replaced by `SSL_CERT_FILE` / `SSL_CERT_DIR`.
    #[cfg(feature = "tls")]
    pub root_certificates: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("provider", &self.provider)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .field("reconnect", &self.reconnect)
            .field("keepalive", &self.keepalive)
            .field("max_frame_size", &self.max_frame_size)
            .finish_non_exhaustive()
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            provider: ProviderConfig::default(),
            headers: Vec::new(),
            reconnect: Some(Backoff::default()),
            keepalive: Some(KeepAlive::default()),
            max_frame_size: 64 * 1024 * 1024,
            read_buffer_size: 16 * 1024,
            connect_timeout: Duration::from_secs(10),
            #[cfg(feature = "tls")]
            root_certificates: Vec::new(),
        }
    }
}

impl ClientConfig {
    /// Trusts the certificates of PEM file `path` for `wss://`, besides the system's
    /// roots ([`ClientConfig::root_certificates`]).
    ///
    /// # Errors
    ///
    /// [`Error::Tls`](crate::Error::Tls) when the file cannot be read or holds no
    /// certificate.
    #[cfg(feature = "tls")]
    pub fn root_certificates_pem_file(
        mut self,
        path: impl AsRef<std::path::Path>,
    ) -> crate::Result<Self> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let path = path.as_ref();
        let error = |reason: String| crate::Error::Tls {
            reason: format!("root certificates {}: {reason}", path.display()),
        };
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| error(e.to_string()))?;
        if certs.is_empty() {
            return Err(error("no certificate in it".into()));
        }
        self.root_certificates.extend(certs);
        Ok(self)
    }

    /// Sets [`ClientConfig::provider`]: `auto_push`, `auto_pull`, `awareness`.
    pub fn provider(mut self, provider: ProviderConfig) -> Self {
        self.provider = provider;
        self
    }

    /// Adds a request header. A name or value that is not valid HTTP is ignored
    /// with a warning (headers come from the application, not from a peer).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(value)) => self.headers.push((name, value)),
            _ => tracing::warn!(name, "invalid HTTP header ignored"),
        }
        self
    }

    /// Adds a cookie. Every cookie goes into one `Cookie` header (`a=1; b=2`):
    /// HTTP/1.1 allows only one (RFC 6265 §5.4), and servers such as Starlette read
    /// only the first.
    pub fn cookie(mut self, name: &str, value: &str) -> Self {
        let existing = self.headers.iter().position(|(n, _)| n == header::COOKIE);
        // Joined as bytes: an earlier value that is not visible ASCII is kept as it is.
        let mut joined = match existing {
            Some(i) => {
                let mut earlier = self.headers[i].1.as_bytes().to_vec();
                earlier.extend_from_slice(b"; ");
                earlier
            }
            None => Vec::new(),
        };
        joined.extend_from_slice(format!("{name}={value}").as_bytes());
        match (HeaderValue::from_bytes(&joined), existing) {
            (Ok(value), Some(i)) => self.headers[i].1 = value,
            (Ok(value), None) => self.headers.push((header::COOKIE, value)),
            (Err(_), _) => tracing::warn!(name, "invalid cookie ignored"),
        }
        self
    }

    /// Sets [`ClientConfig::reconnect`].
    pub fn reconnect(mut self, backoff: Option<Backoff>) -> Self {
        self.reconnect = backoff;
        self
    }

    /// Sets [`ClientConfig::keepalive`].
    pub fn keepalive(mut self, keepalive: Option<KeepAlive>) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// Sets [`ClientConfig::max_frame_size`].
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`ClientConfig::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets [`ClientConfig::read_buffer_size`].
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes;
        self
    }
}
