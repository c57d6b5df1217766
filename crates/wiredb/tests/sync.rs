//! Providers and rooms over in-memory channels: convergence, push/pull, relaying,
//! room lifecycle, bad input and the herd.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use wiredb_test_support::var_uint;

use bytes::Bytes;
use common::*;
use wiredb::protocol::{encode_sync_step1, encode_update};
use wiredb::{
    BoxFuture, Error, ManagerConfig, Provider, ProviderConfig, Room, RoomConfig, RoomHooks,
    RoomManager,
};
use wiredb::{Channel, CloseKind, MemoryChannel};
use yrs::{Doc, Text, Transact};

async fn converge_with(providers: usize, seed: u64) {
    let manager = RoomManager::new((), ManagerConfig::default());
    let docs: Vec<Doc> = (0..providers).map(|_| Doc::new()).collect();
    let mut clients: Vec<Option<Provider>> = docs
        .iter()
        .map(|doc| Some(connect(&manager, "shared", doc, ProviderConfig::default())))
        .collect();
    for client in clients.iter().flatten() {
        client.synced().await.unwrap();
    }
    let mut rng = Rng::new(seed);
    for round in 0..30 {
        // Now and then a client drops off, edits offline, and comes back later.
        let who = rng.below(providers as u64) as usize;
        if round % 7 == 3 {
            if let Some(client) = clients[who].take() {
                client.close().await.unwrap();
            }
        } else if clients[who].is_none() {
            clients[who] = Some(connect(
                &manager,
                "shared",
                &docs[who],
                ProviderConfig::default(),
            ));
        }
        for (i, doc) in docs.iter().enumerate() {
            if rng.below(2) == 0 {
                random_edit(doc, &mut rng, i);
            }
        }
        tokio::task::yield_now().await;
    }
    for (i, slot) in clients.iter_mut().enumerate() {
        if slot.is_none() {
            *slot = Some(connect(
                &manager,
                "shared",
                &docs[i],
                ProviderConfig::default(),
            ));
        }
    }
    let room = manager.room("shared").unwrap();
    eventually("every doc converges", || {
        let reference = state_vector(room.doc());
        docs.iter().all(|doc| state_vector(doc) == reference)
    })
    .await;
    let (text0, map0) = (text_of(&docs[0]), map_json(&docs[0]));
    assert!(!text0.is_empty());
    for doc in &docs {
        assert_eq!(text_of(doc), text0);
        assert_eq!(map_json(doc), map0);
    }
    assert_eq!(text_of(room.doc()), text0);
    manager.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_providers_converge() {
    converge_with(2, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_providers_converge() {
    for seed in 1..=3 {
        converge_with(20, seed).await;
    }
}

#[tokio::test]
async fn auto_push_off_holds_local_updates_until_push() {
    let manager = RoomManager::new((), ManagerConfig::default());
    let (doc_a, doc_b) = (Doc::new(), Doc::new());
    let a = connect(
        &manager,
        "r",
        &doc_a,
        ProviderConfig::default().auto_push(false),
    );
    let b = connect(&manager, "r", &doc_b, ProviderConfig::default());
    a.synced().await.unwrap();
    b.synced().await.unwrap();

    text(&doc_a).push(&mut doc_a.transact_mut(), "one ");
    text(&doc_a).push(&mut doc_a.transact_mut(), "two");
    assert_eq!(a.held_local_count(), 2);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(text_of(&doc_b), "");

    let arrived = b.next_remote_change();
    assert_eq!(a.push().unwrap(), 2);
    arrived.await;
    assert_eq!(text_of(&doc_b), "one two");
    assert_eq!(a.held_local_count(), 0);
    manager.shutdown().await.unwrap();
}

#[tokio::test]
async fn auto_pull_off_holds_remote_updates_until_pull() {
    let manager = RoomManager::new((), ManagerConfig::default());
    let (doc_a, doc_b) = (Doc::new(), Doc::new());
    let a = connect(&manager, "r", &doc_a, ProviderConfig::default());
    let b = connect(
        &manager,
        "r",
        &doc_b,
        ProviderConfig::default().auto_pull(false),
    );
    a.synced().await.unwrap();
    b.synced().await.unwrap();

    text(&doc_a).push(&mut doc_a.transact_mut(), "later");
    eventually("update held by b", || b.held_remote_count() == 1).await;
    assert_eq!(text_of(&doc_b), "");
    assert_eq!(b.pull().unwrap(), 1);
    assert_eq!(text_of(&doc_b), "later");
    manager.shutdown().await.unwrap();
}

/// A doc with two providers (two rooms, as a WebSocket client and a file client would
/// be) relays between them, and never sends an update back where it came from.
#[tokio::test]
async fn providers_sharing_a_doc_relay_without_echo() {
    let manager = RoomManager::new((), ManagerConfig::default());
    let shared = Doc::new();
    let upstream = connect(&manager, "one", &shared, ProviderConfig::default());
    let replica = connect(&manager, "two", &shared, ProviderConfig::default());
    upstream.synced().await.unwrap();
    replica.synced().await.unwrap();

    // A writer in room "one" reaches room "two" through the shared doc.
    let writer = Doc::new();
    let writer_provider = connect(&manager, "one", &writer, ProviderConfig::default());
    writer_provider.synced().await.unwrap();
    text(&writer).push(&mut writer.transact_mut(), "relayed");
    let room_two = manager.room("two").unwrap();
    eventually("room two receives", || text_of(room_two.doc()) == "relayed").await;

    // Count what room "one" receives from the shared doc's provider: an echo of
    // "relayed" would be a second update for a change room one already has.
    let room_one = manager.room("one").unwrap();
    let updates_into_one = Arc::new(AtomicUsize::new(0));
    let counter = updates_into_one.clone();
    room_one
        .doc()
        .transact_mut()
        .observe_update_v1("count", move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
    text(&writer).push(&mut writer.transact_mut(), "!");
    eventually("room two receives the second edit", || {
        text_of(room_two.doc()) == "relayed!"
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        updates_into_one.load(Ordering::SeqCst),
        1,
        "exactly the writer's update"
    );
    manager.shutdown().await.unwrap();
}

#[tokio::test]
async fn room_is_removed_after_its_last_peer_leaves() {
    let manager = RoomManager::new((), ManagerConfig::default());
    let a = connect(
        &manager,
        "short-lived",
        &Doc::new(),
        ProviderConfig::default(),
    );
    let b = connect(
        &manager,
        "short-lived",
        &Doc::new(),
        ProviderConfig::default(),
    );
    a.synced().await.unwrap();
    b.synced().await.unwrap();
    assert_eq!(manager.room_count(), 1);
    a.close().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(manager.room_count(), 1, "one peer is still there");
    b.close().await.unwrap();
    eventually("room removed", || manager.room_count() == 0).await;
}

#[tokio::test(start_paused = true)]
async fn grace_period_keeps_an_empty_room_for_a_rejoin() {
    let config = ManagerConfig::default().close_grace(Duration::from_secs(10));
    let manager = RoomManager::new((), config);
    let doc = Doc::new();
    let a = connect(&manager, "g", &doc, ProviderConfig::default());
    a.synced().await.unwrap();
    let room = manager.room("g").unwrap();
    a.close().await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let b = connect(&manager, "g", &Doc::new(), ProviderConfig::default());
    b.synced().await.unwrap();
    assert!(!room.is_closing(), "rejoined within the grace period");
    b.close().await.unwrap();
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(room.is_closing());
    assert_eq!(manager.room_count(), 0);
}

struct CountingHooks {
    opened: AtomicUsize,
    closed: AtomicUsize,
}

impl RoomHooks for CountingHooks {
    fn on_open<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        Box::pin(async move {
            // A slow open, so that joiners pile up on the room being created.
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.opened.fetch_add(1, Ordering::SeqCst);
            let closing = room.closing();
            let closed = Arc::new(());
            room.spawn(async move {
                closing.cancelled().await;
                drop(closed);
            });
            Ok(())
        })
    }

    fn on_close<'a>(&'a self, _room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        Box::pin(async move {
            self.closed.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_every_room_and_runs_close_hooks() {
    let hooks = Arc::new(CountingHooks {
        opened: AtomicUsize::new(0),
        closed: AtomicUsize::new(0),
    });
    let manager = RoomManager::with_shared_hooks(hooks.clone(), ManagerConfig::default());
    let mut providers = Vec::new();
    for i in 0..5 {
        let p = connect(
            &manager,
            &format!("room-{i}"),
            &Doc::new(),
            ProviderConfig::default(),
        );
        p.synced().await.unwrap();
        providers.push(p);
    }
    assert_eq!(manager.room_count(), 5);
    manager.shutdown().await.unwrap();
    assert_eq!(manager.room_count(), 0);
    assert_eq!(hooks.opened.load(Ordering::SeqCst), 5);
    assert_eq!(hooks.closed.load(Ordering::SeqCst), 5);
    for p in &providers {
        assert!(p.wait().await.is_ok());
    }
    assert!(matches!(
        manager.join("late").await,
        Err(Error::RoomClosing)
    ));
}

/// Sends `frame` as a raw peer into `room`, next to a well-behaved provider, and checks
/// that only the raw peer is dropped.
async fn bad_frame_drops_only_its_sender(frame: Bytes, expect_kind: CloseKind) {
    let room = Room::new("victim", RoomConfig::default().max_frame_size(1024));
    text(room.doc()).push(&mut room.doc().transact_mut(), "precious");
    let before = state_vector(room.doc());

    let good_doc = Doc::new();
    let (server_end, client_end) = MemoryChannel::pair("server", "good");
    let good_room = room.clone();
    tokio::spawn(async move { good_room.serve(server_end).await });
    let good = Provider::spawn(good_doc.clone(), client_end, ProviderConfig::default());
    good.synced().await.unwrap();

    let (server_end, raw) = MemoryChannel::pair("server", "raw");
    let bad_room = room.clone();
    let serving = tokio::spawn(async move { bad_room.serve(server_end).await });
    raw.send(frame).await.unwrap();
    let result = serving.await.unwrap();
    assert!(result.is_err(), "bad frame must end that peer");
    assert!(result.unwrap_err().is_peer_fault());
    // The raw peer is told why (after the handshake frames the room sent it).
    while raw.recv().await.is_some() {}
    assert_eq!(raw.peer_close_reason().map(|r| r.kind), Some(expect_kind));

    assert_eq!(state_vector(room.doc()), before);
    assert_eq!(text_of(room.doc()), "precious");
    // The good peer still syncs both ways.
    let arrived = good.next_remote_change();
    let other = Doc::new();
    let (server_end, client_end) = MemoryChannel::pair("server", "other");
    let other_room = room.clone();
    tokio::spawn(async move { other_room.serve(server_end).await });
    let other_provider = Provider::spawn(other.clone(), client_end, ProviderConfig::default());
    other_provider.synced().await.unwrap();
    text(&other).push(&mut other.transact_mut(), " still syncing");
    arrived.await;
    assert_eq!(text_of(&good_doc), "precious still syncing");
    room.close().await;
}

#[tokio::test]
async fn bad_input_random_bytes() {
    let mut rng = Rng::new(7);
    let mut failures = 0;
    for _ in 0..50 {
        let len = 1 + rng.below(64) as usize;
        // Start with a sync tag so the bytes get past the message-type dispatch.
        let mut frame = vec![0, rng.below(3) as u8];
        frame.extend((0..len).map(|_| rng.next() as u8));
        let room = Room::new("r", RoomConfig::default());
        let (server_end, raw) = MemoryChannel::pair("server", "raw");
        let serving = tokio::spawn({
            let room = room.clone();
            async move { room.serve(server_end).await }
        });
        raw.send(Bytes::from(frame)).await.unwrap();
        raw.close(wiredb::CloseReason::normal()).await.unwrap();
        if serving.await.unwrap().is_err() {
            failures += 1;
        }
        assert_eq!(text_of(room.doc()), "");
    }
    assert!(
        failures > 40,
        "random bytes must almost always be rejected: {failures}"
    );
    bad_frame_drops_only_its_sender(
        Bytes::from_static(&[0, 2, 0xff, 0xff, 0x01, 7]),
        CloseKind::ProtocolError,
    )
    .await;
}

#[tokio::test]
async fn bad_input_truncated_var_uint() {
    bad_frame_drops_only_its_sender(Bytes::from_static(&[0, 2, 0x80]), CloseKind::ProtocolError)
        .await;
}

#[tokio::test]
async fn bad_input_declared_length_2_pow_60() {
    let mut frame = vec![0, 2];
    var_uint(1 << 60, &mut frame);
    frame.extend_from_slice(&[1, 2, 3]);
    bad_frame_drops_only_its_sender(Bytes::from(frame), CloseKind::ProtocolError).await;
}

#[tokio::test]
async fn bad_input_update_rejected_by_yrs() {
    // A well-framed update message whose payload is not a valid update.
    let frame = encode_update(&[5, 200, 1, 2, 3, 4, 5, 6, 7]);
    bad_frame_drops_only_its_sender(frame, CloseKind::ProtocolError).await;
}

#[tokio::test]
async fn bad_input_frame_over_the_limit() {
    let frame = encode_update(&vec![0u8; 4096]);
    bad_frame_drops_only_its_sender(frame, CloseKind::TooBig).await;
}

#[tokio::test]
async fn unknown_message_types_do_not_disconnect() {
    let room = Room::new("r", RoomConfig::default());
    let (server_end, raw) = MemoryChannel::pair("server", "raw");
    let serving = tokio::spawn({
        let room = room.clone();
        async move { room.serve(server_end).await }
    });
    raw.send(Bytes::from_static(&[99, 1, 2, 3])).await.unwrap();
    raw.send(encode_sync_step1(&Default::default()))
        .await
        .unwrap();
    // The room answers the SyncStep1 that followed the unknown message.
    let mut frames = 0;
    while frames < 2 {
        raw.recv().await.unwrap().unwrap();
        frames += 1;
    }
    raw.close(wiredb::CloseReason::normal()).await.unwrap();
    assert!(serving.await.unwrap().is_ok());
}

#[tokio::test]
async fn slow_peer_is_disconnected_not_buffered() {
    let room = Room::new("r", RoomConfig::default().peer_queue_capacity(8));
    // A channel with room for one frame that nobody reads: the room's writer blocks,
    // its queue fills, and the peer must be dropped.
    let (server_end, _stalled) = MemoryChannel::pair_with_capacity("server", "stalled", 1);
    let serving = tokio::spawn({
        let room = room.clone();
        async move { room.serve(server_end).await }
    });
    tokio::task::yield_now().await;
    for i in 0..100 {
        text(room.doc()).push(&mut room.doc().transact_mut(), &i.to_string());
        tokio::task::yield_now().await;
    }
    let result = tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("slow peer dropped")
        .unwrap();
    assert!(matches!(result, Err(Error::SlowPeer { capacity: 8, .. })));
    assert_eq!(room.peer_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herd_of_1000_joins_one_new_room() {
    let hooks = Arc::new(CountingHooks {
        opened: AtomicUsize::new(0),
        closed: AtomicUsize::new(0),
    });
    let manager = RoomManager::with_shared_hooks(hooks.clone(), ManagerConfig::default());
    let start = Arc::new(tokio::sync::Barrier::new(1000));
    let mut joins = Vec::new();
    for i in 0..1000 {
        let manager = manager.clone();
        let start = start.clone();
        joins.push(tokio::spawn(async move {
            let doc = Doc::new();
            start.wait().await;
            let provider = connect(&manager, "herd", &doc, ProviderConfig::default());
            provider.synced().await.unwrap();
            if i == 0 {
                text(&doc).push(&mut doc.transact_mut(), "first");
            }
            (doc, provider)
        }));
    }
    let mut peers = Vec::new();
    for join in joins {
        peers.push(join.await.unwrap());
    }
    assert_eq!(manager.room_count(), 1);
    assert_eq!(
        hooks.opened.load(Ordering::SeqCst),
        1,
        "exactly one room was created"
    );
    let room = manager.room("herd").unwrap();
    assert_eq!(room.peer_count(), 1000);
    eventually("every peer has the first edit", || {
        peers.iter().all(|(doc, _)| text_of(doc) == "first")
    })
    .await;
    manager.shutdown().await.unwrap();
    assert_eq!(hooks.closed.load(Ordering::SeqCst), 1);
}

/// A document larger than the per-peer byte budget can still be joined: its first
/// sync is the one frame over the budget a peer may hold, handshake frames waiting or
/// not, and edits keep flowing to the joiner meanwhile.
#[tokio::test]
async fn a_document_larger_than_the_byte_budget_can_be_joined() {
    let config = RoomConfig::default().peer_queue_bytes(64 * 1024);
    let manager = RoomManager::new((), ManagerConfig::default().room(config));
    let writer_doc = Doc::new();
    let writer = connect(&manager, "big", &writer_doc, ProviderConfig::default());
    writer.synced().await.unwrap();
    text(&writer_doc).push(&mut writer_doc.transact_mut(), &"x".repeat(256 * 1024));
    let room = manager.room("big").unwrap();
    eventually("the room has the document", || {
        text_of(room.doc()).len() == 256 * 1024
    })
    .await;
    for n in 0..3 {
        let joiner_doc = Doc::new();
        let joiner = connect(&manager, "big", &joiner_doc, ProviderConfig::default());
        joiner.synced().await.unwrap();
        text(&writer_doc).push(&mut writer_doc.transact_mut(), "!");
        let want = 256 * 1024 + n + 1;
        eventually("the joiner has it all", || {
            text_of(&joiner_doc).len() == want
        })
        .await;
        joiner.close().await.unwrap();
    }
    writer.close().await.unwrap();
    manager.shutdown().await.unwrap();
}
