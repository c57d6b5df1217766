//! [`Tracked`]: a socket that notes when the peer last took bytes, so that a write
//! can be given up on when the peer stops taking data, not merely when it is slow.
//!
//! A deadline on a whole write would drop a healthy peer on a slow link in the middle
//! of a large frame (a 20 MB first sync at 4 Mbit/s takes 40 s); no deadline at all
//! would leave a sender blocked for ever on a peer that stopped reading. The channel
//! therefore bounds the time *without progress*: each byte the socket takes moves the
//! deadline on.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// When a socket last took bytes, shared by the [`Tracked`] socket (which writes it)
/// and its channel (which reads it).
#[derive(Debug)]
pub struct WriteProgress {
    base: Instant,
    /// Milliseconds from `base` to the last write that took bytes.
    last_ms: AtomicU64,
}

impl WriteProgress {
    /// A tracker that counts from now.
    pub fn new() -> Arc<Self> {
        Arc::new(WriteProgress {
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// When the socket last took bytes (or when tracking began).
    pub fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A socket that records each successful write in its [`WriteProgress`]. Reads,
/// flushes and shutdown pass straight through.
#[derive(Debug)]
pub struct Tracked<T> {
    inner: T,
    progress: Arc<WriteProgress>,
}

impl<T> Tracked<T> {
    /// Wraps `inner`; `progress` is what the channel over it reads.
    pub fn new(inner: T, progress: Arc<WriteProgress>) -> Self {
        Tracked { inner, progress }
    }

    fn note(&self, written: &Poll<io::Result<usize>>) {
        if matches!(written, Poll::Ready(Ok(n)) if *n > 0) {
            self.progress.touch();
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
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

    #[tokio::test(start_paused = true)]
    async fn each_write_that_takes_bytes_moves_the_mark() {
        let progress = WriteProgress::new();
        let start = progress.last();
        let (ours, mut theirs) = tokio::io::duplex(64);
        let mut tracked = Tracked::new(ours, progress.clone());
        tokio::time::sleep(Duration::from_secs(5)).await;
        tracked.write_all(b"hello").await.unwrap();
        assert_eq!(progress.last() - start, Duration::from_secs(5));
        let mut buf = [0u8; 5];
        theirs.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        // Reads do not count: only what the peer takes.
        tokio::time::sleep(Duration::from_secs(5)).await;
        theirs.write_all(b"x").await.unwrap();
        tracked.read_exact(&mut buf[..1]).await.unwrap();
        assert_eq!(progress.last() - start, Duration::from_secs(5));
    }
}
