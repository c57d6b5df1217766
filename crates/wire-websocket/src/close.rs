//! Closing a WebSocket: the close code of each [`CloseKind`], a reason cut to fit a
//! control frame, and [`PeerClosed`], how the peer's own close reaches the caller.

use wiredb::{CloseKind, Error};

/// The WebSocket close code (RFC 6455 §7.4.1) for a close kind.
pub fn close_code(kind: CloseKind) -> u16 {
    match kind {
        CloseKind::Normal => 1000,
        CloseKind::GoingAway => 1001,
        CloseKind::ProtocolError => 1002,
        CloseKind::UnsupportedData => 1003,
        CloseKind::PolicyViolation => 1008,
        CloseKind::TooBig => 1009,
        _ => 1011,
    }
}

/// A close reason must fit in a control frame: 123 bytes after the code.
pub(crate) fn truncate_reason(reason: &str) -> &str {
    const LIMIT: usize = 123;
    if reason.len() <= LIMIT {
        return reason;
    }
    let mut end = LIMIT;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// The peer closed the connection with a code other than 1000 (normal) or 1001
/// (going away): the [`Error::Transport`] cause of [`Channel::recv`](wiredb::Channel::recv)'s error then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("closed by the peer with code {code}: {reason}")]
pub struct PeerClosed {
    /// The WebSocket close code (1008 policy violation, 1009 too big, ...).
    pub code: u16,
    /// The reason the peer gave.
    pub reason: String,
}

impl PeerClosed {
    /// The `PeerClosed` inside a core error, if that is what it is.
    pub fn of(error: &Error) -> Option<&PeerClosed> {
        match error.root() {
            Error::Transport(cause) => cause.downcast_ref(),
            _ => None,
        }
    }
}
