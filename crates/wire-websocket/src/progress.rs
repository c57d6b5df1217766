//! [`Tracked`]: a socket that counts the bytes it moves each way, so that a
//! connection is given up on when nothing moves any more, not merely when it is slow.
//!
//! A deadline on a whole write would drop a healthy peer on a slow link in the middle
//! of a large frame (a 20 MB first sync at 4 Mbit/s takes 40 s); a keepalive that
//! counts only whole messages would drop the sender of such a frame (its pong queues
//! behind it); no deadline at all would leave a sender blocked for ever on a peer that
//! stopped reading. The channel therefore bounds the time *without progress*: bytes
//! going out, or coming in (a peer busy sending a big frame reads nothing meanwhile,
//! and is alive).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[cfg(feature = "server")]
use crate::metrics::SocketMetrics;

/// How many bytes a socket has moved, shared by the [`Tracked`] socket (which counts
/// them) and its channel (which watches the counts while a write or the keepalive
/// waits).
///
/// Counts rather than times: one relaxed atomic add per read or write, and the clock
/// is read only on the slow paths, by a write that has been waiting or a keepalive
/// deadline.
pub(crate) struct Progress {
    written: AtomicU64,
    read: AtomicU64,
    /// The server's byte counters (no-ops for a client's socket).
    sent: metrics::Counter,
    received: metrics::Counter,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("written", &self.written)
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

impl Progress {
    /// A new tracker, at zero.
    #[cfg(any(feature = "client", test))]
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Progress {
            written: AtomicU64::new(0),
            read: AtomicU64::new(0),
            sent: metrics::Counter::noop(),
            received: metrics::Counter::noop(),
        })
    }

    /// A new tracker whose bytes also go to `metrics` (the server's sockets).
    #[cfg(feature = "server")]
    pub(crate) fn counted(metrics: &SocketMetrics) -> Arc<Self> {
        Arc::new(Progress {
            written: AtomicU64::new(0),
            read: AtomicU64::new(0),
            sent: metrics.bytes_sent.clone(),
            received: metrics.bytes_received.clone(),
        })
    }

    /// Bytes the socket has taken so far.
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Bytes read from the socket so far.
    pub(crate) fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Bytes moved either way: what changes while the connection is alive.
    pub(crate) fn moved(&self) -> u64 {
        self.written().wrapping_add(self.read())
    }
}

/// A socket that counts in its [`Progress`] the bytes each read and write moves.
/// Flushes and shutdown pass straight through.
#[derive(Debug)]
pub(crate) struct Tracked<T> {
    inner: T,
    progress: Arc<Progress>,
}

impl<T> Tracked<T> {
    /// Wraps `inner`; `progress` is what the channel over it reads.
    pub(crate) fn new(inner: T, progress: Arc<Progress>) -> Self {
        Tracked { inner, progress }
    }

    fn note(&self, written: &Poll<io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = written {
            self.progress
                .written
                .fetch_add(*n as u64, Ordering::Relaxed);
            self.progress.sent.increment(*n as u64);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        if n > 0 {
            self.progress.read.fetch_add(n as u64, Ordering::Relaxed);
            self.progress.received.increment(n as u64);
        }
        read
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_are_counted_each_way() {
        let progress = Progress::new();
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut tracked = Tracked::new(ours, progress.clone());
        tracked.write_all(b"hello").await.unwrap();
        assert_eq!((progress.written(), progress.read()), (5, 0));
        let mut buf = [0u8; 5];
        theirs.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        theirs.write_all(b"xy").await.unwrap();
        tracked.read_exact(&mut buf[..2]).await.unwrap();
        assert_eq!((progress.written(), progress.read()), (5, 2));
        assert_eq!(progress.moved(), 7);
    }
}
