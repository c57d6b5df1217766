//! How a room's writers gather frames into writes: a busy room lingers, so that a
//! burst goes out in few writes; a quiet room writes each frame at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::text;
use tokio::sync::Notify;
use wiredb::{Channel, CloseReason, Result, Room, RoomConfig};
use yrs::{Text, Transact};

/// A peer that records how many frames each write carried, and never sends.
#[derive(Clone, Default)]
struct Recorder {
    writes: Arc<Mutex<Vec<usize>>>,
    wrote: Arc<Notify>,
    closed: Arc<Notify>,
}

impl Recorder {
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

    async fn recv(&self) -> Option<Result<Bytes>> {
        self.closed.notified().await;
        None
    }

    async fn close(&self, _reason: CloseReason) -> Result<()> {
        self.closed.notify_waiters();
        Ok(())
    }
}

/// Joins a recorder to `room` and waits for the room's greeting (SyncStep1 and the
/// awareness states) to be written.
async fn join(room: &Room) -> Recorder {
    let recorder = Recorder::default();
    tokio::spawn({
        let room = room.clone();
        let peer = recorder.clone();
        async move { room.serve(peer).await }
    });
    recorder.written(1).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    recorder
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
    for i in 0..40 {
        edit(&room, i);
        // Time for the writer to write each one, were it not lingering.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
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
