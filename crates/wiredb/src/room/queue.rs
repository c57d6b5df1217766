//! [`PeerQueue`]: the bounded queue of frames waiting to be written to one peer.
//!
//! Fan-out pushes into it from inside yrs observers (never waiting), the peer's writer
//! task drains it in batches. A `VecDeque` behind a mutex rather than a tokio mpsc
//! channel: the channel allocates a 32-slot block per peer up front (~1.5 KiB with
//! its state), which is most of what an idle connection costs; this queue allocates
//! nothing until a frame arrives and gives its memory back once drained.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The peer has `capacity` frames waiting: it is not keeping up.
    Full,
    /// The peer's writer is gone.
    Closed,
}

/// Frames drained at once beyond which a drained queue releases its buffer.
const KEEP_CAPACITY: usize = 16;

#[derive(Default)]
struct State {
    frames: VecDeque<Bytes>,
    closed: bool,
}

/// A bounded multi-producer, single-consumer queue of frames.
pub(crate) struct PeerQueue {
    state: Mutex<State>,
    ready: Notify,
    capacity: usize,
}

impl PeerQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        PeerQueue {
            state: Mutex::default(),
            ready: Notify::new(),
            capacity,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a plain queue, consistent after any panic elsewhere.
        crate::lock_unpoisoned(&self.state)
    }

    /// Queues `frame` without waiting.
    pub(crate) fn try_push(&self, frame: Bytes) -> Result<(), PushError> {
        {
            let mut state = self.state();
            if state.closed {
                return Err(PushError::Closed);
            }
            if state.frames.len() >= self.capacity {
                return Err(PushError::Full);
            }
            state.frames.push_back(frame);
        }
        // A stored permit if the writer is not waiting yet: no wake-up is lost.
        self.ready.notify_one();
        Ok(())
    }

    /// Marks the queue closed: pushes fail, the writer ends once it is drained.
    pub(crate) fn close(&self) {
        self.state().closed = true;
        self.ready.notify_one();
    }

    /// Waits for frames and moves up to `max` of them into `batch`. Returns how many;
    /// 0 once the queue is closed and empty.
    pub(crate) async fn pop_batch(&self, batch: &mut Vec<Bytes>, max: usize) -> usize {
        loop {
            {
                let mut state = self.state();
                if !state.frames.is_empty() {
                    let take = state.frames.len().min(max.max(1));
                    batch.extend(state.frames.drain(..take));
                    if state.frames.is_empty() && state.frames.capacity() > KEEP_CAPACITY {
                        state.frames = VecDeque::new();
                    }
                    return take;
                }
                if state.closed {
                    return 0;
                }
            }
            self.ready.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_come_out_in_order_and_in_batches() {
        let queue = PeerQueue::new(8);
        for i in 0..5u8 {
            queue.try_push(Bytes::from(vec![i])).unwrap();
        }
        let mut batch = Vec::new();
        assert_eq!(queue.pop_batch(&mut batch, 3).await, 3);
        assert_eq!(queue.pop_batch(&mut batch, 3).await, 2);
        let order: Vec<u8> = batch.iter().map(|f| f[0]).collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_full_queue_refuses_and_a_closed_one_too() {
        let queue = PeerQueue::new(2);
        queue.try_push(Bytes::new()).unwrap();
        queue.try_push(Bytes::new()).unwrap();
        assert_eq!(queue.try_push(Bytes::new()), Err(PushError::Full));
        queue.close();
        assert_eq!(queue.try_push(Bytes::new()), Err(PushError::Closed));
    }

    #[tokio::test]
    async fn a_waiting_writer_wakes_on_push_and_ends_on_close() {
        let queue = std::sync::Arc::new(PeerQueue::new(4));
        let writer = {
            let queue = queue.clone();
            tokio::spawn(async move {
                let mut batch = Vec::new();
                let mut total = 0;
                loop {
                    match queue.pop_batch(&mut batch, 4).await {
                        0 => return total,
                        n => total += n,
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
    async fn a_drained_queue_gives_its_buffer_back() {
        let queue = PeerQueue::new(1024);
        for _ in 0..100 {
            queue.try_push(Bytes::new()).unwrap();
        }
        let mut batch = Vec::new();
        assert_eq!(queue.pop_batch(&mut batch, 1000).await, 100);
        assert_eq!(queue.state().frames.capacity(), 0);
    }
}
