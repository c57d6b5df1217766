//! An in-process channel pair: the in-memory wire and the test double of every
//! transport.

use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::{Channel, CloseReason};
use crate::error::{Error, Result};
use crate::lock::lock_unpoisoned;

enum Item {
    Frame(Bytes),
    Close(CloseReason),
}

/// One end of an in-memory channel pair (see [`MemoryChannel::pair`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use wiredb::{Channel, MemoryChannel};
///
/// let (a, b) = MemoryChannel::pair("a", "b");
/// a.send(bytes::Bytes::from_static(b"hi")).await.unwrap();
/// assert_eq!(b.recv().await.unwrap().unwrap().as_ref(), b"hi");
/// # }
/// ```
pub struct MemoryChannel {
    id: String,
    outgoing: mpsc::Sender<Item>,
    incoming: tokio::sync::Mutex<mpsc::Receiver<Item>>,
    peer_close_reason: Mutex<Option<CloseReason>>,
}

impl MemoryChannel {
    /// Frames that may wait in one direction before `send` waits for the reader.
    pub const DEFAULT_CAPACITY: usize = 64;

    /// Two connected channels named `a_id` and `b_id`: what one sends, the other
    /// receives.
    pub fn pair(a_id: impl Into<String>, b_id: impl Into<String>) -> (Self, Self) {
        Self::pair_with_capacity(a_id, b_id, Self::DEFAULT_CAPACITY)
    }

    /// Like [`MemoryChannel::pair`], with `capacity` frames buffered in each direction.
    pub fn pair_with_capacity(
        a_id: impl Into<String>,
        b_id: impl Into<String>,
        capacity: usize,
    ) -> (Self, Self) {
        let (a_tx, b_rx) = mpsc::channel(capacity.max(1));
        let (b_tx, a_rx) = mpsc::channel(capacity.max(1));
        let end = |id: String, outgoing, incoming| MemoryChannel {
            id,
            outgoing,
            incoming: tokio::sync::Mutex::new(incoming),
            peer_close_reason: Mutex::new(None),
        };
        (end(a_id.into(), a_tx, a_rx), end(b_id.into(), b_tx, b_rx))
    }

    /// The reason the other end gave when it closed, once it has.
    pub fn peer_close_reason(&self) -> Option<CloseReason> {
        lock_unpoisoned(&self.peer_close_reason).clone()
    }
}

impl Channel for MemoryChannel {
    fn id(&self) -> &str {
        &self.id
    }

    async fn send(&self, frame: Bytes) -> Result<()> {
        self.outgoing
            .send(Item::Frame(frame))
            .await
            .map_err(|_| Error::ChannelClosed)
    }

    async fn recv(&self) -> Option<Result<Bytes>> {
        // Both the lock and `mpsc::Receiver::recv` are cancel-safe.
        let mut incoming = self.incoming.lock().await;
        match incoming.recv().await? {
            Item::Frame(frame) => Some(Ok(frame)),
            Item::Close(reason) => {
                *lock_unpoisoned(&self.peer_close_reason) = Some(reason);
                incoming.close();
                None
            }
        }
    }

    async fn close(&self, reason: CloseReason) -> Result<()> {
        // The peer may already be gone; closing is then a no-op.
        let _ = self.outgoing.try_send(Item::Close(reason));
        Ok(())
    }
}
