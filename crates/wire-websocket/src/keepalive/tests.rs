//! The keepalive state machine with plain `Instant`s: no runtime, no socket.

use std::time::{Duration, Instant};

use super::*;

const S: Duration = Duration::from_secs(1);

fn liveness() -> (Liveness, Instant) {
    let start = Instant::now();
    (Liveness::new(KeepAlive::default(), start), start)
}

#[test]
fn a_silent_peer_is_pinged_after_the_interval_and_dropped_after_the_timeout() {
    let (mut live, start) = liveness();
    assert_eq!(live.deadline(), start + 30 * S);
    assert_eq!(live.due(start + 30 * S, 0), Due::Ping);
    live.ping_sent(start + 30 * S);
    assert_eq!(live.deadline(), start + 60 * S);
    assert_eq!(live.due(start + 60 * S, 0), Due::GiveUp);
}

#[test]
fn a_message_resets_the_interval_and_its_bytes_are_not_counted_twice() {
    let (mut live, start) = liveness();
    // A message of 40 bytes at 10 s.
    live.heard(start + 10 * S, 40);
    assert_eq!(live.deadline(), start + 40 * S);
    // Nothing since: the ping goes out at 40 s, not one more interval later.
    assert_eq!(live.due(start + 40 * S, 40), Due::Ping);
}

#[test]
fn bytes_of_a_frame_still_arriving_are_a_sign_of_life() {
    let (mut live, start) = liveness();
    assert_eq!(live.due(start + 30 * S, 1_000), Due::Nothing);
    assert_eq!(live.deadline(), start + 60 * S);
}

#[test]
fn a_ping_that_finds_the_writer_busy_is_retried_shortly() {
    let (mut live, start) = liveness();
    assert_eq!(live.due(start + 30 * S, 0), Due::Ping);
    live.ping_deferred(start + 30 * S);
    assert_eq!(live.deadline(), start + 30 * S + PING_RETRY);
    assert_eq!(live.due(live.deadline(), 0), Due::Ping);
    live.ping_sent(start + 31 * S);
    assert_eq!(live.deadline(), start + 61 * S);
}

#[test]
fn an_answer_to_the_ping_clears_it() {
    let (mut live, start) = liveness();
    assert_eq!(live.due(start + 30 * S, 0), Due::Ping);
    live.ping_sent(start + 30 * S);
    live.heard(start + 31 * S, 2);
    assert_eq!(live.deadline(), start + 61 * S);
}

#[test]
fn durations_too_long_to_add_mean_never() {
    let start = Instant::now();
    let live = Liveness::new(KeepAlive::default().interval(Duration::MAX), start);
    assert!(live.deadline() > start + 99 * 365 * 24 * 3600 * S);
}
