//! The set of peers of a room and the fan-out of frames to them.
//!
//! Fan-out runs inside yrs observers, synchronously, while the transaction that made
//! the change commits, so it must never wait: each peer has a bounded queue, a frame
//! is offered without waiting (written at once, or queued), and a peer whose queue
//! is full is disconnected (its `kick` token is cancelled) instead of being allowed
//! to grow memory.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use yrs::Origin;

use super::pace::Pace;
use super::queue::{PeerQueue, PushError};
use crate::channel::{Channel, SendNow};

/// A channel's [`Channel::try_send_now`] as a trait object: the peer set holds
/// peers of any channel type. The peer's own `Arc` of its channel, so no extra
/// allocation per peer.
pub(crate) trait SendsNow: Send + Sync {
    fn try_send_now(&self, frame: &Bytes) -> SendNow;
}

impl<C: Channel> SendsNow for C {
    fn try_send_now(&self, frame: &Bytes) -> SendNow {
        Channel::try_send_now(self, frame)
    }
}

/// How a room reaches one peer.
pub(crate) struct PeerSlot {
    pub(crate) queue: Arc<PeerQueue>,
    pub(crate) kick: CancellationToken,
    pub(crate) channel: Arc<dyn SendsNow>,
}

/// The peers of a room, keyed by the origin their transactions carry, and how busy
/// their fan-out is.
pub(crate) struct Peers {
    slots: Mutex<HashMap<Origin, PeerSlot>>,
    pace: Arc<Pace>,
}

impl Peers {
    /// A room's peers, busy above `busy_rate` broadcasts a second (0: never).
    pub(crate) fn new(busy_rate: u32) -> Self {
        Peers {
            slots: Mutex::default(),
            pace: Arc::new(Pace::new(busy_rate)),
        }
    }

    /// How busy the fan-out is, for the writers to read.
    pub(crate) fn pace(&self) -> Arc<Pace> {
        self.pace.clone()
    }

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

    /// Queues `frame` for every peer except the one whose origin is `skip`. The frame
    /// is encoded once by the caller; each queue gets a reference-counted clone.
    pub(crate) fn broadcast(&self, frame: &Bytes, skip: Option<&Origin>) {
        let Ok(mut slots) = self.slots.lock() else {
            return;
        };
        self.pace.record(std::time::Instant::now());
        // A busy room's writers linger to gather frames into one write; a quiet
        // one's frames go out from here when the peer's socket has room, with no
        // writer task woken.
        let at_once = !self.pace.is_busy();
        slots.retain(|origin, slot| {
            if Some(origin) == skip {
                return true;
            }
            let offered = if at_once {
                slot.queue.offer(frame, &*slot.channel)
            } else {
                slot.queue.try_push(frame.clone())
            };
            match offered {
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
