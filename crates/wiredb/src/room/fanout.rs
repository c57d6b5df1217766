//! The set of peers of a room and the fan-out of frames to them.
//!
//! Fan-out runs inside yrs observers, synchronously, while the transaction that made
//! the change commits, so it must never wait: a peer with nothing waiting whose
//! socket has room is written to at once (one `write`, no task woken); otherwise the
//! frame goes to the peer's bounded queue, for its writer task, and a peer whose
//! queue is full is disconnected (its `kick` token is cancelled) instead of being
//! allowed to grow memory.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use yrs::Origin;

use super::queue::{PeerQueue, PushError, SendDirect};

/// How a room reaches one peer.
pub(crate) struct PeerSlot {
    pub(crate) queue: Arc<PeerQueue>,
    pub(crate) kick: CancellationToken,
    /// The peer's channel, for frames that can go out at once ([`PeerQueue::offer`]).
    pub(crate) direct: Arc<dyn SendDirect>,
}

/// The peers of a room, keyed by the origin their transactions carry.
#[derive(Default)]
pub(crate) struct Peers {
    slots: Mutex<HashMap<Origin, PeerSlot>>,
}

impl Peers {
    pub(crate) fn insert(&self, origin: Origin, slot: PeerSlot) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.insert(origin, slot);
        }
    }

    pub(crate) fn remove(&self, origin: &Origin) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.remove(origin);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.lock().map(|slots| slots.len()).unwrap_or(0)
    }

    /// Sends `frame` to every peer except the one whose origin is `skip`: at once to
    /// a peer with nothing waiting whose channel takes it, else through its queue.
    /// The frame is encoded once by the caller; each peer gets a reference-counted
    /// clone.
    pub(crate) fn broadcast(&self, frame: &Bytes, skip: Option<&Origin>) {
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        slots.retain(|origin, slot| {
            if Some(origin) == skip {
                return true;
            }
            match slot.queue.offer(frame.clone(), &*slot.direct) {
                Ok(()) => true,
                Err(PushError::Full) => {
                    slot.kick.cancel();
                    false
                }
                Err(PushError::Closed) => false,
            }
        });
    }
}
