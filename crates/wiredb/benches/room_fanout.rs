//! The room hot path: one small update applied to a room with N peers, until every
//! peer's frame is queued. Peers are in-memory channels whose queues are drained
//! between iterations, so the figure is the room's CPU cost (decode, apply, encode
//! once, fan out), not a transport's.
//!
//! Run with: `cargo bench -p wiredb --bench room_fanout`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use wiredb::protocol::{Connection, encode_update};
use wiredb::{Channel, MemoryChannel};
use wiredb::{Room, RoomConfig};
use yrs::sync::Awareness;
use yrs::{Doc, Text, Transact};

/// Small updates as an editor sends them: one character typed per update.
fn keystroke_updates(count: usize) -> Vec<bytes::Bytes> {
    let doc = Doc::with_client_id(42);
    let text = doc.get_or_insert_text("text");
    let updates = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = updates.clone();
    doc.transact_mut().observe_update_v1("bench", move |_, e| {
        sink.lock().unwrap().push(encode_update(&e.update));
    });
    for i in 0..count {
        text.insert(&mut doc.transact_mut(), i as u32, "x");
    }
    updates.lock().unwrap().clone()
}

fn fanout(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("room_fanout");
    group.measurement_time(Duration::from_secs(4));
    for peers in [1usize, 10, 100, 1000] {
        group.bench_with_input(BenchmarkId::from_parameter(peers), &peers, |b, &peers| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let room =
                        Room::new("bench", RoomConfig::default().peer_queue_capacity(1 << 16));
                    let mut clients = Vec::new();
                    for _ in 0..peers {
                        let (server_end, client_end) =
                            MemoryChannel::pair_with_capacity("server", "client", 1 << 16);
                        let room = room.clone();
                        tokio::spawn(async move { room.serve(server_end).await });
                        clients.push(client_end);
                    }
                    // Let every peer register.
                    while room.peer_count() < peers {
                        tokio::task::yield_now().await;
                    }
                    let updates = keystroke_updates(iters as usize);
                    // The writer of the update is a peer too: its frames go through the
                    // same Connection::receive the room uses.
                    let mut writer = Connection::server(wiredb::unique_origin("bench"));
                    let mut awareness = Awareness::new(room.doc().clone());
                    // Every client first gets the room's hello (SyncStep1).
                    for client in &clients {
                        let _ = client.recv().await;
                    }
                    let mut elapsed = Duration::ZERO;
                    for chunk in updates.chunks(256) {
                        let start = Instant::now();
                        for update in chunk {
                            writer.receive(&mut awareness, update).unwrap();
                        }
                        elapsed += start.elapsed();
                        // Drain, untimed, so that queues never fill up.
                        for client in &clients {
                            for _ in 0..chunk.len() {
                                let _ = client.recv().await;
                            }
                        }
                    }
                    room.close().await;
                    elapsed
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
