//! The crate's error type.

use std::sync::Arc;

use wiredb::BoxError;

/// What can go wrong serving or connecting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server could not listen on the address (in use, not allowed, bad host).
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// Why the bind failed.
        source: std::io::Error,
    },
    /// The server's accept loop failed.
    #[error("websocket server failed: {source}")]
    Serve {
        /// The cause.
        source: std::io::Error,
    },
    /// The client URL is not a `ws://` URL the client can use.
    #[error("invalid websocket URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting that cannot be used (a token key too short to be safe, say).
    #[error("invalid setting: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// TLS settings that cannot be used: a certificate or key file that cannot be
    /// read or parsed, a key that does not match its certificate, no root
    /// certificate to trust.
    #[error("TLS: {reason}")]
    Tls {
        /// What is wrong, naming the file.
        reason: String,
    },
    /// The client could not open a WebSocket (DNS, refused, handshake, timeout).
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// The cause (an I/O error, the WebSocket handshake's error, a timeout).
        source: BoxError,
    },
    /// The server answered the upgrade request with an HTTP error (a connect hook
    /// refused the token, say).
    #[error("{url} refused the connection: HTTP {status}: {body}")]
    Rejected {
        /// The URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The response body, as text.
        body: String,
    },
    /// The client has no open connection right now (it is reconnecting or closed).
    #[error("not connected")]
    NotConnected,
    /// A protocol, room or channel error from the core.
    #[error(transparent)]
    Core(#[from] wiredb::Error),
    /// An earlier failure, shared by everyone who asks for it (why a client gave
    /// up, to every caller of `synced()`). [`Error::root`] looks through.
    #[error(transparent)]
    Shared(Arc<Error>),
}

impl Error {
    /// Shares this error: an [`Error::Shared`] that clones cheaply.
    pub fn shared(self) -> Arc<Error> {
        match self {
            Error::Shared(shared) => shared,
            other => Arc::new(other),
        }
    }

    /// The error itself, or for [`Error::Shared`] the one it shares.
    pub fn root(&self) -> &Error {
        match self {
            Error::Shared(shared) => shared.root(),
            other => other,
        }
    }

    /// The core error inside, looking through [`Error::Shared`] (and the core's own
    /// [`wiredb::Error::Shared`]).
    pub fn core(&self) -> Option<&wiredb::Error> {
        match self.root() {
            Error::Core(core) => Some(core.root()),
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
