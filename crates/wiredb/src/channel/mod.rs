//! The transport-agnostic stream of binary frames that every wire provides.
//!
//! A [`Channel`] is what a room serves and what a provider drives: a WebSocket, a pipe,
//! an in-process queue. It only moves opaque frames; the y-protocols meaning of the
//! bytes lives in [`crate::protocol`]. All methods take `&self` so that one task can
//! read and write the same channel concurrently (a room's reader and writer halves run
//! side by side on one peer).

use std::future::Future;

use bytes::Bytes;

use crate::error::Result;

mod memory;

pub use memory::MemoryChannel;

/// Why a channel is being closed. Transports map it to their own vocabulary (a
/// WebSocket close code, for example).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseKind {
    /// The conversation is over (WebSocket 1000).
    Normal,
    /// This side is going away: shutdown, room closing (WebSocket 1001).
    GoingAway,
    /// The peer sent something that is not valid y-protocols (WebSocket 1002).
    ProtocolError,
    /// The peer sent a non-binary frame (WebSocket 1003).
    UnsupportedData,
    /// The peer broke a policy: too slow, not allowed (WebSocket 1008).
    PolicyViolation,
    /// The peer sent a frame over the size limit (WebSocket 1009).
    TooBig,
    /// Something failed on this side (WebSocket 1011).
    InternalError,
}

/// A close code and a human-readable reason sent to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// The kind of close.
    pub kind: CloseKind,
    /// A short explanation for the peer's logs (WebSocket limits it to 123 bytes;
    /// transports truncate).
    pub message: String,
}

impl CloseReason {
    /// A close reason of `kind` with `message`.
    pub fn new(kind: CloseKind, message: impl Into<String>) -> Self {
        CloseReason {
            kind,
            message: message.into(),
        }
    }

    /// A normal close with no message.
    pub fn normal() -> Self {
        Self::new(CloseKind::Normal, "")
    }

    /// The close reason that fits how a connection ended: `Ok` is a normal close, a
    /// peer fault a protocol error, shutdown "going away", and so on.
    pub fn for_result(result: &Result<()>) -> Self {
        use crate::Error;
        use crate::protocol::ProtocolError;
        let Err(error) = result else {
            return Self::normal();
        };
        let kind = match error.root() {
            Error::FrameTooLarge { .. } => CloseKind::TooBig,
            Error::UnexpectedFrame(_) => CloseKind::UnsupportedData,
            Error::SlowPeer { .. }
            | Error::Protocol(
                ProtocolError::TooManyAwarenessStates { .. }
                | ProtocolError::AwarenessStateTooLarge { .. },
            ) => CloseKind::PolicyViolation,
            e if e.permission_denied().is_some() => CloseKind::PolicyViolation,
            Error::RoomClosing => CloseKind::GoingAway,
            // 1011: y-websocket clients reconnect (with their edits) after it.
            Error::StorageFailed(_) => CloseKind::InternalError,
            e if e.is_peer_fault() => CloseKind::ProtocolError,
            Error::ChannelClosed => CloseKind::Normal,
            _ => CloseKind::InternalError,
        };
        Self::new(kind, error.to_string())
    }
}

/// What [`Channel::try_send_now`] did with the frames it was offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendNow {
    /// Written whole: nothing more to do.
    Sent,
    /// Taken, in order, but not all of them are written yet: the next
    /// [`Channel::send_batch`] (with no frames, if there are none to send) writes
    /// the rest.
    Started,
    /// Not taken (the socket is busy, or the transport cannot write without
    /// waiting): send them with [`Channel::send_batch`].
    NotNow,
}

/// A bidirectional stream of binary frames.
///
/// Implementations must make [`Channel::recv`] cancel-safe (dropping its future
/// before it completes loses no frame), because rooms and providers `select!` on it.
///
/// [`MemoryChannel`] is a complete implementation to copy for a new transport.
pub trait Channel: Send + Sync + 'static {
    /// A name for logs: the peer address, the file path, ...
    fn id(&self) -> &str;

    /// Sends one frame.
    fn send(&self, frame: Bytes) -> impl Future<Output = Result<()>> + Send;

    /// Sends several frames. Transports that can (a WebSocket) override this to write
    /// them all and flush once.
    fn send_batch(&self, frames: Vec<Bytes>) -> impl Future<Output = Result<()>> + Send {
        async move {
            for frame in frames {
                self.send(frame).await?;
            }
            Ok(())
        }
    }

    /// Writes `frames` at once, in order, if the transport can without waiting, and
    /// says whether it did. A room calls it from its fan-out for a peer that has
    /// nothing queued, in a room that is not busy (one frame), and from its flush of
    /// a busy room, with the frames that gathered for the peer while the room
    /// lingered. Either way the frames go out without a writer task woken per peer
    /// and write (in a room of 50 peers at 50 updates a second, that wake-up was a
    /// third of the server's user-space CPU; docs/performance.md).
    ///
    /// Must never wait, and must keep the order of frames: the frames it takes go
    /// out before anything sent later. It takes all of `frames` or none of them.
    /// [`SendNow::Started`] means it took them but the socket took only part; the
    /// rest goes out with the next [`Channel::send_batch`], which the caller then
    /// makes, if need be with no frames. The default declines ([`SendNow::NotNow`]):
    /// the frames are queued and sent by [`Channel::send_batch`] as before. A panic
    /// in it is a bug of the channel: the room catches it, logs it and drops this
    /// peer, and goes on relaying to the others.
    fn try_send_now(&self, frames: &[Bytes]) -> SendNow {
        let _ = frames;
        SendNow::NotNow
    }

    /// Receives the next frame; `None` once the peer has closed the channel.
    /// Cancel-safe.
    fn recv(&self) -> impl Future<Output = Option<Result<Bytes>>> + Send;

    /// Closes the channel, telling the peer why. Closing twice is not an error.
    fn close(&self, reason: CloseReason) -> impl Future<Output = Result<()>> + Send;
}
