//! The one error type of the core crate.
//!
//! Every failure that can reach a user of `wiredb` is a variant here, so that a
//! transport crate can match on what went wrong (close a socket with a reason, retry a
//! connection, report a hook failure) without parsing strings.

use std::error::Error as StdError;
use std::sync::Arc;

use crate::protocol::ProtocolError;

/// A boxed error from outside this crate (a transport, a hook).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong in the core crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer's frames broke the y-protocols rules (bytes that do not decode, an
    /// update yrs rejects) or it denied access ([`ProtocolError::PermissionDenied`]).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),

    /// A frame was larger than the configured limit.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// Size of the offending frame.
        size: usize,
        /// The configured limit.
        limit: usize,
    },

    /// The transport delivered something that is not a binary frame (a text frame on a
    /// WebSocket, for example).
    #[error("unexpected non-binary frame: {0}")]
    UnexpectedFrame(String),

    /// The peer could not keep up, or asked for more than it reads: its outgoing
    /// queue was full (in frames or in bytes), so it was disconnected rather than
    /// letting memory grow without bound.
    #[error("peer too slow: outgoing queue full ({capacity} frames or {byte_budget} bytes)")]
    SlowPeer {
        /// Frames the queue holds at most.
        capacity: usize,
        /// Bytes the queue holds at most.
        byte_budget: usize,
    },

    /// The channel is closed: the other side went away or `close()` was called.
    #[error("channel closed")]
    ChannelClosed,

    /// The room's storage could not write an edit (a full disk, a permission): the
    /// room refuses edits and closes its peers until it is reopened. The edit that
    /// failed was not relayed; its author still has it and sends it again on
    /// reconnect.
    #[error("storage failed, edits refused until the room reopens: {0}")]
    StorageFailed(String),

    /// The room (or the whole server) is shutting down.
    #[error("room is closing")]
    RoomClosing,

    /// The transport failed (I/O error, WebSocket protocol error, ...).
    #[error("transport error: {0}")]
    Transport(#[source] BoxError),

    /// A room hook (persistence, upstream connection, ...) failed.
    #[error("room hook failed: {0}")]
    Hook(#[source] BoxError),

    /// An earlier failure, shared by everyone who asks for it (a connection's end
    /// is reported to every caller of `synced()`, say). [`Error::root`] looks through.
    #[error(transparent)]
    Shared(Arc<Error>),

    /// Shutting down, the closing hooks of these rooms failed (their files may not
    /// hold their last changes); every other room closed cleanly.
    #[error("{} room(s) did not close cleanly: {}", failures.len(), describe_failures(failures))]
    CloseFailed {
        /// Room id and its hook's error, by id.
        failures: Vec<(String, Error)>,
    },
}

fn describe_failures(failures: &[(String, Error)]) -> String {
    failures
        .iter()
        .map(|(room, error)| format!("room {room:?}: {error}"))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    /// Wraps any transport error.
    pub fn transport(error: impl Into<BoxError>) -> Self {
        Error::Transport(error.into())
    }

    /// Wraps any hook error.
    pub fn hook(error: impl Into<BoxError>) -> Self {
        Error::Hook(error.into())
    }

    /// True when the error was caused by what the peer sent (bad bytes, a rejected
    /// update, an oversized or non-binary frame), as opposed to a transport failure or
    /// a shutdown. Transports use it to pick a close code.
    pub fn is_peer_fault(&self) -> bool {
        match self.root() {
            Error::Protocol(ProtocolError::PermissionDenied { .. }) => false,
            Error::Protocol(_) | Error::FrameTooLarge { .. } | Error::UnexpectedFrame(_) => true,
            _ => false,
        }
    }

    /// The error itself, or for [`Error::Shared`] the one it shares.
    pub fn root(&self) -> &Error {
        match self {
            Error::Shared(shared) => shared.root(),
            other => other,
        }
    }

    /// The reason, if the peer denied access ([`ProtocolError::PermissionDenied`]).
    pub fn permission_denied(&self) -> Option<&str> {
        match self.root() {
            Error::Protocol(ProtocolError::PermissionDenied { reason }) => Some(reason),
            _ => None,
        }
    }

    /// Shares this error: an [`Error::Shared`] that clones cheaply.
    pub fn shared(self) -> Arc<Error> {
        match self {
            Error::Shared(shared) => shared,
            other => Arc::new(other),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
