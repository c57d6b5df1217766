//! [`WebSocketChannel`]: one WebSocket connection as a wiredb [`Channel`].
//!
//! The same code serves both ends: the server wraps a tokio-tungstenite stream over the
//! upgraded HTTP connection, the client one over its TCP connection. Binary messages are y-protocols frames; text messages are
//! a protocol error (y-websocket never sends them); pings and pongs are keepalive.
//!
//! The socket is split into a read half and a write half, each behind its own async
//! lock, so that a room's reader and writer run side by side on one connection.

use std::sync::Arc;
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
pub use crate::progress::{Progress, Tracked};

/// How long closing may wait for the peer to take the close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Keepalive of a connection: a ping after `interval` of silence from the peer, and
/// the connection is dropped when nothing at all arrives within `timeout` of that ping.
///
/// Any frame counts as a sign of life, not only the pong: a busy peer is never pinged.
/// The timeout also bounds every write by the time the peer takes *no* bytes (over a
/// [`Tracked`] socket, as the server's and the client's are): a peer that takes no data
/// for that long (its receive window full) is dropped rather than blocking its sender
/// for ever, while a slow but steady one gets a frame of any size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Silence after which a ping is sent.
    pub interval: Duration,
    /// How long the peer has to answer a ping (with anything), and the longest a
    /// write to it may go without progress.
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
    /// Set when a ping fell due while the writer held the socket: try again then.
    ping_retry: Option<Instant>,
    /// Bytes read from the socket at the last keepalive deadline.
    read_seen: u64,
}

impl Liveness {
    /// The peer has shown it is alive: wait a whole interval before pinging.
    fn heard(&mut self, now: Instant) {
        self.last_heard = now;
        self.ping_sent = None;
        self.ping_retry = None;
    }
}

/// How soon a ping that found the writer busy is tried again: a burst to one peer
/// takes milliseconds.
const PING_RETRY: Duration = Duration::from_millis(100);

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
    /// The byte counts of the socket, if it is [`Tracked`]: then a write fails only
    /// after `keepalive.timeout` in which no byte moved, else after that long in all.
    progress: Option<Arc<Progress>>,
    liveness: StdMutex<Liveness>,
    closed: AtomicBool,
    peer_close: StdMutex<Option<(u16, String)>>,
}

/// The channel of a socket accepted by the server (after the HTTP upgrade).
pub type ServerChannel = WebSocketChannel<
    tokio_tungstenite::WebSocketStream<Tracked<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>>,
    tokio_tungstenite::tungstenite::Message,
>;

/// The channel of a client connection made with tokio-tungstenite.
pub type ClientChannel = WebSocketChannel<
    tokio_tungstenite::WebSocketStream<Tracked<tokio::net::TcpStream>>,
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
            progress: None,
            liveness: StdMutex::new(Liveness {
                last_heard: Instant::now(),
                ping_sent: None,
                ping_retry: None,
                read_seen: 0,
            }),
            closed: AtomicBool::new(false),
            peer_close: StdMutex::new(None),
        }
    }

    /// Counts bytes on the move as progress: `progress` is the one the socket under
    /// `S` was [`Tracked`] with. A write is then bounded by the time nothing moves
    /// rather than in all (a large frame to a peer on a slow link goes on as long as
    /// bytes flow), and bytes arriving count as a sign of life even before their
    /// message is whole (a peer sending a large frame is alive).
    pub fn with_progress(mut self, progress: Arc<Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The close code and reason the peer sent, once it has closed the connection.
    pub fn peer_close_reason(&self) -> Option<(u16, String)> {
        lock(&self.peer_close).clone()
    }

    fn heard_from_peer(&self) {
        lock(&self.liveness).heard(Instant::now());
    }

    /// When the keepalive must act next: send a ping, or give up on the peer.
    fn keepalive_deadline(&self, keepalive: KeepAlive) -> Instant {
        let liveness = lock(&self.liveness);
        match (liveness.ping_sent, liveness.ping_retry) {
            (Some(sent), _) => later(sent, keepalive.timeout),
            (None, Some(retry)) => retry,
            (None, None) => later(liveness.last_heard, keepalive.interval),
        }
    }

    /// Called at the keepalive deadline: bytes read since the last one are a sign of
    /// life (a large frame on its way in); else a ping is sent, or the peer given up
    /// on when one already went unanswered.
    ///
    /// Never waits, as it runs in the reader: a reader that stopped to wait for the
    /// writer could deadlock two healthy ends, each writing to the other and neither
    /// reading. A ping that finds the writer busy (a burst to this peer) is tried
    /// again shortly, not skipped: a skipped ping would make a healthy peer that
    /// sends nothing of its own (a viewer, a Python wiredb client) look dead.
    fn keepalive_due(&self, keepalive: KeepAlive) -> Result<()> {
        let read = self.progress.as_ref().map(|p| p.read());
        let now = Instant::now();
        {
            let mut liveness = lock(&self.liveness);
            if let Some(read) = read
                && read != liveness.read_seen
            {
                liveness.read_seen = read;
                liveness.heard(now);
                return Ok(());
            }
            if liveness.ping_sent.is_some() {
                return Err(Error::transport(KeepAliveTimeout(keepalive.timeout)));
            }
        }
        let Ok(mut writer) = self.writer.try_lock() else {
            lock(&self.liveness).ping_retry = Some(now + PING_RETRY);
            return Ok(());
        };
        // Queued and flushed if the socket takes it at once. Otherwise it waits in
        // the socket's buffer for the next write, and the peer, which is then not
        // reading, does not answer in time: given up on, as it should be.
        let _ = futures_util::FutureExt::now_or_never(writer.send(M::ping()));
        let mut liveness = lock(&self.liveness);
        liveness.ping_sent = Some(now);
        liveness.ping_retry = None;
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
            let deadline = self.keepalive_deadline(keepalive);
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
        let write = std::pin::pin!(self.write_one(M::binary(frame)));
        bounded(self.write_limit(), self.progress.as_deref(), write).await
    }

    /// Queues every frame in the socket's write buffer and flushes once: one write
    /// for a burst instead of one per frame. With the keepalive on, a burst the peer
    /// does not take within its timeout fails (see [`KeepAlive`]).
    async fn send_batch(&self, frames: Vec<Bytes>) -> Result<()> {
        let write = std::pin::pin!(self.write_batch(frames));
        bounded(self.write_limit(), self.progress.as_deref(), write).await
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
                    *lock(&self.peer_close) = reason.clone();
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
            let _ = writer.send(message).await;
            let _ = writer.close().await;
        };
        if tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err() {
            tracing::debug!(peer = %self.id, "close frame not delivered in time; dropping the connection");
        }
        Ok(())
    }
}

/// Runs `write`, failing with [`KeepAliveTimeout`] once `limit` has passed with no
/// progress (`None`: no limit). Progress is bytes moving either way, as `progress`
/// counts them; without a tracker, `limit` bounds the whole write.
///
/// Almost every write completes at its first poll (the socket buffer has room): those
/// cost no timer. Only a write that has to wait gets one, boxed, so that the rare
/// timer does not enlarge every connection's writer task (idle memory is the budget
/// that matters at 10k connections).
///
/// `write` comes pinned by the caller so that its state is stored once, in the
/// caller's future, not copied into this one's.
async fn bounded<F>(
    limit: Option<Duration>,
    progress: Option<&Progress>,
    mut write: std::pin::Pin<&mut F>,
) -> Result<()>
where
    F: Future<Output = Result<()>>,
{
    let Some(limit) = limit else {
        return write.await;
    };
    if let Some(done) = futures_util::FutureExt::now_or_never(write.as_mut()) {
        return done;
    }
    Box::pin(while_progressing(limit, progress, write)).await
}

/// The slow path of [`bounded`]: waits for `write` one `limit` at a time, and fails
/// at the end of a window in which no byte moved either way (so after between one
/// and two `limit`s without progress; without a tracker, after one).
async fn while_progressing<F>(
    limit: Duration,
    progress: Option<&Progress>,
    mut write: std::pin::Pin<&mut F>,
) -> Result<()>
where
    F: Future<Output = Result<()>>,
{
    // Bytes read count too: a peer busy sending us a large frame takes nothing
    // meanwhile, and is alive (each end waiting for the other to read would
    // otherwise drop a healthy connection).
    let mut seen = progress.map(Progress::moved);
    loop {
        tokio::select! {
            done = write.as_mut() => return done,
            () = tokio::time::sleep_until(later(Instant::now(), limit)) => {
                let now = progress.map(Progress::moved);
                if now.is_none() || now == seen {
                    return Err(Error::transport(KeepAliveTimeout(limit)));
                }
                seen = now;
            }
        }
    }
}

/// `at + wait`, where a `wait` too long to add (`Duration::MAX`, meaning never) is a
/// century: `Instant + Duration` panics on overflow.
fn later(at: Instant, wait: Duration) -> Instant {
    at.checked_add(wait)
        .unwrap_or_else(|| at + Duration::from_secs(100 * 365 * 24 * 3600))
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

/// The peer closed the connection with a code other than 1000 (normal) or 1001
/// (going away): the [`Error::Transport`] cause of [`Channel::recv`]'s error then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
        match error {
            Error::Transport(cause) => cause.downcast_ref(),
            _ => None,
        }
    }
}

/// The peer did not answer a keepalive ping.
#[derive(Debug, thiserror::Error)]
#[error("no answer to a keepalive ping within {0:?}")]
struct KeepAliveTimeout(Duration);

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::DuplexStream;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::Role;

    type MemoryChannel = WebSocketChannel<WebSocketStream<Tracked<DuplexStream>>, Message>;

    /// A channel over an in-memory socket (tracked, as the server's and the client's
    /// are), and the raw WebSocket of its peer.
    async fn pair(
        keepalive: Option<KeepAlive>,
        buffer: usize,
    ) -> (MemoryChannel, WebSocketStream<DuplexStream>) {
        let (ours, theirs) = tokio::io::duplex(buffer);
        let progress = Progress::new();
        let ours = Tracked::new(ours, progress.clone());
        let ours = WebSocketStream::from_raw_socket(ours, Role::Server, None).await;
        let theirs = WebSocketStream::from_raw_socket(theirs, Role::Client, None).await;
        let channel = WebSocketChannel::new("test", ours, keepalive).with_progress(progress);
        (channel, theirs)
    }

    const SECOND: Duration = Duration::from_secs(1);

    /// The room's writer holding the socket when a ping is due must delay the ping,
    /// not skip it: a skipped ping made a silent but healthy peer look dead.
    #[tokio::test(start_paused = true)]
    async fn a_ping_due_while_the_writer_is_busy_is_sent_late_not_skipped() {
        let keepalive = KeepAlive {
            interval: SECOND,
            timeout: SECOND,
        };
        let (channel, mut peer) = pair(Some(keepalive), 64 * 1024).await;
        // The peer only reads (tungstenite answers pings while reading).
        let reading = tokio::spawn(async move { while let Some(Ok(_)) = peer.next().await {} });
        let channel = std::sync::Arc::new(channel);
        let busy_writer = channel.writer.lock().await;
        let receiving = tokio::spawn({
            let channel = channel.clone();
            async move { channel.recv().await.map(|r| r.map_err(|e| e.to_string())) }
        });
        // The ping falls due at 1 s, while the writer is held until 1.5 s.
        tokio::time::sleep(SECOND + SECOND / 2).await;
        drop(busy_writer);
        // Ten quiet intervals later the peer is still connected.
        tokio::time::sleep(10 * SECOND).await;
        assert!(!receiving.is_finished(), "{:?}", receiving.await);
        receiving.abort();
        reading.abort();
    }

    /// A peer that takes no data fails the send once the keepalive timeout is over,
    /// instead of blocking the sender for ever.
    #[tokio::test(start_paused = true)]
    async fn a_write_the_peer_never_takes_fails_after_the_timeout() {
        let keepalive = KeepAlive {
            interval: 10 * SECOND,
            timeout: SECOND,
        };
        // A tiny pipe the peer never reads: the first big frame fills it.
        let (channel, _peer) = pair(Some(keepalive), 1024).await;
        let frame = Bytes::from(vec![7u8; 64 * 1024]);
        let started = Instant::now();
        let sent = channel.send_batch(vec![frame.clone(), frame]).await;
        assert!(sent.is_err());
        assert!(started.elapsed() >= SECOND);
        let single = channel.send(Bytes::from(vec![1u8; 64 * 1024])).await;
        assert!(single.is_err());
    }

    /// A peer on a slow link takes a frame far longer to receive than the timeout,
    /// but keeps taking bytes: the write goes on, it is not given up.
    #[tokio::test(start_paused = true)]
    async fn a_slow_but_steady_peer_gets_a_frame_longer_than_the_timeout() {
        let keepalive = KeepAlive {
            interval: 100 * SECOND,
            timeout: SECOND,
        };
        let (channel, peer) = pair(Some(keepalive), 1024).await;
        let mut raw = peer.into_inner();
        // 512 bytes every 100 ms: 64 KiB take about 13 s.
        let reading = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 512];
            let mut total = 0;
            while total < 64 * 1024 {
                tokio::time::sleep(SECOND / 10).await;
                match raw.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
            total
        });
        let started = Instant::now();
        channel
            .send(Bytes::from(vec![7u8; 64 * 1024]))
            .await
            .unwrap();
        assert!(started.elapsed() > 10 * SECOND);
        assert!(reading.await.unwrap() >= 64 * 1024 - 1024);
    }

    /// A large frame arriving slowly (for far longer than the keepalive's interval
    /// and timeout) from a peer that, busy sending, answers no ping: the bytes moving
    /// in are its sign of life, and the frame is received whole.
    #[tokio::test(start_paused = true)]
    async fn a_large_frame_arriving_slowly_keeps_its_sender_alive() {
        let keepalive = KeepAlive {
            interval: SECOND,
            timeout: SECOND,
        };
        let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
        let progress = Progress::new();
        // Our end as the client, so that the peer's frame is unmasked and can be
        // written by hand: 60 000 bytes in 1 000-byte pieces, one a second.
        let ours = Tracked::new(ours, progress.clone());
        let ours = WebSocketStream::from_raw_socket(ours, Role::Client, None).await;
        let channel = WebSocketChannel::new("test", ours, Some(keepalive)).with_progress(progress);
        let sending = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            theirs.write_all(&[0x82, 126, 0xea, 0x60]).await.unwrap();
            for _ in 0..60 {
                tokio::time::sleep(SECOND).await;
                theirs.write_all(&[9u8; 1000]).await.unwrap();
            }
            theirs
        });
        let frame = channel.recv().await.unwrap().unwrap();
        assert_eq!(frame.len(), 60_000);
        drop(sending.await.unwrap());
    }

    /// Several queued frames go out with one flush, so a burst to a peer is one
    /// write: the peer reads them all from what a single flush delivered.
    #[tokio::test]
    async fn a_batch_is_flushed_once() {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let counted = FlushCounter {
            inner: WebSocketStream::from_raw_socket(ours, Role::Server, None).await,
            flushes: std::sync::Arc::default(),
        };
        let flushes = counted.flushes.clone();
        let channel = WebSocketChannel::new("test", counted, None);
        let frames: Vec<Bytes> = (0..10u8).map(|n| Bytes::from(vec![n; 10])).collect();
        channel.send_batch(frames).await.unwrap();
        assert_eq!(flushes.load(Ordering::SeqCst), 1);
        let mut theirs = WebSocketStream::from_raw_socket(theirs, Role::Client, None).await;
        for n in 0..10u8 {
            let message = theirs.next().await.unwrap().unwrap();
            assert_eq!(message, Message::Binary(Bytes::from(vec![n; 10])));
        }
    }

    /// A socket that counts its flushes.
    struct FlushCounter {
        inner: WebSocketStream<DuplexStream>,
        flushes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Stream for FlushCounter {
        type Item = std::result::Result<Message, tokio_tungstenite::tungstenite::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            self.inner.poll_next_unpin(cx)
        }
    }

    impl Sink<Message> for FlushCounter {
        type Error = tokio_tungstenite::tungstenite::Error;
        fn poll_ready(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::result::Result<(), Self::Error>> {
            self.inner.poll_ready_unpin(cx)
        }
        fn start_send(
            mut self: std::pin::Pin<&mut Self>,
            item: Message,
        ) -> std::result::Result<(), Self::Error> {
            self.inner.start_send_unpin(item)
        }
        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::result::Result<(), Self::Error>> {
            let flushed = self.inner.poll_flush_unpin(cx);
            if flushed.is_ready() {
                self.flushes.fetch_add(1, Ordering::SeqCst);
            }
            flushed
        }
        fn poll_close(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::result::Result<(), Self::Error>> {
            self.inner.poll_close_unpin(cx)
        }
    }

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
