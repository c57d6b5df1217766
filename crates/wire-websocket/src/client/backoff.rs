//! Reconnection delays: exponential, capped, with jitter so that the clients of a
//! restarted server do not all come back in the same millisecond.

use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::StdRng};

/// How long to wait before each reconnection attempt.
///
/// Attempt `n` (from 0) waits `initial × multiplier^n`, capped at `max`; with jitter
/// the wait is drawn uniformly from its upper half, `[d/2, d]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// The first delay (default 100 ms).
    pub initial: Duration,
    /// The longest delay (default 2.5 s, as y-websocket's `maxBackoffTime`).
    pub max: Duration,
    /// Growth per failed attempt (default 2).
    pub multiplier: f64,
    /// Randomise each delay (default true).
    pub jitter: bool,
    /// Give up after this many failed attempts in a row (default: never).
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(2500),
            multiplier: 2.0,
            jitter: true,
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// The delay before attempt `attempt` (0 = the first retry), or `None` once
    /// [`Backoff::max_attempts`] is used up.
    pub fn delay(&self, attempt: u32, rng: &mut Jitter) -> Option<Duration> {
        if self.max_attempts.is_some_and(|max| attempt >= max) {
            return None;
        }
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let grown = self.initial.as_secs_f64() * self.multiplier.max(1.0).powi(exponent);
        let capped = grown.min(self.max.as_secs_f64()).max(0.0);
        let seconds = if self.jitter {
            rng.0.random_range(capped / 2.0..=capped)
        } else {
            capped
        };
        // `from_secs_f64` panics past `Duration::MAX` (a `max` of `Duration::MAX`
        // means "no cap"); such a delay is the cap itself.
        Some(Duration::try_from_secs_f64(seconds).unwrap_or(self.max))
    }
}

/// The random source of the jitter; one per client.
pub struct Jitter(StdRng);

impl Jitter {
    /// A jitter source seeded from the clock and the caller, so clients differ.
    pub(crate) fn new(salt: usize) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        Jitter(StdRng::seed_from_u64(nanos ^ (salt as u64).rotate_left(32)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap() {
        let backoff = Backoff {
            jitter: false,
            ..Backoff::default()
        };
        let mut rng = Jitter::new(1);
        let delays: Vec<_> = (0..8)
            .map(|n| backoff.delay(n, &mut rng).unwrap())
            .collect();
        assert_eq!(delays[0], Duration::from_millis(100));
        assert_eq!(delays[1], Duration::from_millis(200));
        assert_eq!(delays[4], Duration::from_millis(1600));
        assert_eq!(delays[7], Duration::from_millis(2500));
    }

    #[test]
    fn an_uncapped_backoff_does_not_overflow() {
        let backoff = Backoff {
            max: Duration::MAX,
            ..Backoff::default()
        };
        let mut rng = Jitter::new(3);
        for attempt in [0, 10, 100, 2000, u32::MAX] {
            assert!(backoff.delay(attempt, &mut rng).is_some());
        }
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let backoff = Backoff::default();
        let mut rng = Jitter::new(2);
        for attempt in 0..20 {
            let d = backoff.delay(attempt, &mut rng).unwrap();
            let full = (0.1 * 2f64.powi(attempt as i32)).min(2.5);
            assert!(d.as_secs_f64() >= full / 2.0 - 1e-9 && d.as_secs_f64() <= full + 1e-9);
        }
    }

    #[test]
    fn attempts_can_be_capped() {
        let backoff = Backoff {
            max_attempts: Some(2),
            ..Backoff::default()
        };
        let mut rng = Jitter::new(3);
        assert!(backoff.delay(1, &mut rng).is_some());
        assert!(backoff.delay(2, &mut rng).is_none());
    }
}
