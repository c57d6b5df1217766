//! [`PeerQueue`]: the bounded queue of frames waiting to be written to one peer.
//!
//! Fan-out pushes into it from inside yrs observers (never waiting), the peer's writer
//! task drains it in batches. A `VecDeque` behind a mutex rather than a tokio mpsc
//! channel: the channel allocates a 32-slot block per peer up front (~1.5 KiB with
//! its state), which is most of what an idle connection costs; this queue allocates
//! nothing until a frame arrives and gives its memory back once drained.
//!
//! A frame offered while the queue is empty and its writer idle may skip it: the
//! channel writes it at once if it can ([`PeerQueue::offer`]), and the writer is
//! woken only to finish a write the socket took part of. A busy room's frames,
//! gathered by the room for a moment, are offered the same way, several in one call
//! ([`PeerQueue::offer_batch`]).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use super::fanout::SendsNow;
use crate::channel::SendNow;
use bytes::Bytes;
use tokio::sync::Notify;

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The peer has `capacity` frames, or its byte budget, waiting: it is not keeping
    /// up (or asks for more than it reads).
    Full,
    /// The peer's writer is gone.
    Closed,
}

/// What a batch taken by the writer holds of the queue's budget.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Taken {
    bytes: usize,
    oversize: bool,
}

/// Bytes of gathered frames beyond which they are left to the peer's writer rather
/// than written at once: a write at once copies them under the queue's lock (and
/// the room's), and one large batch must not hold up the room's fan-out.
pub(crate) const FLUSH_BYTES: usize = 64 * 1024;

/// Frames drained at once beyond which a drained queue releases its buffer.
const KEEP_CAPACITY: usize = 16;

#[derive(Default)]
struct State {
    frames: VecDeque<Bytes>,
    /// Bytes of the frames queued, and of those taken by the writer and not yet
    /// written ([`PeerQueue::written`]): all of it is memory this peer holds.
    bytes: usize,
    /// The part of `bytes` that is one frame larger than the budget (a first sync of
    /// a large document), which the budget does not count against the others.
    oversize: usize,
    closed: bool,
    /// The writer holds a batch it has not finished writing.
    writing: bool,
    /// A frame sent at once was only partly written: the writer must drive the
    /// channel to write the rest, before anything else may be sent at once.
    flush_due: bool,
    /// What frames sent at once and only partly written hold of the budget: still
    /// this peer's memory (in the channel's buffer) until the writer finishes them.
    unfinished: Taken,
    /// The part of it the writer is finishing now, given back by
    /// [`PeerQueue::written`].
    finishing: Taken,
}

/// A multi-producer, single-consumer queue of frames, bounded in frames and in bytes.
pub(crate) struct PeerQueue {
    state: Mutex<State>,
    ready: Notify,
    capacity: usize,
    byte_budget: usize,
}

impl PeerQueue {
    /// A queue of at most `capacity` frames and `byte_budget` bytes. One frame larger
    /// than the budget (the first sync of a large document) is still taken, beside
    /// the budget's worth of others, so a peer holds at most the budget plus one
    /// frame.
    pub(crate) fn new(capacity: usize, byte_budget: usize) -> Self {
        PeerQueue {
            state: Mutex::default(),
            ready: Notify::new(),
            capacity,
            byte_budget,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn byte_budget(&self) -> usize {
        self.byte_budget
    }

    /// Bytes this peer holds: queued, or taken by its writer and not yet written.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.state().bytes
    }

    /// What `frames` (taken by the writer) hold of the budget, to hand back to
    /// [`PeerQueue::written`] once they are written. Counted before the write, which
    /// consumes them: no copy of the batch on the hot path.
    pub(crate) fn measure(&self, frames: &[Bytes]) -> Taken {
        let bytes = frames.iter().map(Bytes::len).sum();
        let oversize = frames.iter().any(|frame| frame.len() > self.byte_budget);
        Taken { bytes, oversize }
    }

    /// The writer has written what it had taken (and finished what was sent at once
    /// before it): that memory is free.
    pub(crate) fn written(&self, taken: Taken) {
        let mut state = self.state();
        state.writing = false;
        let finished = std::mem::take(&mut state.finishing);
        Self::release(&mut state, taken);
        Self::release(&mut state, finished);
    }

    /// Gives back what written frames held of the budget.
    fn release(state: &mut State, taken: Taken) {
        state.bytes = state.bytes.saturating_sub(taken.bytes);
        if taken.oversize {
            state.oversize = 0;
        }
    }

    /// Frames holding `taken` were taken by the channel at once but only partly
    /// written: they stay in the budget until the writer, woken here, finishes them.
    fn started(&self, mut state: MutexGuard<'_, State>, taken: Taken) {
        // Nothing else is unfinished: only a write with no flush due gets here, and
        // the writer takes `unfinished` with the flush.
        state.unfinished = taken;
        state.flush_due = true;
        drop(state);
        self.ready.notify_one();
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a plain queue, consistent after any panic elsewhere.
        crate::lock_unpoisoned(&self.state)
    }

    /// Queues `frame` without waiting.
    pub(crate) fn try_push(&self, frame: Bytes) -> Result<(), PushError> {
        let state = self.state();
        if state.closed {
            return Err(PushError::Closed);
        }
        self.push_locked(state, frame)
    }

    /// Hands `frame` to `channel` at once if nothing is queued or being written
    /// before it (so order holds), else queues it as [`PeerQueue::try_push`]. Under
    /// the queue's lock, so no frame can be queued between the check and the write.
    pub(crate) fn offer(&self, frame: &Bytes, channel: &dyn SendsNow) -> Result<(), PushError> {
        let state = self.state();
        if state.closed {
            return Err(PushError::Closed);
        }
        let Some(state) = self.send_if_idle(state, std::slice::from_ref(frame), channel) else {
            return Ok(());
        };
        self.push_locked(state, frame.clone())
    }

    /// Hands `frames` to `channel` at once if nothing is queued, being written or
    /// half written before them. `None` once the channel has taken them (written,
    /// or started and charged to the budget); else the lock, to queue them.
    fn send_if_idle<'a>(
        &self,
        mut state: MutexGuard<'a, State>,
        frames: &[Bytes],
        channel: &dyn SendsNow,
    ) -> Option<MutexGuard<'a, State>> {
        if !state.frames.is_empty() || state.writing || state.flush_due {
            return Some(state);
        }
        match channel.try_send_now(frames) {
            SendNow::Sent => None,
            SendNow::Started => {
                let taken = self.charge(&mut state, frames);
                self.started(state, taken);
                None
            }
            SendNow::NotNow => Some(state),
        }
    }

    /// Hands `frames` (a busy room's, gathered for a moment) to `channel` in one
    /// call if nothing is queued or being written before them and they are at most
    /// `max` frames of at most [`FLUSH_BYTES`]; else, or if the channel declines,
    /// queues them for the writer. `Full` if the budget cannot take them all (the
    /// peer is then dropped, so that some of them were queued does not matter).
    pub(crate) fn offer_batch(
        &self,
        frames: &[Bytes],
        channel: &dyn SendsNow,
        max: usize,
    ) -> Result<(), PushError> {
        let mut state = self.state();
        if state.closed {
            return Err(PushError::Closed);
        }
        let small =
            frames.len() <= max && frames.iter().map(Bytes::len).sum::<usize>() <= FLUSH_BYTES;
        if small {
            match self.send_if_idle(state, frames, channel) {
                None => return Ok(()),
                Some(locked) => state = locked,
            }
        }
        let tell_writer = state.frames.is_empty() && !state.flush_due;
        for frame in frames {
            self.admit(&mut state, frame.clone())?;
        }
        drop(state);
        if tell_writer {
            // As in `push_locked`: told once per queue that stops being empty.
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Charges `frames`, taken by the channel at once but only partly written, to
    /// the budget though they were never admitted: they are this peer's memory
    /// (in the channel's buffer) until the writer has finished them.
    fn charge(&self, state: &mut State, frames: &[Bytes]) -> Taken {
        let taken = self.measure(frames);
        state.bytes += taken.bytes;
        if let Some(large) = frames
            .iter()
            .map(Bytes::len)
            .filter(|&len| len > self.byte_budget)
            .max()
        {
            state.oversize = large;
        }
        taken
    }

    fn push_locked(&self, mut state: MutexGuard<'_, State>, frame: Bytes) -> Result<(), PushError> {
        self.admit(&mut state, frame)?;
        if state.frames.len() > 1 || state.flush_due {
            // The writer was told when the queue stopped being empty (or the room's
            // flush will come for the frames before this one), and drains
            // everything before it waits again: no need to tell it twice (each
            // telling takes the notifier's own lock, per frame and per peer).
            // A due flush has told it already.
            return Ok(());
        }
        drop(state);
        // A stored permit if the writer is not waiting yet: no wake-up is lost.
        self.ready.notify_one();
        Ok(())
    }

    /// Queues `frame` if the peer's budget has room for it.
    fn admit(&self, state: &mut State, frame: Bytes) -> Result<(), PushError> {
        let len = frame.len();
        let refused = if len > self.byte_budget {
            // One at a time: a second one waits for the first to be written.
            state.oversize > 0
        } else {
            state.bytes - state.oversize + len > self.byte_budget
        };
        if state.frames.len() >= self.capacity || refused {
            return Err(PushError::Full);
        }
        if len > self.byte_budget {
            state.oversize = len;
        }
        state.bytes += len;
        state.frames.push_back(frame);
        Ok(())
    }

    /// Marks the queue closed: pushes fail, the writer ends once it is drained.
    pub(crate) fn close(&self) {
        self.state().closed = true;
        self.ready.notify_one();
    }

    /// Waits for frames and moves up to `max` of them into `batch`. Returns how many,
    /// which is 0 when the writer is only to finish a frame sent at once (a send
    /// of no frames does that); `None` once the queue is closed and empty. The
    /// writer calls [`PeerQueue::written`] when it has written them.
    pub(crate) async fn pop_batch(&self, batch: &mut Vec<Bytes>, max: usize) -> Option<usize> {
        loop {
            {
                let mut state = self.state();
                if !state.frames.is_empty() || state.flush_due {
                    if std::mem::take(&mut state.flush_due) {
                        state.finishing = std::mem::take(&mut state.unfinished);
                    }
                    state.writing = true;
                    return Some(Self::drain_into(&mut state, batch, max.max(1)));
                }
                if state.closed {
                    return None;
                }
            }
            self.ready.notified().await;
        }
    }

    fn drain_into(state: &mut State, batch: &mut Vec<Bytes>, max: usize) -> usize {
        let take = state.frames.len().min(max);
        batch.extend(state.frames.drain(..take));
        Self::release_drained(&mut state.frames);
        take
    }

    /// Gives a drained queue's buffer back once it has grown past a few frames.
    fn release_drained(frames: &mut VecDeque<Bytes>) {
        if frames.is_empty() && frames.capacity() > KEEP_CAPACITY {
            *frames = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_come_out_in_order_and_in_batches() {
        let queue = PeerQueue::new(8, 1 << 20);
        for i in 0..5u8 {
            queue.try_push(Bytes::from(vec![i])).unwrap();
        }
        let mut batch = Vec::new();
        assert_eq!(queue.pop_batch(&mut batch, 3).await, Some(3));
        assert_eq!(queue.pop_batch(&mut batch, 3).await, Some(2));
        let order: Vec<u8> = batch.iter().map(|f| f[0]).collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_full_queue_refuses_and_a_closed_one_too() {
        let queue = PeerQueue::new(2, 1 << 20);
        queue.try_push(Bytes::new()).unwrap();
        queue.try_push(Bytes::new()).unwrap();
        assert_eq!(queue.try_push(Bytes::new()), Err(PushError::Full));
        queue.close();
        assert_eq!(queue.try_push(Bytes::new()), Err(PushError::Closed));
    }

    #[tokio::test]
    async fn a_waiting_writer_wakes_on_push_and_ends_on_close() {
        let queue = std::sync::Arc::new(PeerQueue::new(4, 1 << 20));
        let writer = {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut batch = Vec::new();
                let mut total = 0;
                loop {
                    match queue.pop_batch(&mut batch, 4).await {
                        None => return total,
                        Some(n) => total += n,
                    }
                }
            })
        };
        tokio::task::yield_now().await;
        queue.try_push(Bytes::from_static(b"x")).unwrap();
        tokio::task::yield_now().await;
        queue.try_push(Bytes::from_static(b"y")).unwrap();
        queue.close();
        assert_eq!(writer.await.unwrap(), 2);
    }

    #[tokio::test]
    async fn bytes_are_bounded_until_written_and_one_large_frame_still_fits() {
        let queue = PeerQueue::new(100, 10);
        // Frames are waiting (a handshake's), and one over the budget still goes in
        // (a large first sync), beside the budget's worth of others...
        queue.try_push(Bytes::from_static(b"hello")).unwrap();
        let large = Bytes::from(vec![0; 25]);
        queue.try_push(large.clone()).unwrap();
        queue.try_push(Bytes::from_static(b"abcde")).unwrap();
        // ...but not a second large one, nor more than the budget of the others.
        assert_eq!(queue.try_push(large.clone()), Err(PushError::Full));
        assert_eq!(
            queue.try_push(Bytes::from_static(b"x")),
            Err(PushError::Full)
        );
        let mut batch = Vec::new();
        assert_eq!(queue.pop_batch(&mut batch, 8).await, Some(3));
        assert_eq!(queue.bytes(), 35, "taken but not yet written still counts");
        assert_eq!(
            queue.try_push(Bytes::from_static(b"x")),
            Err(PushError::Full)
        );
        queue.written(queue.measure(&batch));
        assert_eq!(queue.bytes(), 0);
        queue.try_push(large).unwrap();
        for _ in 0..5 {
            queue.try_push(Bytes::from_static(b"ab")).unwrap();
        }
        assert_eq!(
            queue.try_push(Bytes::from_static(b"c")),
            Err(PushError::Full)
        );
    }

    #[tokio::test]
    async fn a_drained_queue_gives_its_buffer_back() {
        let queue = PeerQueue::new(1024, 1 << 20);
        for _ in 0..100 {
            queue.try_push(Bytes::new()).unwrap();
        }
        let mut batch = Vec::new();
        assert_eq!(queue.pop_batch(&mut batch, 1000).await, Some(100));
        assert_eq!(queue.state().frames.capacity(), 0);
    }

    /// Only the push that makes the queue non-empty wakes the writer; every frame
    /// still comes out, however pushes and batches interleave with its waits.
    #[tokio::test]
    async fn a_writer_told_once_per_non_empty_queue_misses_nothing() {
        let queue = std::sync::Arc::new(PeerQueue::new(4096, 1 << 20));
        let writer = {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut batch = Vec::new();
                loop {
                    // Small batches: the writer often leaves frames behind.
                    if queue.pop_batch(&mut batch, 3).await.is_none() {
                        return batch.iter().map(|f| f[0]).collect::<Vec<u8>>();
                    }
                    tokio::task::yield_now().await;
                }
            })
        };
        for i in 0..200u8 {
            queue.try_push(Bytes::from(vec![i])).unwrap();
            if i % 7 == 0 {
                tokio::task::yield_now().await;
            }
        }
        queue.close();
        let order = tokio::time::timeout(std::time::Duration::from_secs(30), writer)
            .await
            .expect("the writer missed a wake-up")
            .unwrap();
        assert_eq!(order, (0..200u8).collect::<Vec<_>>());
    }

    /// What the writer pops, which must come within seconds: it has been woken.
    async fn pop_soon(queue: &PeerQueue, batch: &mut Vec<Bytes>) -> Option<usize> {
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            queue.pop_batch(batch, 64),
        )
        .await
        .expect("the writer was not woken")
    }

    /// A channel whose `try_send_now` answers from a script and records what it took.
    struct Scripted {
        answers: Mutex<VecDeque<SendNow>>,
        taken: Mutex<Vec<Bytes>>,
    }

    impl Scripted {
        fn new(answers: &[SendNow]) -> Self {
            Scripted {
                answers: Mutex::new(answers.iter().copied().collect()),
                taken: Mutex::default(),
            }
        }

        fn calls_left(&self) -> usize {
            self.answers.lock().unwrap().len()
        }
    }

    impl SendsNow for Scripted {
        fn try_send_now(&self, frames: &[Bytes]) -> SendNow {
            let answer = self
                .answers
                .lock()
                .unwrap()
                .pop_front()
                .expect("not called");
            if answer != SendNow::NotNow {
                self.taken.lock().unwrap().extend_from_slice(frames);
            }
            answer
        }
    }

    /// A frame goes to the channel at once only while nothing is queued, being
    /// written, or left half-written before it; a half-written one wakes the writer
    /// with no frames, to finish it.
    #[tokio::test]
    async fn frames_go_out_at_once_only_with_nothing_before_them() {
        use SendNow::{NotNow, Sent, Started};
        let queue = PeerQueue::new(64, 1 << 20);
        let frame = |i: u8| Bytes::from(vec![i]);
        let channel = Scripted::new(&[Sent, NotNow, Started, Sent]);
        let mut batch = Vec::new();

        queue.offer(&frame(0), &channel).unwrap();
        assert_eq!(channel.calls_left(), 3, "an idle peer: at once");
        // Declined: queued, and then the queue holds a frame, so the next is queued
        // without asking.
        queue.offer(&frame(1), &channel).unwrap();
        queue.offer(&frame(2), &channel).unwrap();
        assert_eq!(channel.calls_left(), 2);
        assert_eq!(queue.pop_batch(&mut batch, 8).await, Some(2));
        // The writer holds them and has not written them: still queued.
        queue.offer(&frame(3), &channel).unwrap();
        assert_eq!(
            channel.calls_left(),
            2,
            "asked while the writer was writing"
        );
        let taken = queue.measure(&batch);
        queue.written(taken);
        assert_eq!(queue.pop_batch(&mut batch, 8).await, Some(1));
        queue.written(queue.measure(&batch[2..]));
        // Idle again: at once, but only part of it went out.
        queue.offer(&frame(4), &channel).unwrap();
        assert_eq!(channel.calls_left(), 1);
        queue.offer(&frame(5), &channel).unwrap();
        assert_eq!(channel.calls_left(), 1, "asked with a write half done");
        // The writer is woken to finish it: here with the frame behind it too.
        assert_eq!(queue.pop_batch(&mut batch, 8).await, Some(1));
        queue.written(queue.measure(&batch[3..]));
        queue.offer(&frame(6), &channel).unwrap();
        assert_eq!(channel.calls_left(), 0);
        let at_once: Vec<u8> = channel.taken.lock().unwrap().iter().map(|f| f[0]).collect();
        assert_eq!(at_once, [0, 4, 6]);
        let queued: Vec<u8> = batch.iter().map(|f| f[0]).collect();
        assert_eq!(queued, [1, 2, 3, 5]);
    }

    #[tokio::test]
    async fn a_half_written_frame_alone_wakes_the_writer_with_no_frames() {
        let queue = std::sync::Arc::new(PeerQueue::new(64, 1 << 20));
        let channel = Scripted::new(&[SendNow::Started]);
        queue.offer(&Bytes::from_static(b"x"), &channel).unwrap();
        let mut batch = Vec::new();
        assert_eq!(pop_soon(&queue, &mut batch).await, Some(0));
        queue.written(queue.measure(&batch));
        queue.close();
        assert_eq!(queue.pop_batch(&mut batch, 8).await, None);
    }

    /// A busy room's gathered frames go to the channel in one call when nothing is
    /// before them, and to the writer when something is, when the channel declines
    /// or only partly writes them, or when they are too many for a call.
    #[tokio::test]
    async fn gathered_frames_go_out_in_one_call_or_to_the_writer() {
        let queue = PeerQueue::new(64, 1 << 20);
        let frames =
            |from: u8, to: u8| (from..to).map(|i| Bytes::from(vec![i])).collect::<Vec<_>>();
        let mut batch = Vec::new();

        let channel = Scripted::new(&[SendNow::Sent]);
        queue.offer_batch(&frames(0, 3), &channel, 64).unwrap();
        assert_eq!(channel.calls_left(), 0, "one call for the three");
        assert_eq!(queue.bytes(), 0, "written frames hold nothing");

        // A writer holding a batch: nothing is asked of the channel (no script).
        queue.try_push(Bytes::from_static(b"w")).unwrap();
        assert_eq!(pop_soon(&queue, &mut batch).await, Some(1));
        queue
            .offer_batch(&frames(3, 5), &Scripted::new(&[]), 64)
            .unwrap();
        queue.written(queue.measure(&batch));
        batch.clear();
        assert_eq!(
            pop_soon(&queue, &mut batch).await,
            Some(2),
            "the writer takes them after"
        );
        queue.written(queue.measure(&batch));

        // Declined: the writer is woken for them.
        queue
            .offer_batch(&frames(5, 7), &Scripted::new(&[SendNow::NotNow]), 64)
            .unwrap();
        assert_eq!(pop_soon(&queue, &mut batch).await, Some(2));
        queue.written(queue.measure(&batch[2..]));

        // Partly written: the writer is woken with no frames, to finish it.
        let channel = Scripted::new(&[SendNow::Started]);
        queue.offer_batch(&frames(7, 8), &channel, 64).unwrap();
        assert_eq!(pop_soon(&queue, &mut batch).await, Some(0));
        queue.written(queue.measure(&[]));

        // More than one call may carry: left to the writer, whole.
        queue
            .offer_batch(&frames(8, 11), &Scripted::new(&[]), 2)
            .unwrap();
        assert_eq!(pop_soon(&queue, &mut batch).await, Some(3));
        let by_writer: Vec<u8> = batch.iter().map(|f| f[0]).collect();
        assert_eq!(by_writer, [3, 4, 5, 6, 8, 9, 10]);
        assert_eq!(channel.taken.lock().unwrap()[0][0], 7);
    }

    /// Gathered frames the budget cannot take are refused, and a closed queue
    /// takes none.
    #[test]
    fn gathered_frames_are_bounded_too() {
        let queue = PeerQueue::new(3, 1 << 20);
        let frames: Vec<Bytes> = (0..4u8).map(|i| Bytes::from(vec![i])).collect();
        let declines = Scripted::new(&[SendNow::NotNow]);
        assert_eq!(
            queue.offer_batch(&frames, &declines, 64),
            Err(PushError::Full)
        );
        queue.close();
        assert_eq!(
            queue.offer_batch(&frames[..1], &Scripted::new(&[]), 64),
            Err(PushError::Closed)
        );
    }

    /// Frames taken at once but only partly written still count against the budget
    /// until the writer has finished them, from the fan-out and the flush alike.
    #[tokio::test]
    async fn frames_partly_written_count_until_the_writer_finishes() {
        let queue = PeerQueue::new(64, 10);
        let mut batch = Vec::new();
        queue
            .offer(
                &Bytes::from_static(b"abcd"),
                &Scripted::new(&[SendNow::Started]),
            )
            .unwrap();
        assert_eq!(queue.bytes(), 4);
        // The channel is not even asked while a write is unfinished.
        let efgh = [Bytes::from_static(b"efgh")];
        queue.offer_batch(&efgh, &Scripted::new(&[]), 64).unwrap();
        assert_eq!(
            queue.offer_batch(&[Bytes::from_static(b"ijk")], &Scripted::new(&[]), 64),
            Err(PushError::Full),
            "4 unfinished + 4 queued + 3 > 10"
        );
        assert_eq!(pop_soon(&queue, &mut batch).await, Some(1));
        queue.written(queue.measure(&batch));
        assert_eq!(queue.bytes(), 0);

        let abcdef = [Bytes::from_static(b"abcdef")];
        queue
            .offer_batch(&abcdef, &Scripted::new(&[SendNow::Started]), 64)
            .unwrap();
        assert_eq!(queue.bytes(), 6, "partly written by the flush");
        assert_eq!(
            queue.try_push(Bytes::from_static(b"12345")),
            Err(PushError::Full)
        );
        batch.clear();
        assert_eq!(pop_soon(&queue, &mut batch).await, Some(0));
        queue.written(queue.measure(&batch));
        assert_eq!(queue.bytes(), 0);
    }

    /// A large batch is left to the writer: the flush copies under the queue's lock.
    #[tokio::test]
    async fn a_flush_leaves_large_batches_to_the_writer() {
        let queue = PeerQueue::new(64, 1 << 20);
        let large = vec![Bytes::from(vec![0; FLUSH_BYTES / 2]); 3];
        // The channel would panic if asked.
        queue.offer_batch(&large, &Scripted::new(&[]), 64).unwrap();
        let mut batch = Vec::new();
        assert_eq!(pop_soon(&queue, &mut batch).await, Some(3));
    }
}
