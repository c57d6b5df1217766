//! When to append: the updates waiting for their write, and the deadline of
//! that write, as plain data (no clock is read here: callers pass `now`), so
//! that the `write_delay` / `max_write_wait` rules are tested without a
//! runtime.

use std::time::Duration;

use tokio::time::Instant;

/// How long a failed append waits before it is tried again (unless the client
/// closes first, which tries at once). Retrying at the pace of the edits would
/// hammer a full disk.
pub(crate) const RETRY_DELAY: Duration = Duration::from_secs(1);

/// The longest delay kept: `Instant + Duration` panics on overflow, and a
/// user saying "never" with `Duration::MAX` means "not before close()", which
/// a century is, in practice.
const LONGEST_DELAY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The two delays that decide when a batch is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// Quiet time after the latest update.
    pub(crate) write_delay: Duration,
    /// Longest wait of the batch's first update (at least `write_delay`).
    pub(crate) max_wait: Duration,
}

impl Timing {
    /// The timing for these options; a `max_write_wait` shorter than the
    /// delay would make the delay meaningless, so the delay wins.
    pub(crate) fn new(write_delay: Duration, max_write_wait: Duration) -> Self {
        let write_delay = write_delay.min(LONGEST_DELAY);
        Timing {
            write_delay,
            max_wait: max_write_wait.min(LONGEST_DELAY).max(write_delay),
        }
    }
}

/// Updates waiting to be appended, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    updates: Vec<Vec<u8>>,
    /// Arrival of the oldest waiting update.
    first: Option<Instant>,
    /// Arrival of the newest one.
    last: Option<Instant>,
    /// Set after a failed append: nothing is tried before then.
    retry_at: Option<Instant>,
}

impl Batch {
    /// Adds an update that arrived at `now`.
    pub(crate) fn push(&mut self, update: Vec<u8>, now: Instant) {
        self.updates.push(update);
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// Number of waiting updates.
    pub(crate) fn len(&self) -> usize {
        self.updates.len()
    }

    /// Whether nothing is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }

    /// When the waiting updates must be appended: `write_delay` after the
    /// newest, but no later than `max_wait` after the oldest; `None` when
    /// nothing waits.
    pub(crate) fn deadline(&self, timing: &Timing) -> Option<Instant> {
        if let Some(retry_at) = self.retry_at {
            return Some(retry_at);
        }
        let (first, last) = (self.first?, self.last?);
        Some((last + timing.write_delay).min(first + timing.max_wait))
    }

    /// Takes every waiting update, leaving the batch empty.
    pub(crate) fn take(&mut self) -> Vec<Vec<u8>> {
        self.first = None;
        self.last = None;
        self.retry_at = None;
        std::mem::take(&mut self.updates)
    }

    /// Puts back `failed`, taken by [`Batch::take`] for an append that
    /// failed at `now`, ahead of whatever arrived since (Yjs updates commute,
    /// but keeping the order keeps the file readable), and holds every append
    /// until `now + RETRY_DELAY`.
    pub(crate) fn restore(&mut self, mut failed: Vec<Vec<u8>>, now: Instant) {
        failed.append(&mut self.updates);
        self.updates = failed;
        self.first.get_or_insert(now);
        self.last.get_or_insert(now);
        self.retry_at = Some(now + RETRY_DELAY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_delay_of_duration_max_means_not_before_close() {
        let timing = Timing::new(Duration::MAX, Duration::MAX);
        let t0 = Instant::now();
        let mut batch = Batch::default();
        batch.push(vec![1], t0);
        let deadline = batch.deadline(&timing).unwrap();
        assert!(deadline >= t0 + Duration::from_secs(365 * 24 * 3600));
    }

    #[test]
    fn empty_batch_has_no_deadline() {
        let batch = Batch::default();
        assert_eq!(batch.deadline(&Timing::new(MS, MS)), None);
        assert!(batch.is_empty());
    }

    #[test]
    fn delay_is_rearmed_by_each_update_up_to_the_max_wait() {
        let timing = Timing::new(100 * MS, 300 * MS);
        let t0 = Instant::now();
        let mut batch = Batch::default();
        batch.push(b"a".to_vec(), t0);
        assert_eq!(batch.deadline(&timing), Some(t0 + 100 * MS));
        batch.push(b"b".to_vec(), t0 + 50 * MS);
        assert_eq!(batch.deadline(&timing), Some(t0 + 150 * MS));
        batch.push(b"c".to_vec(), t0 + 250 * MS);
        assert_eq!(batch.deadline(&timing), Some(t0 + 300 * MS), "capped");
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.take(), [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(batch.deadline(&timing), None);

        // A new batch starts its own max wait.
        batch.push(b"d".to_vec(), t0 + 400 * MS);
        assert_eq!(batch.deadline(&timing), Some(t0 + 500 * MS));
    }

    #[test]
    fn zero_delay_is_due_at_once() {
        let timing = Timing::new(Duration::ZERO, Duration::from_secs(1));
        let t0 = Instant::now();
        let mut batch = Batch::default();
        batch.push(b"a".to_vec(), t0);
        assert_eq!(batch.deadline(&timing), Some(t0));
    }

    #[test]
    fn max_wait_is_never_shorter_than_the_delay() {
        let timing = Timing::new(500 * MS, 100 * MS);
        let t0 = Instant::now();
        let mut batch = Batch::default();
        batch.push(b"a".to_vec(), t0);
        assert_eq!(batch.deadline(&timing), Some(t0 + 500 * MS));
    }

    #[test]
    fn failed_updates_go_back_first_and_wait_for_the_retry() {
        let timing = Timing::new(Duration::ZERO, Duration::from_secs(1));
        let t0 = Instant::now();
        let mut batch = Batch::default();
        batch.push(b"a".to_vec(), t0);
        let taken = batch.take();
        batch.push(b"b".to_vec(), t0 + 5 * MS);
        batch.restore(taken, t0 + 10 * MS);
        assert_eq!(batch.deadline(&timing), Some(t0 + 10 * MS + RETRY_DELAY));
        // More updates do not bring the retry forward.
        batch.push(b"c".to_vec(), t0 + 20 * MS);
        assert_eq!(batch.deadline(&timing), Some(t0 + 10 * MS + RETRY_DELAY));
        assert_eq!(batch.take(), [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(batch.deadline(&timing), None);
    }
}
