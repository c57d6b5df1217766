//! The set of peers of a room and the fan-out of frames to them.
//!
//! Fan-out runs inside yrs observers, synchronously, while the transaction that made
//! the change commits, so it must never wait: each peer has a bounded queue, a frame
//! is offered without waiting (written at once, or queued), and a peer whose queue
//! is full is disconnected (its `kick` token is cancelled) instead of being allowed
//! to grow memory.
//!
//! A quiet room's frames go out from the fan-out itself. A busy room's gather for a
//! moment: they are deferred in each peer's queue, and the room's flush task
//! ([`Peers::flush_deferred`]) writes what gathered for each peer in one call, so a
//! tick of ten writers' updates costs each peer one write, and no task is woken per
//! peer.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use yrs::Origin;

use tokio::sync::Notify;

use super::pace::Pace;
use super::queue::{Deferred, PeerQueue, PushError};
use crate::channel::{Channel, SendNow};

/// A channel's [`Channel::try_send_now`] as a trait object: the peer set holds
/// peers of any channel type. The peer's own `Arc` of its channel, so no extra
/// allocation per peer.
pub(crate) trait SendsNow: Send + Sync {
    fn try_send_now(&self, frames: &[Bytes]) -> SendNow;
}

impl<C: Channel> SendsNow for C {
    fn try_send_now(&self, frames: &[Bytes]) -> SendNow {
        Channel::try_send_now(self, frames)
    }
}

/// How a room reaches one peer: shared by the peer set, the peer's writer task and
/// its registration. The queue is inline, so that the fan-out reaches a peer's
/// queue without one more pointer to follow (a cache miss per peer per update, as
/// the peers' memory is cold between updates).
pub(crate) struct PeerSlot {
    pub(crate) queue: PeerQueue,
    pub(crate) kick: CancellationToken,
    pub(crate) channel: Arc<dyn SendsNow>,
}

/// The peers of a room, keyed by the origin their transactions carry, how busy
/// their fan-out is, and which of them hold frames for the room's flush.
pub(crate) struct Peers {
    slots: Mutex<HashMap<Origin, Arc<PeerSlot>>>,
    pace: Pace,
    /// Peers whose queues hold deferred frames, for the next flush.
    due: Mutex<Vec<Arc<PeerSlot>>>,
    /// Told when `due` stops being empty.
    flush_wanted: Notify,
}

impl Peers {
    /// A room's peers, busy above `busy_rate` broadcasts a second (0: never).
    pub(crate) fn new(busy_rate: u32) -> Self {
        Peers {
            slots: Mutex::default(),
            pace: Pace::new(busy_rate),
            due: Mutex::default(),
            flush_wanted: Notify::new(),
        }
    }

    pub(crate) fn insert(&self, origin: Origin, slot: Arc<PeerSlot>) {
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
        // A quiet room's frames go out from here when the peer's socket has room,
        // with no writer task woken; a busy room's wait for its flush.
        let busy = self.pace.is_busy();
        // The author is found once and then told apart by address: comparing its
        // origin with every key reads each peer's origin bytes, one cache miss per
        // peer per update (3 % of a quiet room's fan-out in docs/performance.md).
        let author = skip.and_then(|origin| slots.get(origin)).map(Arc::as_ptr);
        let mut due = Vec::new();
        outside_budget(|| {
            slots.retain(|_, slot| {
                if Some(Arc::as_ptr(slot)) == author {
                    return true;
                }
                let offered = if busy {
                    slot.queue.defer(frame.clone()).map(|deferred| {
                        if deferred == Deferred::FlushDue {
                            due.push(slot.clone());
                        }
                    })
                } else {
                    slot.queue.offer(frame, &*slot.channel)
                };
                match offered {
                    Ok(()) => true,
                    Err(PushError::Full) => {
                        slot.kick.cancel();
                        false
                    }
                    Err(PushError::Closed) => false,
                }
            })
        });
        drop(slots);
        if !due.is_empty() {
            let mut waiting = crate::lock_unpoisoned(&self.due);
            let first = waiting.is_empty();
            waiting.append(&mut due);
            drop(waiting);
            if first {
                // A stored permit if the flush task is busy: it runs once more.
                self.flush_wanted.notify_one();
            }
        }
    }

    /// Waits until some peer holds deferred frames.
    pub(crate) async fn flush_wanted(&self) {
        self.flush_wanted.notified().await;
    }

    /// Writes every peer's deferred frames, up to `max` per call to its channel
    /// (more wake its writer). `scratch` is the caller's, kept between flushes so
    /// that a busy room allocates no list per flush.
    pub(crate) fn flush_deferred(&self, scratch: &mut Vec<Arc<PeerSlot>>, max: usize) {
        std::mem::swap(scratch, &mut *crate::lock_unpoisoned(&self.due));
        outside_budget(|| {
            for slot in scratch.drain(..) {
                // A channel that panics costs its own peer (kicked), not the
                // flush of the others nor the room's flush task.
                let flush = || slot.queue.flush_deferred(&*slot.channel, max);
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(flush)).is_err() {
                    tracing::error!("a channel panicked in try_send_now: peer dropped");
                    slot.kick.cancel();
                }
            }
        });
    }
}

/// Runs `writes` outside tokio's cooperative budget. A task that has used up its
/// budget (128 operations a poll) sees every socket as busy: tokio's `poll_write`
/// answers `Pending` without writing. A fan-out to 200 peers in one call would hand
/// the last 72 of them to their writer tasks, for nothing (docs/performance.md).
/// The writes are bounded by the room's peers, so nothing starves.
fn outside_budget(writes: impl FnOnce()) {
    let mut writes = Some(writes);
    let once = std::pin::pin!(tokio::task::unconstrained(std::future::poll_fn(|_| {
        if let Some(writes) = writes.take() {
            writes();
        }
        Poll::Ready(())
    })));
    // Ready at its first poll: the waker is never used.
    let _ = once.poll(&mut Context::from_waker(Waker::noop()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A channel that takes every frame at once and counts the calls made while the
    /// task's budget had run out (when a socket would have answered `Pending`).
    #[derive(Default)]
    struct BudgetWatcher {
        calls: AtomicUsize,
        frames: AtomicUsize,
        out_of_budget: AtomicUsize,
    }

    impl SendsNow for BudgetWatcher {
        fn try_send_now(&self, frames: &[Bytes]) -> SendNow {
            self.calls.fetch_add(1, Ordering::Relaxed);
            self.frames.fetch_add(frames.len(), Ordering::Relaxed);
            if !tokio::task::coop::has_budget_remaining() {
                self.out_of_budget.fetch_add(1, Ordering::Relaxed);
            }
            SendNow::Sent
        }
    }

    /// Uses up the budget of the task polled with `cx`, as a task that has read and
    /// written much in one poll has.
    fn use_up_budget(cx: &mut Context<'_>) {
        while let Poll::Ready(restore) = tokio::task::coop::poll_proceed(cx) {
            restore.made_progress();
        }
        assert!(!tokio::task::coop::has_budget_remaining());
    }

    /// A fan-out (quiet room) and a flush (busy room) reach every peer's channel
    /// with budget left, however much the calling task had used.
    #[tokio::test]
    async fn writes_to_peers_are_not_cut_off_by_the_task_budget() {
        // Never busy; busy from the second broadcast in a 100 ms window on.
        for busy_rate in [0, 10] {
            let peers = Peers::new(busy_rate);
            let watcher = Arc::new(BudgetWatcher::default());
            for _ in 0..200 {
                let slot = PeerSlot {
                    queue: PeerQueue::new(16, 1 << 20),
                    kick: CancellationToken::new(),
                    channel: watcher.clone(),
                };
                peers.insert(crate::origin::unique_origin("peer"), Arc::new(slot));
            }
            std::future::poll_fn(|cx| {
                use_up_budget(cx);
                for _ in 0..3 {
                    peers.broadcast(&Bytes::from_static(b"update"), None);
                }
                peers.flush_deferred(&mut Vec::new(), 64);
                Poll::Ready(())
            })
            .await;
            // Busy: the first at once, the two after it gathered by the flush.
            let calls = watcher.calls.load(Ordering::Relaxed);
            let expected = if busy_rate == 0 { 600 } else { 400 };
            assert_eq!(calls, expected, "busy rate {busy_rate}");
            assert_eq!(watcher.frames.load(Ordering::Relaxed), 600);
            assert_eq!(watcher.out_of_budget.load(Ordering::Relaxed), 0);
        }
    }

    /// A channel that panics in the flush costs its own peer, not the others'.
    #[tokio::test]
    async fn a_channel_panicking_in_the_flush_drops_only_its_peer() {
        /// Takes the quiet fan-out's frame, and panics at the flush.
        #[derive(Default)]
        struct Panics(AtomicUsize);
        impl SendsNow for Panics {
            fn try_send_now(&self, _frames: &[Bytes]) -> SendNow {
                if self.0.fetch_add(1, Ordering::Relaxed) == 0 {
                    return SendNow::Sent;
                }
                panic!("a broken channel");
            }
        }
        let peers = Peers::new(10);
        let watcher = Arc::new(BudgetWatcher::default());
        let mut kicks = Vec::new();
        for i in 0..3 {
            let kick = CancellationToken::new();
            kicks.push(kick.clone());
            let channel: Arc<dyn SendsNow> = if i == 1 {
                Arc::new(Panics::default())
            } else {
                watcher.clone()
            };
            let slot = PeerSlot {
                queue: PeerQueue::new(16, 1 << 20),
                kick,
                channel,
            };
            peers.insert(crate::origin::unique_origin("peer"), Arc::new(slot));
        }
        // Busy from the second broadcast on: the second is deferred for the flush.
        for _ in 0..2 {
            peers.broadcast(&Bytes::from_static(b"update"), None);
        }
        let before = watcher.calls.load(Ordering::Relaxed);
        peers.flush_deferred(&mut Vec::new(), 64);
        assert_eq!(watcher.calls.load(Ordering::Relaxed) - before, 2);
        let kicked: Vec<bool> = kicks.iter().map(CancellationToken::is_cancelled).collect();
        assert_eq!(kicked.iter().filter(|k| **k).count(), 1, "{kicked:?}");
    }
}
