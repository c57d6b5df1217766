//! [`KeepAlive`] settings and [`Liveness`], the keepalive as a sans-IO state machine:
//! time and byte counts are passed in, so that it is tested with plain `Instant`s and
//! the channel only carries out what it decides (send a ping, give up).

use std::time::{Duration, Instant};

/// Keepalive of a connection: a ping after `interval` of silence from the peer, and
/// the connection is dropped when nothing at all arrives within `timeout` of that ping.
///
/// Any frame counts as a sign of life, not only the pong: a busy peer is never pinged.
/// The timeout also bounds every write by the time the peer takes *no* bytes: a peer
/// that takes no data for that long (its receive window full) is dropped rather than
/// blocking its sender for ever, while a slow but steady one gets a frame of any size.
///
/// ```
/// use std::time::Duration;
/// use wire_websocket::KeepAlive;
///
/// let keepalive = KeepAlive::default().interval(Duration::from_secs(10));
/// assert_eq!(keepalive.timeout, Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeepAlive {
    /// Silence after which a ping is sent (default 30 s).
    pub interval: Duration,
    /// How long the peer has to answer a ping (with anything), and the longest a
    /// write to it may go without progress (default 30 s).
    pub timeout: Duration,
}

impl Default for KeepAlive {
    /// 30 s / 30 s: the y-websocket reference server pings every 30 s too, and browsers
    /// answer pings on their own, so an idle but healthy tab is never dropped.
    fn default() -> Self {
        KeepAlive {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
        }
    }
}

impl KeepAlive {
    /// Sets [`KeepAlive::interval`].
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets [`KeepAlive::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// How soon a ping that found the writer busy is tried again: a burst to one peer
/// takes milliseconds.
pub(crate) const PING_RETRY: Duration = Duration::from_millis(100);

/// What the owner must do at a keepalive deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// Nothing: bytes arrived since the last deadline (a large frame on its way in).
    Nothing,
    /// Send a ping now, then report [`Liveness::ping_sent`] or, if the writer is
    /// busy, [`Liveness::ping_deferred`].
    Ping,
    /// A ping went unanswered for the whole timeout: the peer is gone.
    GiveUp,
}

/// When the peer was last heard from and whether a ping is waiting for an answer.
#[derive(Debug)]
pub(crate) struct Liveness {
    keepalive: KeepAlive,
    last_heard: Instant,
    ping_sent: Option<Instant>,
    /// Set when a ping fell due while the writer held the socket: try again then.
    ping_retry: Option<Instant>,
    /// Bytes read from the socket when the peer was last heard from.
    read_seen: u64,
}

impl Liveness {
    /// A connection that opened at `now`.
    pub(crate) fn new(keepalive: KeepAlive, now: Instant) -> Self {
        Liveness {
            keepalive,
            last_heard: now,
            ping_sent: None,
            ping_retry: None,
            read_seen: 0,
        }
    }

    /// The peer has shown it is alive (a whole message arrived, `read` bytes in all so
    /// far): wait a whole interval before pinging. The bytes are recorded too, or the
    /// next deadline would take them as new and wait yet another interval.
    pub(crate) fn heard(&mut self, now: Instant, read: u64) {
        self.last_heard = now;
        self.read_seen = read;
        self.ping_sent = None;
        self.ping_retry = None;
    }

    /// When [`Liveness::due`] must be called next.
    pub(crate) fn deadline(&self) -> Instant {
        match (self.ping_sent, self.ping_retry) {
            (Some(sent), _) => later(sent, self.keepalive.timeout),
            (None, Some(retry)) => retry,
            (None, None) => later(self.last_heard, self.keepalive.interval),
        }
    }

    /// The deadline has come, with `read` bytes read from the socket so far.
    pub(crate) fn due(&mut self, now: Instant, read: u64) -> Due {
        if read != self.read_seen {
            self.heard(now, read);
            return Due::Nothing;
        }
        if self.ping_sent.is_some() {
            return Due::GiveUp;
        }
        Due::Ping
    }

    /// The ping asked for by [`Due::Ping`] went out at `now`.
    pub(crate) fn ping_sent(&mut self, now: Instant) {
        self.ping_sent = Some(now);
        self.ping_retry = None;
    }

    /// The ping could not go out (the writer held the socket): try again shortly.
    pub(crate) fn ping_deferred(&mut self, now: Instant) {
        self.ping_retry = Some(later(now, PING_RETRY));
    }
}

/// `at + wait`, where a `wait` too long to add (`Duration::MAX`, meaning never) is a
/// century: `Instant + Duration` panics on overflow.
pub(crate) fn later<I>(at: I, wait: Duration) -> I
where
    I: Copy + std::ops::Add<Duration, Output = I> + CheckedAdd,
{
    at.checked_add_duration(wait)
        .unwrap_or_else(|| at + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// `checked_add` for both clocks the crate uses (std's, and tokio's pausable one).
pub(crate) trait CheckedAdd: Sized {
    fn checked_add_duration(self, wait: Duration) -> Option<Self>;
}

impl CheckedAdd for Instant {
    fn checked_add_duration(self, wait: Duration) -> Option<Self> {
        self.checked_add(wait)
    }
}

impl CheckedAdd for tokio::time::Instant {
    fn checked_add_duration(self, wait: Duration) -> Option<Self> {
        self.checked_add(wait)
    }
}

#[cfg(test)]
mod tests;
