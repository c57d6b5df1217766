//! The set of peers of a room and the fan-out of frames to them.
//!
//! Fan-out runs inside yrs observers, synchronously, while the transaction that made
//! the change commits, so it must never wait: each peer has a bounded queue, a frame
//! is offered without waiting (written at once, or queued), and a peer whose queue
//! is full is disconnected (its `kick` token is cancelled) instead of being allowed
//! to grow memory.
//!
//! A quiet room's frames go out from the fan-out itself. A busy room's gather for a
//! moment, once for the whole room ([`Gathered`]: one list, not one queue entry
//! per peer per frame), and the room's flush task ([`Peers::flush_gathered`])
//! offers what gathered to each peer in one call, so a tick of ten writers' updates
//! costs each peer one write, and no task is woken per peer.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use yrs::Origin;

use tokio::sync::Notify;

use super::pace::Pace;
use super::queue::{FLUSH_BYTES, PeerQueue, PushError};
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
    /// Tells the author of a gathered frame apart from the others, by a number
    /// rather than by its origin's bytes.
    id: u64,
}

impl PeerSlot {
    pub(crate) fn new(
        queue: PeerQueue,
        kick: CancellationToken,
        channel: Arc<dyn SendsNow>,
    ) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        PeerSlot {
            queue,
            kick,
            channel,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// A busy room's frames since its last flush, in order, each with its author (the
/// peer it is not relayed to; `None`: relayed to every peer).
#[derive(Default)]
struct Gathered {
    frames: Vec<Bytes>,
    authors: Vec<Option<u64>>,
    bytes: usize,
}

impl Gathered {
    fn push(&mut self, frame: &Bytes, author: Option<u64>) {
        self.bytes += frame.len();
        self.frames.push(frame.clone());
        self.authors.push(author);
    }

    fn clear(&mut self) {
        self.frames.clear();
        self.authors.clear();
        self.bytes = 0;
    }

    /// The frames for `peer`: all of them, unless it wrote some (then those are
    /// left out, into `own`, which is the caller's to reuse).
    fn for_peer<'a>(&'a self, peer: u64, own: &'a mut Vec<Bytes>) -> &'a [Bytes] {
        if !self.authors.contains(&Some(peer)) {
            return &self.frames;
        }
        own.clear();
        let others = self.frames.iter().zip(&self.authors);
        own.extend(
            others
                .filter(|(_, author)| **author != Some(peer))
                .map(|(frame, _)| frame.clone()),
        );
        own
    }
}

/// The peers of a room, keyed by the origin their transactions carry, how busy
/// their fan-out is, and what a busy room has gathered for its flush.
pub(crate) struct Peers {
    slots: Mutex<HashMap<Origin, Arc<PeerSlot>>>,
    pace: Pace,
    /// Taken with `slots` held, never the other way round.
    gathered: Mutex<Gathered>,
    /// Told when `gathered` stops being empty.
    flush_wanted: Notify,
    /// Frames gathered beyond which they go out at once (one call's worth).
    max_batch: usize,
}

impl Peers {
    /// A room's peers, busy above `busy_rate` broadcasts a second (0: never),
    /// gathering at most `max_batch` frames for a flush.
    pub(crate) fn new(busy_rate: u32, max_batch: usize) -> Self {
        Peers {
            slots: Mutex::default(),
            pace: Pace::new(busy_rate),
            gathered: Mutex::default(),
            flush_wanted: Notify::new(),
            max_batch: max_batch.max(1),
        }
    }

    pub(crate) fn insert(&self, origin: Origin, slot: Arc<PeerSlot>) {
        crate::lock_unpoisoned(&self.slots).insert(origin, slot);
    }

    pub(crate) fn remove(&self, origin: &Origin) {
        crate::lock_unpoisoned(&self.slots).remove(origin);
    }

    pub(crate) fn len(&self) -> usize {
        crate::lock_unpoisoned(&self.slots).len()
    }

    /// Frames per call to a peer's channel: the room's `max_batch`, at least one.
    pub(crate) fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Relays `frame` to every peer except the one whose origin is `skip`. The frame
    /// is encoded once by the caller; each peer gets a reference-counted clone.
    pub(crate) fn broadcast(&self, frame: &Bytes, skip: Option<&Origin>) {
        let mut slots = crate::lock_unpoisoned(&self.slots);
        self.pace.record(std::time::Instant::now());
        let author = skip
            .and_then(|origin| slots.get(origin))
            .map(|slot| slot.id);
        let mut gathered = crate::lock_unpoisoned(&self.gathered);
        if self.pace.is_busy() {
            // A busy room's frames wait for its flush, gathered once for all peers.
            let first = gathered.frames.is_empty();
            gathered.push(frame, author);
            if gathered.frames.len() >= self.max_batch || gathered.bytes >= FLUSH_BYTES {
                // One call's worth: out now rather than growing.
                hand_out(&mut slots, &mut gathered, self.max_batch);
            } else if first {
                // A stored permit if the flush task is busy: it runs once more.
                self.flush_wanted.notify_one();
            }
            return;
        }
        // What gathered while the room was busy goes first, so that order holds.
        if !gathered.frames.is_empty() {
            hand_out(&mut slots, &mut gathered, self.max_batch);
        }
        drop(gathered);
        // A quiet room's frames go out from here when the peer's socket has room,
        // with no writer task woken.
        outside_budget(|| {
            slots.retain(|_, slot| {
                if Some(slot.id) == author {
                    return true;
                }
                offer_to(slot, || slot.queue.offer(frame, &*slot.channel))
            })
        });
    }

    /// Waits until a busy room has gathered frames.
    pub(crate) async fn flush_wanted(&self) {
        self.flush_wanted.notified().await;
    }

    /// Offers what the room gathered to every peer, in one call each.
    pub(crate) fn flush_gathered(&self) {
        let mut slots = crate::lock_unpoisoned(&self.slots);
        let mut gathered = crate::lock_unpoisoned(&self.gathered);
        if !gathered.frames.is_empty() {
            hand_out(&mut slots, &mut gathered, self.max_batch);
        }
    }
}

/// Offers `gathered` to every peer but each frame's author, up to `max` frames per
/// call to its channel (more go to its writer), and empties it.
fn hand_out(slots: &mut HashMap<Origin, Arc<PeerSlot>>, gathered: &mut Gathered, max: usize) {
    let mut own = Vec::new();
    outside_budget(|| {
        slots.retain(|_, slot| {
            let frames = gathered.for_peer(slot.id, &mut own);
            if frames.is_empty() {
                return true;
            }
            offer_to(slot, || slot.queue.offer_batch(frames, &*slot.channel, max))
        })
    });
    gathered.clear();
}

/// Makes `offer` to one peer, and says whether the peer stays in the fan-out (see
/// [`keep`]). A channel that panics costs its own peer (kicked), not the others,
/// nor the room: the panic would otherwise unwind through the document's update
/// observer, or the room's flush task, with the peer set locked.
fn offer_to(slot: &PeerSlot, offer: impl FnOnce() -> Result<(), PushError>) -> bool {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(offer)) {
        Ok(offered) => keep(slot, offered),
        Err(_) => {
            tracing::error!("a channel panicked in try_send_now: peer dropped");
            slot.kick.cancel();
            false
        }
    }
}

/// Whether a peer stays in the fan-out after an offer: one not keeping up is
/// kicked, one whose writer is gone is dropped.
fn keep(slot: &PeerSlot, offered: Result<(), PushError>) -> bool {
    match offered {
        Ok(()) => true,
        Err(PushError::Full) => {
            slot.kick.cancel();
            false
        }
        Err(PushError::Closed) => false,
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
    use std::sync::atomic::AtomicUsize;

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
            let peers = Peers::new(busy_rate, 64);
            let watcher = Arc::new(BudgetWatcher::default());
            for _ in 0..200 {
                let slot = PeerSlot::new(
                    PeerQueue::new(16, 1 << 20),
                    CancellationToken::new(),
                    watcher.clone(),
                );
                peers.insert(crate::origin::unique_origin("peer"), Arc::new(slot));
            }
            std::future::poll_fn(|cx| {
                use_up_budget(cx);
                for _ in 0..3 {
                    peers.broadcast(&Bytes::from_static(b"update"), None);
                }
                peers.flush_gathered();
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
        let peers = Peers::new(10, 64);
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
            let slot = PeerSlot::new(PeerQueue::new(16, 1 << 20), kick, channel);
            peers.insert(crate::origin::unique_origin("peer"), Arc::new(slot));
        }
        // Busy from the second broadcast on: the second is deferred for the flush.
        for _ in 0..2 {
            peers.broadcast(&Bytes::from_static(b"update"), None);
        }
        let before = watcher.calls.load(Ordering::Relaxed);
        peers.flush_gathered();
        assert_eq!(watcher.calls.load(Ordering::Relaxed) - before, 2);
        let kicked: Vec<bool> = kicks.iter().map(CancellationToken::is_cancelled).collect();
        assert_eq!(kicked.iter().filter(|k| **k).count(), 1, "{kicked:?}");
    }

    /// A channel that panics in a quiet room's fan-out costs its own peer; the
    /// others get this frame and the next.
    #[test]
    fn a_channel_panicking_in_the_quiet_fan_out_drops_only_its_peer() {
        struct Panics;
        impl SendsNow for Panics {
            fn try_send_now(&self, _frames: &[Bytes]) -> SendNow {
                panic!("a broken channel");
            }
        }
        // Never busy: every frame goes out from the broadcast itself.
        let peers = Peers::new(0, 64);
        let watcher = Arc::new(BudgetWatcher::default());
        let broken = CancellationToken::new();
        for i in 0..3 {
            let (kick, channel): (_, Arc<dyn SendsNow>) = if i == 1 {
                (broken.clone(), Arc::new(Panics))
            } else {
                (CancellationToken::new(), watcher.clone())
            };
            let slot = PeerSlot::new(PeerQueue::new(16, 1 << 20), kick, channel);
            peers.insert(crate::origin::unique_origin("peer"), Arc::new(slot));
        }
        for _ in 0..2 {
            peers.broadcast(&Bytes::from_static(b"update"), None);
        }
        assert_eq!(watcher.frames.load(Ordering::Relaxed), 4);
        assert!(broken.is_cancelled());
        assert_eq!(peers.len(), 2);
    }

    /// Records the first byte of each frame of each call to it; takes all, or none.
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<Vec<u8>>>,
        declines: bool,
    }

    impl SendsNow for Recorder {
        fn try_send_now(&self, frames: &[Bytes]) -> SendNow {
            if self.declines {
                return SendNow::NotNow;
            }
            let firsts = frames.iter().map(|frame| frame[0]).collect();
            self.calls.lock().unwrap().push(firsts);
            SendNow::Sent
        }
    }

    impl Recorder {
        fn calls(&self) -> Vec<Vec<u8>> {
            self.calls.lock().unwrap().clone()
        }
    }

    /// Three peers, each with a recording channel and a queue of `capacity`.
    fn three_peers(
        peers: &Peers,
        capacity: usize,
    ) -> Vec<(Origin, Arc<Recorder>, CancellationToken)> {
        (0..3)
            .map(|_| {
                let origin = crate::origin::unique_origin("peer");
                let channel = Arc::new(Recorder::default());
                let kick = CancellationToken::new();
                let queue = PeerQueue::new(capacity, 1 << 20);
                let slot = PeerSlot::new(queue, kick.clone(), channel.clone());
                peers.insert(origin.clone(), Arc::new(slot));
                (origin, channel, kick)
            })
            .collect()
    }

    fn frame(i: u8) -> Bytes {
        Bytes::from(vec![i])
    }

    /// A busy room's frames reach each peer in one call at the flush, in order,
    /// without those the peer wrote itself.
    #[test]
    fn gathered_frames_reach_every_peer_but_their_author_in_one_call() {
        let peers = Peers::new(10, 64);
        let three = three_peers(&peers, 16);
        let (a, b) = (&three[0].0, &three[1].0);
        // Quiet for the first: at once. Busy from the second on: gathered.
        peers.broadcast(&frame(0), Some(a));
        peers.broadcast(&frame(1), Some(a));
        peers.broadcast(&frame(2), Some(b));
        peers.broadcast(&frame(3), None);
        assert_eq!(three[2].1.calls(), [vec![0]], "nothing before the flush");
        peers.flush_gathered();
        assert_eq!(three[0].1.calls(), [vec![2, 3]]);
        assert_eq!(three[1].1.calls(), [vec![0], vec![1, 3]]);
        assert_eq!(three[2].1.calls(), [vec![0], vec![1, 2, 3]]);
        peers.flush_gathered();
        assert_eq!(
            three[2].1.calls().len(),
            2,
            "a flush with nothing gathered sends nothing"
        );
    }

    /// One call's worth goes out at once, without waiting for the flush.
    #[test]
    fn a_full_gathering_goes_out_without_the_flush() {
        let peers = Peers::new(10, 3);
        let three = three_peers(&peers, 16);
        for i in 0..4 {
            peers.broadcast(&frame(i), None);
        }
        assert_eq!(three[2].1.calls(), [vec![0], vec![1, 2, 3]]);
    }

    /// Once the room is quiet again, what it gathered goes out before the next
    /// frame, which then goes out at once.
    #[tokio::test]
    async fn gathered_frames_go_before_the_first_frame_of_a_quiet_room() {
        let peers = Peers::new(10, 64);
        let three = three_peers(&peers, 16);
        peers.broadcast(&frame(0), None);
        peers.broadcast(&frame(1), None);
        // Two windows of the pace without a broadcast: quiet again.
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        peers.broadcast(&frame(2), None);
        assert_eq!(three[2].1.calls(), [vec![0], vec![1], vec![2]]);
    }

    /// A peer whose queue cannot take what gathered is kicked and leaves the room's
    /// fan-out; the others get it.
    #[test]
    fn a_peer_that_cannot_take_what_gathered_is_kicked() {
        let peers = Peers::new(10, 64);
        let mut three = three_peers(&peers, 16);
        let origin = crate::origin::unique_origin("peer");
        let kick = CancellationToken::new();
        let declines = Arc::new(Recorder {
            declines: true,
            ..Recorder::default()
        });
        let slot = PeerSlot::new(PeerQueue::new(2, 1 << 20), kick.clone(), declines);
        peers.insert(origin, Arc::new(slot));
        for i in 0..3 {
            peers.broadcast(&frame(i), None);
        }
        assert!(!kick.is_cancelled(), "its queue holds the first");
        peers.flush_gathered();
        assert!(kick.is_cancelled(), "1 queued + 2 gathered > 2");
        assert_eq!(peers.len(), 3);
        let (_, channel, kick) = three.pop().unwrap();
        assert_eq!(channel.calls(), [vec![0], vec![1, 2]]);
        assert!(!kick.is_cancelled());
    }
}
