//! [`FrameWriter`]: what the channel needs of a socket it frames binary frames into
//! itself (a server's `SharedSocket`), without the socket's type parameter. A trait
//! of its own so that a client-only build, which never frames (its frames are
//! masked by tungstenite), carries none of the server's socket code.

use std::io;
use std::task::{Context, Poll};

use bytes::Bytes;
use wiredb::SendNow;

pub(crate) trait FrameWriter: Send + Sync {
    /// Frames each of `frames` as a final, unmasked binary frame and takes them all,
    /// whole and in order, before any later write to the socket.
    fn write_frames(&self, frames: &[Bytes]);
    /// Frames `frames` and writes them now, in one write, if nothing is waiting
    /// before them, without waiting: what the socket does not take waits for
    /// [`FrameWriter::poll_drain`].
    fn try_write_frames(&self, frames: &[Bytes]) -> SendNow;
    /// Ready once everything taken so far has reached the socket.
    fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Refuses [`FrameWriter::try_write_frames`] from now on: the close is about to
    /// be written, and no frame may follow it. Decided under the socket's own lock,
    /// so that a frame written at once is either wholly before the close or not
    /// written, without the channel's writer lock on every such write.
    fn refuse_frames(&self);
}
