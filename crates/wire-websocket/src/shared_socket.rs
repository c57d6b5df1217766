//! [`SharedSocket`]: a server's socket, written both by tungstenite and by the
//! channel's own framing of binary frames.
//!
//! A server's binary frames are unmasked, so framing them is a header and a copy: the
//! channel does it itself, a batch of frames into one buffer and one write, instead of
//! handing each frame to tungstenite (a `Message`, a sink poll and a lock per frame;
//! 5–10 % of the server's CPU in docs/performance.md's loads). tungstenite still
//! reads the socket and writes what it must (pongs while reading, pings, the close),
//! on the same socket, from other tasks. Two rules keep both on one byte stream:
//!
//! - every write is taken whole: what the socket does not take at once waits in this
//!   socket's own buffer, in order, so no write can ever be cut by another;
//! - every task that waits for the socket to drain is woken when it can write: tokio
//!   keeps one waker per direction of a socket, so the socket is polled with a waker
//!   of this socket's own that wakes them all.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use wiredb::SendNow;

use crate::channel::FrameWriter;

/// Bytes tungstenite may leave waiting before its writes are refused (back-pressure
/// for it; its writes are small control frames, the raw writer waits for each of
/// its own writes to drain).
const MAX_WAITING: usize = 1 << 20;

/// One socket, shared by tungstenite (through `AsyncRead`/`AsyncWrite`) and the
/// channel's writer (through [`SharedSocket::frame_writer`]).
pub(crate) struct SharedSocket<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for SharedSocket<T> {
    fn clone(&self) -> Self {
        SharedSocket {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<T> {
    state: Mutex<State<T>>,
    writers: Arc<Writers>,
    /// Wakes every task in `writers`: the waker the socket is written with.
    wake_writers: Waker,
}

struct State<T> {
    io: T,
    /// Bytes taken and not yet written to the socket, in order.
    waiting: Vec<u8>,
    /// Set once the close is on its way: frames written at once would follow it.
    refusing: bool,
}

/// The tasks waiting for the socket to take bytes.
#[derive(Default)]
struct Writers {
    waiting: Mutex<Vec<Waker>>,
}

impl Writers {
    fn register(&self, waker: &Waker) {
        let mut waiting = wiredb::lock_unpoisoned(&self.waiting);
        if !waiting.iter().any(|w| w.will_wake(waker)) {
            waiting.push(waker.clone());
        }
    }
}

impl Wake for Writers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waiting = std::mem::take(&mut *wiredb::lock_unpoisoned(&self.waiting));
        for waker in waiting {
            waker.wake();
        }
    }
}

impl<T> SharedSocket<T> {
    pub(crate) fn new(io: T) -> Self {
        let writers = Arc::new(Writers::default());
        SharedSocket {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    io,
                    waiting: Vec::new(),
                    refusing: false,
                }),
                wake_writers: Waker::from(writers.clone()),
                writers,
            }),
        }
    }
}

impl<T: AsyncWrite + Unpin + Send + 'static> SharedSocket<T> {
    /// The channel's handle on this socket, for the frames it frames itself: the
    /// shared part itself, so that a write reaches the socket through one pointer.
    pub(crate) fn frame_writer(&self) -> Arc<dyn FrameWriter> {
        self.shared.clone()
    }
}

impl<T> Shared<T> {
    fn state(&self) -> MutexGuard<'_, State<T>> {
        wiredb::lock_unpoisoned(&self.state)
    }
}

impl<T: AsyncWrite + Unpin> Shared<T> {
    /// [`FrameWriter::try_write_frames`] for frames of `len` bytes framed, at most `N`.
    fn write_on_stack<const N: usize>(
        state: &mut State<T>,
        wake_writers: &Waker,
        frames: &[bytes::Bytes],
        len: usize,
    ) -> SendNow {
        let mut framed = [0u8; N];
        let mut at = 0;
        for frame in frames {
            let (header, header_len) = binary_frame_header(frame.len());
            framed[at..at + header_len].copy_from_slice(&header[..header_len]);
            at += header_len;
            framed[at..at + frame.len()].copy_from_slice(frame);
            at += frame.len();
        }
        let mut socket_cx = Context::from_waker(wake_writers);
        match Pin::new(&mut state.io).poll_write(&mut socket_cx, &framed[..len]) {
            Poll::Ready(Ok(n)) if n == len => SendNow::Sent,
            Poll::Ready(Ok(n)) => {
                state.waiting.extend_from_slice(&framed[n..len]);
                SendNow::Started
            }
            // Nothing written: the writer sends them, and meets the error then.
            Poll::Ready(Err(_)) | Poll::Pending => SendNow::NotNow,
        }
    }

    fn drain(&self, state: &mut State<T>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Registered before the socket is polled: a wake-up between its `Pending`
        // and the registration would be lost.
        self.writers.register(cx.waker());
        let mut socket_cx = Context::from_waker(&self.wake_writers);
        Self::write_waiting(state, &mut socket_cx)
    }

    /// Writes what is waiting as far as the socket takes it, polled with
    /// `socket_cx`, and gives the buffer back once it is empty.
    fn write_waiting(state: &mut State<T>, socket_cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let State { io, waiting, .. } = state;
        let mut written = 0;
        let result = loop {
            if written == waiting.len() {
                break Pin::new(&mut *io).poll_flush(socket_cx);
            }
            match Pin::new(&mut *io).poll_write(socket_cx, &waiting[written..]) {
                Poll::Ready(Ok(0)) => break Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(error)) => break Poll::Ready(Err(error)),
                Poll::Pending => break Poll::Pending,
            }
        };
        waiting.drain(..written);
        // A drained buffer is given back: most connections are idle most of the
        // time, and a busy one allocates once per write, far less than the write.
        if waiting.is_empty() {
            *waiting = Vec::new();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin + Send> FrameWriter for Shared<T> {
    /// Takes `frames` as unmasked binary WebSocket frames (a server's), behind
    /// whatever is waiting; [`FrameWriter::poll_drain`] then writes them.
    fn write_frames(&self, frames: &[bytes::Bytes]) {
        encode_frames(&mut self.state().waiting, frames);
    }

    /// Frames `frames` and writes them at once, in one write, if nothing is waiting
    /// before them and the close is not on its way (else [`SendNow::NotNow`]). No
    /// task waits: if the socket takes only part, the rest waits for
    /// [`FrameWriter::poll_drain`] ([`SendNow::Started`]).
    fn try_write_frames(&self, frames: &[bytes::Bytes]) -> SendNow {
        let mut state = self.state();
        if !state.waiting.is_empty() || state.refusing {
            return SendNow::NotNow;
        }
        let len: usize = frames.iter().map(|frame| framed_len(frame.len())).sum();
        // The common cases (an edit, an awareness change; a busy room's tick of a few
        // of them) are framed on the stack, so a connection's buffer stays
        // unallocated; in two sizes, so that one edit does not zero 2 KiB.
        let wake = &self.wake_writers;
        if len <= STACK_WRITE {
            return if len <= SMALL_WRITE {
                Self::write_on_stack::<SMALL_WRITE>(&mut state, wake, frames, len)
            } else {
                Self::write_on_stack::<STACK_WRITE>(&mut state, wake, frames, len)
            };
        }
        encode_frames(&mut state.waiting, frames);
        let mut socket_cx = Context::from_waker(&self.wake_writers);
        match Self::write_waiting(&mut state, &mut socket_cx) {
            Poll::Ready(Ok(())) => SendNow::Sent,
            // Nothing written: not taken, so that the frames stay in the peer's
            // queue (and its budget) and the writer sends them.
            Poll::Ready(Err(_)) | Poll::Pending if state.waiting.len() == len => {
                state.waiting = Vec::new();
                SendNow::NotNow
            }
            // Partly written: the rest is taken, in order, and the writer's drain
            // writes it (or meets the error).
            Poll::Ready(Err(_)) | Poll::Pending => SendNow::Started,
        }
    }

    /// Writes what is waiting; ready once the socket has taken all of it.
    fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.state();
        self.drain(&mut state, cx)
    }

    fn refuse_frames(&self) {
        self.state().refusing = true;
    }
}

/// Writes of at most this many bytes, headers included, are framed on the stack by
/// [`SharedSocket::try_write_frames`] (one edit)...
const SMALL_WRITE: usize = 256;
/// ... and of at most this many, in a larger buffer (a busy room's tick).
const STACK_WRITE: usize = 2048;

/// The bytes of a frame of `len` bytes of payload, header included.
fn framed_len(len: usize) -> usize {
    binary_frame_header(len).1 + len
}

/// The header of a final, unmasked binary frame of `len` bytes (RFC 6455 §5.2): its
/// bytes, and how many of them are used.
fn binary_frame_header(len: usize) -> ([u8; 10], usize) {
    const FIN_BINARY: u8 = 0x82;
    let mut header = [0u8; 10];
    header[0] = FIN_BINARY;
    let used = match len {
        0..=125 => {
            header[1] = len as u8;
            2
        }
        126..=0xFFFF => {
            header[1] = 126;
            header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            4
        }
        _ => {
            header[1] = 127;
            header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        }
    };
    (header, used)
}

/// Each of `frames` as an unmasked binary frame, after what `out` holds.
fn encode_frames(out: &mut Vec<u8>, frames: &[bytes::Bytes]) {
    out.reserve(frames.iter().map(|frame| framed_len(frame.len())).sum());
    for frame in frames {
        encode_binary_frame(out, frame);
    }
}

/// An unmasked binary frame, final, of `payload`.
fn encode_binary_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let (header, used) = binary_frame_header(payload.len());
    out.extend_from_slice(&header[..used]);
    out.extend_from_slice(payload);
}

impl<T: AsyncRead + Unpin> AsyncRead for SharedSocket<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // One reader (the channel's): the socket's read waker is its own.
        Pin::new(&mut self.shared.state().io).poll_read(cx, buf)
    }
}

/// tungstenite's writes: taken whole, behind the raw writer's, and written as far
/// as the socket takes them.
impl<T: AsyncWrite + Unpin> AsyncWrite for SharedSocket<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut state = self.shared.state();
        if state.waiting.len() >= MAX_WAITING {
            // Nothing taken, so nothing cut: tungstenite keeps it and tries again.
            return match self.shared.drain(&mut state, cx) {
                Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
                Poll::Ready(Ok(())) => {
                    state.waiting.extend_from_slice(buf);
                    Poll::Ready(Ok(buf.len()))
                }
                Poll::Pending => Poll::Pending,
            };
        }
        state.waiting.extend_from_slice(buf);
        if let Poll::Ready(Err(error)) = self.shared.drain(&mut state, cx) {
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.shared.state();
        self.shared.drain(&mut state, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.shared.state();
        match self.shared.drain(&mut state, cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        let mut socket_cx = Context::from_waker(&self.shared.wake_writers);
        Pin::new(&mut state.io).poll_shutdown(&mut socket_cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_framed_as_rfc_6455_says() {
        let mut out = Vec::new();
        encode_binary_frame(&mut out, b"abc");
        assert_eq!(out, [0x82, 3, b'a', b'b', b'c']);
        out.clear();
        encode_binary_frame(&mut out, &[7; 300]);
        assert_eq!(&out[..4], &[0x82, 126, 1, 44]);
        assert_eq!(out.len(), 4 + 300);
        out.clear();
        encode_binary_frame(&mut out, &[7; 70_000]);
        assert_eq!(&out[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(out.len(), 10 + 70_000);
    }

    /// Once the close is on its way, frames are no longer written at once, though
    /// the socket has room: they would follow it.
    #[tokio::test]
    async fn frames_are_refused_once_the_close_is_on_its_way() {
        let (ours, _theirs) = tokio::io::duplex(1024);
        let writer = SharedSocket::new(ours).frame_writer();
        let frame = [bytes::Bytes::from_static(b"edit")];
        assert_eq!(writer.try_write_frames(&frame), SendNow::Sent);
        writer.refuse_frames();
        assert_eq!(writer.try_write_frames(&frame), SendNow::NotNow);
    }
}
