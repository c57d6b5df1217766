//! [`Pace`]: whether a room's fan-out is busy, so that its writers linger.
//!
//! A write to a socket costs about the same for one small frame as for ten
//! (loopback: ~4 µs of kernel time either way), so in a room relaying many updates a
//! second each peer's writer waits a moment after its first frame, and whatever
//! arrives meanwhile goes out in the same write, as TCP autocorking or Kafka's
//! `linger.ms` do. A quiet room must not pay that delay: a room is busy only while it
//! relays more than a rate, measured over short windows.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The span over which a room's rate is counted.
const WINDOW: Duration = Duration::from_millis(100);

/// A room's recent rate of broadcasts. Recorded under the peer set's lock (one
/// broadcast at a time); read by the writers without it.
pub(crate) struct Pace {
    /// Broadcasts per [`WINDOW`] above which the room is busy; 0 never is.
    per_window: u32,
    window: std::sync::Mutex<Window>,
    busy: AtomicBool,
}

struct Window {
    started: Option<Instant>,
    count: u32,
}

impl Pace {
    /// Busy above `per_second` broadcasts a second (0: never busy).
    pub(crate) fn new(per_second: u32) -> Self {
        let per_window = u64::from(per_second) * WINDOW.as_millis() as u64 / 1000;
        Pace {
            per_window: u32::try_from(per_window).unwrap_or(u32::MAX),
            window: std::sync::Mutex::new(Window {
                started: None,
                count: 0,
            }),
            busy: AtomicBool::new(false),
        }
    }

    /// One broadcast, at `now`. The room is busy while the window so far, or the
    /// whole window before it, held more than the threshold.
    pub(crate) fn record(&self, now: Instant) {
        if self.per_window == 0 {
            return;
        }
        let mut window = crate::lock_unpoisoned(&self.window);
        let elapsed = window
            .started
            .map(|started| now.saturating_duration_since(started));
        match elapsed {
            Some(elapsed) if elapsed < WINDOW => {}
            Some(elapsed) => {
                // A window just ended: it decides until the next one ends, unless
                // more than one went by (the room was quiet in between).
                let was_busy = elapsed < 2 * WINDOW && window.count > self.per_window;
                self.busy.store(was_busy, Ordering::Relaxed);
                window.started = Some(now);
                window.count = 0;
            }
            None => window.started = Some(now),
        }
        window.count += 1;
        if window.count > self.per_window {
            self.busy.store(true, Ordering::Relaxed);
        }
    }

    /// Whether writers should linger.
    pub(crate) fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn a_room_is_busy_above_its_rate_and_quiet_again_below_it() {
        let start = Instant::now();
        // 100 a second: more than 10 in a 100 ms window.
        let pace = Pace::new(100);
        for i in 0..10 {
            pace.record(at(start, i * 5));
        }
        assert!(
            !pace.is_busy(),
            "10 in a window is the threshold, not above it"
        );
        pace.record(at(start, 60));
        assert!(pace.is_busy(), "the 11th in a window");
        // The next window starts busy (decided by the last one) ...
        pace.record(at(start, 120));
        assert!(pace.is_busy());
        // ... and once it ends with few, the room is quiet.
        pace.record(at(start, 230));
        assert!(!pace.is_busy());
        // A burst after a long silence is busy from its 11th broadcast on.
        for i in 0..11 {
            pace.record(at(start, 5_000 + i));
        }
        assert!(pace.is_busy());
        // After a silence of more than a window, the old burst does not count.
        pace.record(at(start, 5_400));
        assert!(!pace.is_busy());
    }

    #[test]
    fn a_threshold_of_zero_is_never_busy() {
        let start = Instant::now();
        let pace = Pace::new(0);
        for i in 0..1000 {
            pace.record(at(start, i / 100));
        }
        assert!(!pace.is_busy());
    }
}
