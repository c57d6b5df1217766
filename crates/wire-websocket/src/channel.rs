//! [`WebSocketChannel`]: one WebSocket connection as a wiredb [`Channel`].
//!
//! The same code serves both ends: the server wraps a tokio-tungstenite stream over the
//! upgraded HTTP connection, the client one over its TCP connection. Binary messages are y-protocols frames; text messages are
//! a protocol error (y-websocket never sends them); pings and pongs are keepalive.
//!
//! The socket is split into a read half and a write half, each behind its own async
//! lock, so that a room's reader and writer run side by side on one connection.

use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::Mutex;
use tokio::time::Instant;
use wiredb::{Channel, CloseKind, CloseReason, Error, Result};

use crate::message::{Incoming, WsError, WsMessage};

/// How long closing may wait for the peer to take the close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Keepalive of a connection: a ping after `interval` of silence from the peer, and
/// the connection is dropped when nothing at all arrives within `timeout` of that ping.
///
/// Any frame counts as a sign of life, not only the pong: a busy peer is never pinged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Silence after which a ping is sent.
    pub interval: Duration,
    /// How long the peer has to answer a ping (with anything).
    pub timeout: Duration,
}

impl Default for KeepAlive {
    /// 30 s / 30 s: the y-websocket reference server pings every 30 s too, and browsers
    /// answer pings on their own, so an idle but healthy tab is never dropped.
    fn default() -> Self {
        KeepAlive {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
        }
    }
}

/// When the peer was last heard from and whether a ping is waiting for an answer.
struct Liveness {
    last_heard: Instant,
    ping_sent: Option<Instant>,
}

/// A WebSocket as a [`Channel`] of binary y-protocols frames. Built by
/// [`AsyncWebSocketServer`](crate::AsyncWebSocketServer) for each accepted socket and by
/// [`AsyncWebSocketClient`](crate::AsyncWebSocketClient) for each connection; exposed
/// for users who drive a tokio-tungstenite stream themselves ([`WebSocketChannel::new`]).
pub struct WebSocketChannel<S, M>
where
    S: Sink<M>,
{
    id: String,
    writer: Mutex<SplitSink<S, M>>,
    reader: Mutex<SplitStream<S>>,
    keepalive: Option<KeepAlive>,
    liveness: StdMutex<Liveness>,
    closed: AtomicBool,
    peer_close: StdMutex<Option<(u16, String)>>,
}

/// The channel of a socket accepted by the server (after the HTTP upgrade).
pub type ServerChannel = WebSocketChannel<
    tokio_tungstenite::WebSocketStream<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>,
    tokio_tungstenite::tungstenite::Message,
>;

/// The channel of a client connection made with tokio-tungstenite.
pub type ClientChannel = WebSocketChannel<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Message,
>;

impl<S, M, E> WebSocketChannel<S, M>
where
    S: Stream<Item = std::result::Result<M, E>> + Sink<M, Error = E> + Send + Unpin + 'static,
    M: WsMessage,
    E: WsError,
{
    /// Wraps `socket`; `id` names it in logs (the peer address, say).
    pub fn new(id: impl Into<String>, socket: S, keepalive: Option<KeepAlive>) -> Self {
        let (writer, reader) = socket.split();
        WebSocketChannel {
            id: id.into(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            keepalive,
            liveness: StdMutex::new(Liveness {
                last_heard: Instant::now(),
                ping_sent: None,
            }),
            closed: AtomicBool::new(false),
            peer_close: StdMutex::new(None),
        }
    }

    /// The close code and reason the peer sent, once it has closed the connection.
    pub fn peer_close_reason(&self) -> Option<(u16, String)> {
        lock(&self.peer_close).clone()
    }

    fn heard_from_peer(&self) {
        let mut liveness = lock(&self.liveness);
        liveness.last_heard = Instant::now();
        liveness.ping_sent = None;
    }

    /// When the keepalive must act next: send a ping, or give up on the peer.
    fn keepalive_deadline(&self, keepalive: KeepAlive) -> Instant {
        let liveness = lock(&self.liveness);
        match liveness.ping_sent {
            Some(sent) => sent + keepalive.timeout,
            None => liveness.last_heard + keepalive.interval,
        }
    }

    /// Called at the keepalive deadline: pings, or fails once a ping went unanswered.
    async fn keepalive_due(&self, keepalive: KeepAlive) -> Result<()> {
        if lock(&self.liveness).ping_sent.is_some() {
            return Err(Error::transport(KeepAliveTimeout(keepalive.timeout)));
        }
        lock(&self.liveness).ping_sent = Some(Instant::now());
        // A writer stuck on a peer that does not read holds the lock; the ping is then
        // skipped, and the timeout above still drops that peer. A ping that cannot be
        // written (the peer's receive window is full) is the same silence.
        if let Ok(mut writer) = self.writer.try_lock() {
            match tokio::time::timeout(keepalive.timeout, writer.send(M::ping())).await {
                Ok(sent) => sent.map_err(E::into_wiredb)?,
                Err(_) => return Err(Error::transport(KeepAliveTimeout(keepalive.timeout))),
            }
        }
        Ok(())
    }

    async fn next_message(&self, reader: &mut SplitStream<S>) -> Option<Result<M>> {
        loop {
            let Some(keepalive) = self.keepalive else {
                return reader.next().await.map(|m| m.map_err(E::into_wiredb));
            };
            let deadline = self.keepalive_deadline(keepalive);
            tokio::select! {
                message = reader.next() => return message.map(|m| m.map_err(E::into_wiredb)),
                () = tokio::time::sleep_until(deadline) => {
                    // Boxed: a ping is rare, and its future (a timer and a send)
                    // would otherwise enlarge every idle connection's task.
                    if let Err(error) = Box::pin(self.keepalive_due(keepalive)).await {
                        return Some(Err(error));
                    }
                }
            }
        }
    }
}

impl<S, M, E> Channel for WebSocketChannel<S, M>
where
    S: Stream<Item = std::result::Result<M, E>> + Sink<M, Error = E> + Send + Unpin + 'static,
    M: WsMessage,
    E: WsError,
    SplitSink<S, M>: Send + Sync,
    SplitStream<S>: Send + Sync,
{
    fn id(&self) -> &str {
        &self.id
    }

    async fn send(&self, frame: Bytes) -> Result<()> {
        let mut writer = self.writer.lock().await;
        writer.send(M::binary(frame)).await.map_err(E::into_wiredb)
    }

    /// Queues every frame in the socket's write buffer and flushes once: one write
    /// for a burst instead of one per frame.
    async fn send_batch(&self, frames: Vec<Bytes>) -> Result<()> {
        let mut writer = self.writer.lock().await;
        for frame in frames {
            writer
                .feed(M::binary(frame))
                .await
                .map_err(E::into_wiredb)?;
        }
        writer.flush().await.map_err(E::into_wiredb)
    }

    async fn recv(&self) -> Option<Result<Bytes>> {
        // Cancel-safe: `SplitStream::next` hands over a whole message or nothing, and
        // the keepalive bookkeeping is idempotent.
        let mut reader = self.reader.lock().await;
        loop {
            let message = match self.next_message(&mut reader).await? {
                Ok(message) => message,
                Err(error) => return Some(Err(error)),
            };
            self.heard_from_peer();
            match message.classify() {
                Incoming::Binary(frame) => return Some(Ok(frame)),
                Incoming::Text => {
                    return Some(Err(Error::UnexpectedFrame(
                        "a text message; y-protocols frames are binary".into(),
                    )));
                }
                Incoming::Close(reason) => {
                    *lock(&self.peer_close) = reason;
                    return None;
                }
                Incoming::Control => continue,
            }
        }
    }

    async fn close(&self, reason: CloseReason) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let message = M::close(close_code(reason.kind), truncate_reason(&reason.message));
        // The peer may already be gone, or have stopped reading (then the close frame
        // waits behind unsent data forever): a close that cannot be delivered within
        // the limit is abandoned, and dropping the channel drops the connection.
        let closing = async {
            let mut writer = self.writer.lock().await;
            let _ = writer.send(message).await;
            let _ = writer.close().await;
        };
        if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
            tracing::debug!(peer = %self.id, "close frame not delivered in time; dropping the connection");
        }
        Ok(())
    }
}

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
fn truncate_reason(reason: &str) -> &str {
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

fn lock<T>(mutex: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values are plain bookkeeping, valid whatever a panicking holder did.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The peer did not answer a keepalive ping.
#[derive(Debug, thiserror::Error)]
#[error("no answer to a keepalive ping within {0:?}")]
struct KeepAliveTimeout(Duration);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_are_cut_at_a_char_boundary() {
        let long = "é".repeat(100);
        let cut = truncate_reason(&long);
        assert!(cut.len() <= 123);
        assert_eq!(cut.len(), 122);
        assert_eq!(truncate_reason("short"), "short");
    }

    #[test]
    fn close_codes_follow_rfc_6455() {
        assert_eq!(close_code(CloseKind::Normal), 1000);
        assert_eq!(close_code(CloseKind::TooBig), 1009);
        assert_eq!(close_code(CloseKind::InternalError), 1011);
    }
}
