//! How a room gathers frames into writes: a busy room lingers, so that a burst goes
//! out in few writes; a quiet room writes each frame at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::text;
use tokio::sync::Notify;
use wiredb::{Channel, CloseReason, Result, Room, RoomConfig, SendNow};
use yrs::{Text, Transact};

/// A peer's side that never sends: its `recv` ends once the room closes it.
#[derive(Clone, Default)]
struct Hangup(Arc<Notify>);

impl Hangup {
    async fn recv(&self) -> Option<Result<Bytes>> {
        self.0.notified().await;
        None
    }

    fn close(&self) -> Result<()> {
        self.0.notify_waiters();
        Ok(())
    }
}

/// A peer that records how many frames each write carried, and never sends.
/// With `at_once`, it takes every frame offered at once (`try_send_now`), and
/// counts those apart.
#[derive(Clone, Default)]
struct Recorder {
    writes: Arc<Mutex<Vec<usize>>>,
    wrote: Arc<Notify>,
    closed: Hangup,
    at_once: Option<Arc<Mutex<usize>>>,
}

impl Recorder {
    fn at_once() -> Self {
        Recorder {
            at_once: Some(Arc::default()),
            ..Recorder::default()
        }
    }

    /// Frames taken at once, with no writer task.
    fn sent_at_once(&self) -> usize {
        self.at_once.as_ref().map_or(0, |n| *n.lock().unwrap())
    }

    fn writes(&self) -> Vec<usize> {
        self.writes.lock().unwrap().clone()
    }

    fn frames(&self) -> usize {
        self.writes().iter().sum()
    }

    fn record(&self, frames: usize) {
        self.writes.lock().unwrap().push(frames);
        self.wrote.notify_waiters();
    }

    /// Waits until `frames` frames in all were written.
    async fn written(&self, frames: usize) {
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let wrote = self.wrote.notified();
                if self.frames() >= frames {
                    return;
                }
                wrote.await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{frames} frames not written in 5 s: {:?}", self.writes()));
    }
}

impl Channel for Recorder {
    fn id(&self) -> &str {
        "recorder"
    }

    async fn send(&self, _frame: Bytes) -> Result<()> {
        self.record(1);
        Ok(())
    }

    async fn send_batch(&self, frames: Vec<Bytes>) -> Result<()> {
        self.record(frames.len());
        Ok(())
    }

    fn try_send_now(&self, frames: &[Bytes]) -> SendNow {
        let Some(at_once) = &self.at_once else {
            return SendNow::NotNow;
        };
        *at_once.lock().unwrap() += frames.len();
        self.record(frames.len());
        SendNow::Sent
    }

    async fn recv(&self) -> Option<Result<Bytes>> {
        self.closed.recv().await
    }

    async fn close(&self, _reason: CloseReason) -> Result<()> {
        self.closed.close()
    }
}

/// Joins a recorder to `room` and waits for the room's greeting (SyncStep1 and the
/// awareness states) to be written.
async fn join(room: &Room) -> Recorder {
    join_as(room, Recorder::default()).await
}

async fn join_as(room: &Room, recorder: Recorder) -> Recorder {
    tokio::spawn({
        let room = room.clone();
        let peer = recorder.clone();
        async move { room.serve(peer).await }
    });
    recorder.written(1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    recorder
}

/// `count` edits, `pause` apart.
async fn edit_every(room: &Room, count: usize, pause: Duration) {
    for i in 0..count {
        edit(room, i);
        tokio::time::sleep(pause).await;
    }
}

fn edit(room: &Room, i: usize) {
    text(room.doc()).push(&mut room.doc().transact_mut(), &i.to_string());
}

#[tokio::test]
async fn a_busy_room_gathers_a_burst_into_few_writes() {
    // Busy above 100 relays a second: from the 11th update of the burst on.
    let room = Room::new(
        "busy",
        RoomConfig::default()
            .linger(Duration::from_millis(200))
            .linger_above(100),
    );
    let peer = join(&room).await;
    let greeting = peer.frames();
    // 2 ms apart: time for the writer to write each one, were it not lingering.
    edit_every(&room, 40, Duration::from_millis(2)).await;
    peer.written(greeting + 40).await;
    // The first 10 or so go out one by one; the 30 after them in a write or two
    // (the burst lasts about 80 ms, the linger 200). Without lingering: 40 writes.
    let updates_writes = peer.writes().len() - greeting_writes(&peer, greeting);
    assert!(
        updates_writes <= 15,
        "40 updates in {updates_writes} writes: {:?}",
        peer.writes()
    );
}

#[tokio::test]
async fn a_quiet_room_writes_each_frame_at_once() {
    // A linger of 10 s would fail every wait below: a quiet room must not linger.
    let room = Room::new(
        "quiet",
        RoomConfig::default().linger(Duration::from_secs(10)),
    );
    let peer = join(&room).await;
    let greeting = peer.frames();
    for i in 0..5 {
        edit(&room, i);
        peer.written(greeting + i + 1).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(peer.frames(), greeting + 5);
}

/// How many writes carried the first `frames` frames (the greeting).
fn greeting_writes(peer: &Recorder, frames: usize) -> usize {
    let mut seen = 0;
    peer.writes()
        .iter()
        .take_while(|&&n| {
            let before = seen;
            seen += n;
            before < frames
        })
        .count()
}

/// A channel that can write at once gets a quiet room's frames from the fan-out
/// itself, and a busy room's from the room's flush, gathered: none from a writer.
#[tokio::test]
async fn a_quiet_room_sends_at_once_and_a_busy_one_gathers() {
    let quiet = Room::new("quiet", RoomConfig::default());
    let peer = join_as(&quiet, Recorder::at_once()).await;
    let greeting = peer.frames();
    edit_every(&quiet, 5, Duration::from_millis(30)).await;
    peer.written(greeting + 5).await;
    assert_eq!(peer.sent_at_once(), 5, "{:?}", peer.writes());

    let busy = Room::new(
        "busy",
        RoomConfig::default()
            .linger(Duration::from_millis(200))
            .linger_above(100),
    );
    let peer = join_as(&busy, Recorder::at_once()).await;
    let greeting = peer.frames();
    edit_every(&busy, 40, Duration::from_millis(2)).await;
    peer.written(greeting + 40).await;
    // Up to the threshold (10 in a 100 ms window) one by one from the fan-out, then
    // gathered by the flush: every one at once, in few writes.
    assert_eq!(peer.sent_at_once(), 40, "{:?}", peer.writes());
    let updates_writes = peer.writes().len() - greeting_writes(&peer, greeting);
    assert!(updates_writes <= 15, "{:?}", peer.writes());
}

/// A peer whose channel takes frames at once, declines some and leaves others half
/// written (so that the writer must finish them) receives exactly what a peer
/// served by its writer alone receives, in the same order: in a quiet room (from
/// the fan-out) ...
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_sent_at_once_or_queued_arrive_in_order() {
    let largest = arrive_in_order(RoomConfig::default().linger_above(0)).await;
    assert_eq!(largest, 1, "a quiet room offers one frame at a time");
}

/// ... and in a busy one (from the room's flush, and the fan-out while the rate
/// is under the threshold).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_flushed_at_once_or_queued_arrive_in_order() {
    let largest = arrive_in_order(
        RoomConfig::default()
            .linger_above(100)
            .linger(Duration::from_micros(200)),
    )
    .await;
    assert!(largest > 1, "the flush offered no gathered frames");
}

/// Runs the comparison; returns the most frames offered at once in one call.
async fn arrive_in_order(config: RoomConfig) -> usize {
    let room = Room::new("order", config);
    let plain = Sequencer::new(&[SendNow::NotNow]);
    let mixed = Sequencer::new(&[
        SendNow::Sent,
        SendNow::NotNow,
        SendNow::Started,
        SendNow::Sent,
        SendNow::Sent,
        SendNow::NotNow,
        SendNow::Started,
    ]);
    for peer in [&plain, &mixed] {
        tokio::spawn({
            let room = room.clone();
            let peer = peer.clone();
            async move { room.serve(peer).await }
        });
    }
    while room.peer_count() < 2 {
        tokio::task::yield_now().await;
    }
    const EDITS: usize = 300;
    for i in 0..EDITS {
        edit(&room, i);
        if i % 3 == 0 {
            tokio::task::yield_now().await;
        }
        if i % 20 == 0 {
            // Pauses longer than the linger, so that flushes and gathering alternate.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let expected = plain.wait_for(EDITS).await;
    let got = mixed.wait_for(EDITS).await;
    assert!(mixed.flushes() > 0, "no half-written frame was finished");
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "frames lost, doubled or out of order");
    mixed.largest_offer()
}

/// A peer that logs every frame it is given, in order, however it is given: at
/// once (answering from a cycle of `SendNow`s) or by the writer.
#[derive(Clone)]
struct Sequencer {
    answers: Arc<[SendNow]>,
    calls: Arc<Mutex<usize>>,
    largest_offer: Arc<Mutex<usize>>,
    log: Arc<Mutex<Vec<Bytes>>>,
    flushes: Arc<Mutex<usize>>,
    closed: Hangup,
}

impl Sequencer {
    fn new(answers: &[SendNow]) -> Self {
        Sequencer {
            answers: answers.into(),
            calls: Arc::default(),
            largest_offer: Arc::default(),
            log: Arc::default(),
            flushes: Arc::default(),
            closed: Hangup::default(),
        }
    }

    fn flushes(&self) -> usize {
        *self.flushes.lock().unwrap()
    }

    fn largest_offer(&self) -> usize {
        *self.largest_offer.lock().unwrap()
    }

    /// The log once it holds at least `frames` frames and has stopped growing.
    async fn wait_for(&self, frames: usize) -> Vec<Bytes> {
        let log = || self.log.lock().unwrap().clone();
        tokio::time::timeout(Duration::from_secs(10), async {
            while log().len() < frames {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("only {} frames", log().len()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        log()
    }
}

impl Channel for Sequencer {
    fn id(&self) -> &str {
        "sequencer"
    }

    async fn send(&self, frame: Bytes) -> Result<()> {
        self.log.lock().unwrap().push(frame);
        Ok(())
    }

    async fn send_batch(&self, frames: Vec<Bytes>) -> Result<()> {
        if frames.is_empty() {
            *self.flushes.lock().unwrap() += 1;
        }
        self.log.lock().unwrap().extend(frames);
        Ok(())
    }

    fn try_send_now(&self, frames: &[Bytes]) -> SendNow {
        let mut calls = self.calls.lock().unwrap();
        let answer = self.answers[*calls % self.answers.len()];
        *calls += 1;
        let mut largest = self.largest_offer.lock().unwrap();
        *largest = (*largest).max(frames.len());
        if answer != SendNow::NotNow {
            self.log.lock().unwrap().extend_from_slice(frames);
        }
        answer
    }

    async fn recv(&self) -> Option<Result<Bytes>> {
        self.closed.recv().await
    }

    async fn close(&self, _reason: CloseReason) -> Result<()> {
        self.closed.close()
    }
}
