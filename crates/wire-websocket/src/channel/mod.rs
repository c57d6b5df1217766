//! [`WebSocketChannel`]: one WebSocket connection as a wiredb [`Channel`].
//!
//! The same code serves both ends: the server wraps a tokio-tungstenite stream over the
//! upgraded HTTP connection, the client one over its TCP connection. Binary messages
//! are y-protocols frames; text messages are a protocol error (y-websocket never sends
//! them); pings and pongs are keepalive.
//!
//! The socket is split into a read half and a write half, each behind its own async
//! lock, so that a room's reader and writer run side by side on one connection.
//!
//! On the server, binary frames skip tungstenite's sink: they are unmasked, so the
//! channel frames them itself, a whole batch into one buffer and one write, through a
//! [`FrameWriter`] (the server's `SharedSocket`): under the same writer lock as every
//! other write that waits, or, for frames written at once from a room's fan-out,
//! under the socket's own lock only. tungstenite still reads, answers pings and sends
//! pings and the close on the same socket; the shared socket keeps both on one
//! ordered byte stream, and refuses frames written at once from the close on.

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::Mutex;
use tokio::time::Instant;
use wiredb::{Channel, CloseReason, Error, Result, SendNow, lock_unpoisoned};

use crate::close::{PeerClosed, close_code, truncate_reason};
use crate::keepalive::{Due, KeepAlive, Liveness};
use crate::message::{Incoming, WsError, WsMessage};
use crate::progress::{Progress, Tracked};
use crate::write_bound::{KeepAliveTimeout, bounded};

mod frame_writer;
pub(crate) use frame_writer::FrameWriter;

/// The clock the keepalive reads: tokio's (so that tests with paused time move it),
/// handed to the sans-IO [`Liveness`] as a plain `Instant`.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// How long closing may wait for the peer to take the close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A WebSocket as a [`Channel`] of binary y-protocols frames. Built by
/// [`AsyncWebSocketServer`](crate::AsyncWebSocketServer) for each accepted socket and by
/// [`AsyncWebSocketClient`](crate::AsyncWebSocketClient) for each connection; exposed
/// for users who drive a tokio-tungstenite stream themselves ([`WebSocketChannel::new`]).
pub(crate) struct WebSocketChannel<S, M>
where
    S: Sink<M>,
{
    id: String,
    writer: Mutex<SplitSink<S, M>>,
    reader: Mutex<SplitStream<S>>,
    keepalive: Option<KeepAlive>,
    /// The byte counts of the socket, if it is [`Tracked`]: then a write fails only
    /// after `keepalive.timeout` in which no byte moved, else after that long in all.
    progress: Option<Arc<Progress>>,
    liveness: StdMutex<Liveness>,
    closed: AtomicBool,
    peer_close: StdMutex<Option<(u16, String)>>,
    /// Frames each way (no-ops unless [`WebSocketChannel::with_metrics`]).
    frames_sent: metrics::Counter,
    frames_received: metrics::Counter,
    /// A server's socket, for binary frames framed here rather than by tungstenite
    /// (a server's `SharedSocket`); `None` on a
    /// client, whose frames are masked.
    frame_writer: Option<Arc<dyn FrameWriter>>,
}

/// A socket accepted by the server, after the HTTP upgrade, its bytes counted.
#[cfg(feature = "server")]
pub(crate) type ServerSocket = Tracked<crate::upgraded_io::UpgradedIo>;

/// The channel of a socket accepted by the server (after the HTTP upgrade).
#[cfg(feature = "server")]
pub(crate) type ServerChannel = WebSocketChannel<
    tokio_tungstenite::WebSocketStream<crate::shared_socket::SharedSocket<ServerSocket>>,
    tokio_tungstenite::tungstenite::Message,
>;

/// The channel of a client connection made with tokio-tungstenite.
#[cfg(feature = "client")]
pub(crate) type ClientChannel = WebSocketChannel<
    tokio_tungstenite::WebSocketStream<Tracked<crate::client::ClientStream>>,
    tokio_tungstenite::tungstenite::Message,
>;

impl<S, M, E> WebSocketChannel<S, M>
where
    S: Stream<Item = std::result::Result<M, E>> + Sink<M, Error = E> + Send + Unpin + 'static,
    M: WsMessage,
    E: WsError,
{
    /// Wraps `socket`; `id` names it in logs (the peer address, say).
    pub(crate) fn new(id: impl Into<String>, socket: S, keepalive: Option<KeepAlive>) -> Self {
        let (writer, reader) = socket.split();
        WebSocketChannel {
            id: id.into(),
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            keepalive,
            progress: None,
            liveness: StdMutex::new(Liveness::new(keepalive.unwrap_or_default(), now())),
            closed: AtomicBool::new(false),
            peer_close: StdMutex::new(None),
            frames_sent: metrics::Counter::noop(),
            frames_received: metrics::Counter::noop(),
            frame_writer: None,
        }
    }

    /// Writes binary frames straight to `socket`, the
    /// [`SharedSocket`](crate::shared_socket::SharedSocket) under this channel's
    /// stream (a server's).
    #[cfg(feature = "server")]
    pub(crate) fn with_frame_writer(mut self, socket: Arc<dyn FrameWriter>) -> Self {
        self.frame_writer = Some(socket);
        self
    }

    /// Counts the frames this channel moves in `metrics`.
    #[cfg(feature = "server")]
    pub(crate) fn with_metrics(mut self, metrics: &crate::metrics::SocketMetrics) -> Self {
        self.frames_sent = metrics.frames_sent.clone();
        self.frames_received = metrics.frames_received.clone();
        self
    }

    /// Counts bytes on the move as progress: `progress` is the one the socket under
    /// `S` was [`Tracked`] with. A write is then bounded by the time nothing moves
    /// rather than in all (a large frame to a peer on a slow link goes on as long as
    /// bytes flow), and bytes arriving count as a sign of life even before their
    /// message is whole (a peer sending a large frame is alive).
    pub(crate) fn with_progress(mut self, progress: Arc<Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The close code and reason the peer sent, once it has closed the connection.
    #[allow(dead_code)] // read by the tests
    pub(crate) fn peer_close_reason(&self) -> Option<(u16, String)> {
        lock_unpoisoned(&self.peer_close).clone()
    }

    /// Bytes read from the socket so far (0 when it is not tracked).
    fn bytes_read(&self) -> u64 {
        self.progress.as_ref().map_or(0, |p| p.read())
    }

    fn heard_from_peer(&self) {
        let read = self.bytes_read();
        lock_unpoisoned(&self.liveness).heard(now(), read);
    }

    /// Called at the keepalive deadline: carries out what [`Liveness::due`] decides
    /// (bytes read since the last one are a sign of life; else a ping, or the peer is
    /// given up on when one already went unanswered).
    ///
    /// Never waits, as it runs in the reader: a reader that stopped to wait for the
    /// writer could deadlock two healthy ends, each writing to the other and neither
    /// reading. A ping that finds the writer busy (a burst to this peer) is tried
    /// again shortly, not skipped: a skipped ping would make a healthy peer that
    /// sends nothing of its own (a viewer, a Python wiredb client) look dead.
    fn keepalive_due(&self, keepalive: KeepAlive) -> Result<()> {
        let read = self.bytes_read();
        let at = now();
        match lock_unpoisoned(&self.liveness).due(at, read) {
            Due::Nothing => return Ok(()),
            Due::GiveUp => return Err(Error::transport(KeepAliveTimeout(keepalive.timeout))),
            Due::Ping => {}
        }
        let Ok(mut writer) = self.writer.try_lock() else {
            lock_unpoisoned(&self.liveness).ping_deferred(at);
            return Ok(());
        };
        // Queued and flushed if the socket takes it at once. Otherwise it waits in
        // the socket's buffer for the next write, and the peer, which is then not
        // reading, does not answer in time: given up on, as it should be.
        let _ = futures_util::FutureExt::now_or_never(writer.send(M::ping()));
        lock_unpoisoned(&self.liveness).ping_sent(at);
        Ok(())
    }

    /// How long a write may wait for the peer to take it: the keepalive timeout. A
    /// peer that takes nothing for that long is as dead as one that does not answer
    /// pings, and a sender blocked on it forever would never get to notice (a
    /// client's reader is not polled while it writes).
    fn write_limit(&self) -> Option<Duration> {
        self.keepalive.map(|keepalive| keepalive.timeout)
    }

    /// Sends `message` (unbounded: see [`bounded`]).
    async fn write_one(&self, message: M) -> Result<()> {
        let mut writer = self.writer.lock().await;
        writer.send(message).await.map_err(E::into_wiredb)
    }

    /// Frames `frames` into the shared socket and waits until it has taken them
    /// (unbounded: see [`bounded`]). Under the writer's lock, as every write: a ping
    /// or the close is never sent from the middle of a batch, and nothing after the
    /// close.
    async fn write_framed(&self, socket: &dyn FrameWriter, frames: &[Bytes]) -> Result<()> {
        let _writer = self.writer.lock().await;
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::ChannelClosed);
        }
        socket.write_frames(frames);
        std::future::poll_fn(|cx| socket.poll_drain(cx))
            .await
            .map_err(Error::transport)
    }

    /// Feeds every frame, then flushes once (unbounded: see [`bounded`]).
    async fn write_batch(&self, frames: Vec<Bytes>) -> Result<()> {
        let mut writer = self.writer.lock().await;
        for frame in frames {
            writer
                .feed(M::binary(frame))
                .await
                .map_err(E::into_wiredb)?;
        }
        writer.flush().await.map_err(E::into_wiredb)
    }

    async fn next_message(&self, reader: &mut SplitStream<S>) -> Option<Result<M>> {
        loop {
            let Some(keepalive) = self.keepalive else {
                return reader.next().await.map(|m| m.map_err(E::into_wiredb));
            };
            let deadline = lock_unpoisoned(&self.liveness).deadline();
            let deadline = Instant::from_std(deadline);
            tokio::select! {
                message = reader.next() => return message.map(|m| m.map_err(E::into_wiredb)),
                () = tokio::time::sleep_until(deadline) => {
                    if let Err(error) = self.keepalive_due(keepalive) {
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

    /// Sends one frame; with the keepalive on, a write the peer does not take within
    /// its timeout fails (see [`KeepAlive`]).
    async fn send(&self, frame: Bytes) -> Result<()> {
        self.frames_sent.increment(1);
        if let Some(socket) = self.frame_writer.as_deref() {
            let write = std::pin::pin!(self.write_framed(socket, std::slice::from_ref(&frame)));
            return bounded(self.write_limit(), self.progress.as_deref(), write).await;
        }
        let write = std::pin::pin!(self.write_one(M::binary(frame)));
        bounded(self.write_limit(), self.progress.as_deref(), write).await
    }

    /// Queues every frame in the socket's write buffer and flushes once: one write
    /// for a burst instead of one per frame. With the keepalive on, a burst the peer
    /// does not take within its timeout fails (see [`KeepAlive`]).
    async fn send_batch(&self, frames: Vec<Bytes>) -> Result<()> {
        self.frames_sent.increment(frames.len() as u64);
        if let Some(socket) = self.frame_writer.as_deref() {
            let write = std::pin::pin!(self.write_framed(socket, &frames));
            return bounded(self.write_limit(), self.progress.as_deref(), write).await;
        }
        let write = std::pin::pin!(self.write_batch(frames));
        bounded(self.write_limit(), self.progress.as_deref(), write).await
    }

    /// A server's channel writes frames at once, in one write, when its socket has
    /// nothing waiting (a batch, a ping, the rest of an earlier write); never after
    /// the close. A client's never does: its frames are masked by
    /// tungstenite.
    fn try_send_now(&self, frames: &[Bytes]) -> SendNow {
        let Some(socket) = self.frame_writer.as_deref() else {
            return SendNow::NotNow;
        };
        // No writer lock: the socket takes these frames whole or not at all, behind
        // anything a batch, a ping or tungstenite left waiting, and refuses them
        // once the close is on its way (`refuse_frames`, under its own lock). The
        // flag is only the quick answer after the close.
        if self.closed.load(Ordering::Acquire) {
            return SendNow::NotNow;
        }
        let sent = socket.try_write_frames(frames);
        if sent != SendNow::NotNow {
            self.frames_sent.increment(frames.len() as u64);
        }
        sent
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
                Incoming::Binary(frame) => {
                    self.frames_received.increment(1);
                    return Some(Ok(frame));
                }
                Incoming::Text => {
                    return Some(Err(Error::UnexpectedFrame(
                        "a text message; y-protocols frames are binary".into(),
                    )));
                }
                Incoming::Close(reason) => {
                    *lock_unpoisoned(&self.peer_close) = reason.clone();
                    // A normal close ends the channel; any other code is the peer
                    // telling why it dropped us, which the caller needs (a client
                    // must not retry forever a document too big for the server).
                    return match reason {
                        Some((code, reason)) if code != 1000 && code != 1001 => {
                            Some(Err(Error::transport(PeerClosed { code, reason })))
                        }
                        _ => None,
                    };
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
            if let Some(socket) = self.frame_writer.as_deref() {
                socket.refuse_frames();
            }
            let _ = writer.send(message).await;
            let _ = writer.close().await;
        };
        if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
            tracing::debug!(peer = %self.id, "close frame not delivered in time; dropping the connection");
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "server"))]
mod tests;
