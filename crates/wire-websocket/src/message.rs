//! What the channel needs from a WebSocket library's
//! message and error types, implemented for tungstenite's (both ends use it).

use bytes::Bytes;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::error::CapacityError;
use wiredb::Error;

/// A received message, as the channel sees it.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A y-protocols frame.
    Binary(Bytes),
    /// A text message: not part of y-protocols.
    Text,
    /// Ping, pong or a raw frame: only a sign of life.
    Control,
    /// The peer closed the connection, with its code and reason if it gave one.
    Close(Option<(u16, String)>),
}

/// A WebSocket library's message type. Implemented for tungstenite's.
pub(crate) trait WsMessage: Send + Sync + Sized + 'static {
    /// What this message means to the channel.
    fn classify(self) -> Incoming;
    /// A binary message carrying `frame`.
    fn binary(frame: Bytes) -> Self;
    /// A keepalive ping.
    fn ping() -> Self;
    /// A close message.
    fn close(code: u16, reason: &str) -> Self;
}

/// A WebSocket library's error type. Implemented for tungstenite's.
pub(crate) trait WsError: std::error::Error + Send + Sync + 'static {
    /// The wiredb error this becomes: an over-limit message is
    /// [`Error::FrameTooLarge`], a closed connection [`Error::ChannelClosed`], the rest
    /// a transport error.
    fn into_wiredb(self) -> Error;
}

impl WsMessage for tungstenite::Message {
    fn classify(self) -> Incoming {
        use tungstenite::Message;
        match self {
            Message::Binary(frame) => Incoming::Binary(frame),
            Message::Text(_) => Incoming::Text,
            Message::Close(frame) => {
                Incoming::Close(frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())))
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Incoming::Control,
        }
    }

    fn binary(frame: Bytes) -> Self {
        tungstenite::Message::Binary(frame)
    }

    fn ping() -> Self {
        tungstenite::Message::Ping(Bytes::new())
    }

    fn close(code: u16, reason: &str) -> Self {
        tungstenite::Message::Close(Some(tungstenite::protocol::CloseFrame {
            code: code.into(),
            reason: reason.into(),
        }))
    }
}

impl WsError for tungstenite::Error {
    fn into_wiredb(self) -> Error {
        match self {
            tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
                Error::FrameTooLarge {
                    size,
                    limit: max_size,
                }
            }
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                Error::ChannelClosed
            }
            other => Error::transport(other),
        }
    }
}
