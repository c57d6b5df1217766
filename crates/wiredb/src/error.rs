//! The one error type of the core crate.
//!
//! Every failure that can reach a user of `wiredb` is a variant here, so that a
//! transport crate can match on what went wrong (close a socket with a reason, retry a
//! connection, report a hook failure) without parsing strings.

use std::error::Error as StdError;

/// A boxed error from outside this crate (a transport, a hook).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Everything that can go wrong in the core crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame could not be decoded as y-protocols messages (bad var-uint, a length
    /// that runs past the end of the frame, an unknown sync message tag, ...).
    #[error("malformed frame: {0}")]
    Decode(#[from] yrs::encoding::read::Error),

    /// The frame decoded, but the document update inside it was rejected by yrs.
    #[error("invalid document update: {0}")]
    InvalidUpdate(String),

    /// An awareness update could not be applied or encoded.
    #[error("awareness error: {0}")]
    Awareness(#[from] yrs::sync::awareness::Error),

    /// The peer answered with an auth message denying access to the document.
    #[error("permission denied: {reason}")]
    PermissionDenied {
        /// The reason the peer gave.
        reason: String,
    },

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

    /// The peer could not keep up: its outgoing queue was full, so it was disconnected
    /// rather than letting memory grow without bound.
    #[error("peer too slow: outgoing queue of {capacity} frames is full")]
    SlowPeer {
        /// Capacity of the queue that overflowed.
        capacity: usize,
    },

    /// The channel is closed: the other side went away or `close()` was called.
    #[error("channel closed")]
    ChannelClosed,

    /// The room (or the whole server) is shutting down.
    #[error("room is closing")]
    RoomClosing,

    /// The transport failed (I/O error, WebSocket protocol error, ...).
    #[error("transport error: {0}")]
    Transport(#[source] BoxError),

    /// A room hook (persistence, upstream connection, ...) failed.
    #[error("room hook failed: {0}")]
    Hook(#[source] BoxError),

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
        matches!(
            self,
            Error::Decode(_)
                | Error::InvalidUpdate(_)
                | Error::Awareness(_)
                | Error::FrameTooLarge { .. }
                | Error::UnexpectedFrame(_)
        )
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
