//! Hostile peers over real sockets: what one peer can make the server spend is
//! bounded, and going over a bound closes that peer with a reason while the room and
//! its other clients go on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use wire_websocket::{Access, AsyncWebSocketServer, ConnectRequest, Rejection};
use wiredb::protocol::{encode_awareness, encode_sync_step1};
use wiredb::yrs::StateVector;
use wiredb::yrs::sync::awareness::{AwarenessUpdate, AwarenessUpdateEntry};
use wiredb_test_support::counted_frame;
use wiredb_tests::{
    RawSocket, close_frame, connect_synced as client, eventually, push_text, set_map,
    start_our_server, text_of,
};

async fn raw(url: &str) -> RawSocket {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// One frame holding `n` SyncStep1s with an empty state vector: each asks for the
/// whole document.
fn many_sync_step1s(n: usize) -> Message {
    let one = encode_sync_step1(&StateVector::default());
    Message::binary(one.repeat(n))
}

/// Reads `socket` until the server's close: how many frames came before it, and the
/// close code and reason.
async fn answers_until_close(socket: &mut RawSocket) -> (usize, Option<(u16, String)>) {
    use futures_util::StreamExt;
    wiredb_tests::within(async {
        let mut frames = 0;
        while let Some(next) = socket.next().await {
            match next {
                Ok(Message::Close(frame)) => {
                    let close = frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()));
                    return (frames, close);
                }
                Ok(Message::Binary(_)) => frames += 1,
                Ok(_) => {}
                Err(_) => return (frames, None),
            }
        }
        (frames, None)
    })
    .await
}

/// The room's doc grown to about `kib` KiB by a client, which stays connected.
async fn room_of(url: &str, kib: usize) -> wire_websocket::AsyncWebSocketClient {
    let writer = client(url).await;
    for _ in 0..kib {
        push_text(writer.doc(), &"x".repeat(1024));
    }
    writer
}

#[tokio::test]
async fn a_frame_of_sync_step1s_costs_the_peer_budget_not_one_answer_each() {
    let server = start_our_server().await;
    let url = format!("{}/big", server.url());
    let writer = room_of(&url, 100).await;
    let observer = client(&url).await;
    eventually("the doc reached the observer", || {
        text_of(observer.doc()).len() == 100 * 1024
    })
    .await;

    // 500 answers of 100 KiB each (50 MB) against a budget of 8 MiB; fewer than the
    // 1024 frames a queue holds, so only the byte budget can stop it.
    let mut hostile = raw(&url).await;
    hostile.send(many_sync_step1s(500)).await.unwrap();
    let (answers, close) = answers_until_close(&mut hostile).await;
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("too slow"), "{reason}");
    // 8 MiB of 100 KiB answers (and the handshake's frames), not 500 answers.
    assert!(answers <= 90, "{answers} answers were sent");

    push_text(writer.doc(), "!");
    eventually("the room goes on", || {
        text_of(observer.doc()).ends_with('!')
    })
    .await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn queries_of_a_read_only_peer_are_bounded_the_same_way() {
    let viewers_only = |_: &ConnectRequest| Ok::<_, Rejection>(Access::ReadOnly);
    let server = AsyncWebSocketServer::builder()
        .connect_hook(viewers_only)
        .build()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let url = format!("{}/big", server.url());
    // A room with 100 KiB of document, loaded directly: every peer here is read-only.
    let room = server.server().manager().join("big").await.unwrap();
    push_text(room.room().doc(), &"y".repeat(100 * 1024));
    let mut hostile = raw(&url).await;
    hostile.send(many_sync_step1s(500)).await.unwrap();
    let (code, reason) = close_frame(&mut hostile).await.expect("a close frame");
    assert_eq!(code, 1008, "{reason}");
    drop(room);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_slow_reader_is_dropped_by_bytes_queued_not_frames() {
    let server = start_our_server().await;
    let url = format!("{}/stream", server.url());
    let writer = client(&url).await;
    // Joins, then never reads.
    let stalled = raw(&url).await;
    let room = server.server().manager().room("stream").unwrap();
    eventually("both peers joined", || room.peer_count() == 2).await;
    // 32 updates of 1 MiB (map entries, so that each costs yrs its own size): far
    // under 1024 frames, far over 8 MiB plus what the loopback socket buffers hold.
    let chunk = "z".repeat(1024 * 1024);
    for key in 0..32 {
        set_map(writer.doc(), &key.to_string(), &chunk);
        tokio::task::yield_now().await;
    }
    eventually("the stalled reader is dropped", || room.peer_count() == 1).await;
    drop(stalled);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn declared_counts_the_bytes_cannot_hold_are_refused_before_decoding() {
    let server = start_our_server().await;
    let url = format!("{}/counts", server.url());
    let bystander = client(&url).await;

    // SyncStep1 declaring 2^29 state-vector entries in 5 bytes.
    let mut hostile = raw(&url).await;
    hostile
        .send(Message::binary(counted_frame(&[0, 0], 1 << 29, &[])))
        .await
        .unwrap();
    let (code, reason) = close_frame(&mut hostile).await.expect("a close frame");
    assert_eq!(code, 1002, "{reason}");
    assert!(reason.contains("declares 536870912 entries"), "{reason}");

    // An awareness update declaring 2^28 entries.
    let mut hostile = raw(&url).await;
    hostile
        .send(Message::binary(counted_frame(&[1], 1 << 28, &[1, 1, 0])))
        .await
        .unwrap();
    let (code, reason) = close_frame(&mut hostile).await.expect("a close frame");
    assert_eq!(code, 1002, "{reason}");
    assert!(reason.contains("awareness update declares"), "{reason}");

    push_text(bystander.doc(), "still here");
    let newcomer = client(&url).await;
    assert_eq!(text_of(newcomer.doc()), "still here");
    server.shutdown().await.unwrap();
}

/// An awareness frame of `n` states of `size` bytes each, client ids from `first`.
fn awareness(first: u64, n: u64, size: usize) -> Message {
    let json: std::sync::Arc<str> = format!("{{\"pad\":\"{}\"}}", "p".repeat(size)).into();
    let clients = (first..first + n)
        .map(|id| {
            let entry = AwarenessUpdateEntry {
                clock: 1,
                json: json.clone(),
            };
            (wiredb::yrs::ClientID::new(id), entry)
        })
        .collect();
    Message::binary(encode_awareness(&AwarenessUpdate { clients }))
}

#[tokio::test]
async fn one_connection_cannot_flood_the_awareness_and_make_a_room_unjoinable() {
    let server = start_our_server().await;
    let url = format!("{}/aware", server.url());
    let bystander = client(&url).await;

    let mut flooder = raw(&url).await;
    flooder.send(awareness(1_000, 300, 100)).await.unwrap();
    let (code, reason) = close_frame(&mut flooder).await.expect("a close frame");
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("more than 256 states"), "{reason}");

    let mut bloater = raw(&url).await;
    bloater.send(awareness(5_000, 1, 64 * 1024)).await.unwrap();
    let (code, reason) = close_frame(&mut bloater).await.expect("a close frame");
    assert_eq!(code, 1008, "{reason}");
    assert!(
        reason.contains("exceeds the limit of 8192 bytes"),
        "{reason}"
    );

    // Nothing of the refused messages is in the room: a newcomer joins and sees only
    // the bystander's state.
    bystander.set_local_awareness(r#"{"user":"bystander"}"#);
    let newcomer = client(&url).await;
    eventually("the newcomer sees the bystander", || {
        newcomer
            .awareness_states()
            .iter()
            .any(|(_, s)| s.contains("bystander"))
    })
    .await;
    assert!(
        newcomer.awareness_states().len() <= 2,
        "{:?}",
        newcomer.awareness_states()
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn silent_connections_time_out_and_cannot_exceed_the_cap() {
    use std::time::Duration;
    use tokio::io::AsyncReadExt;
    let config = wire_websocket::ServerConfig::default()
        .header_read_timeout(Duration::from_millis(300))
        .max_connections(20);
    let server = wiredb_tests::start_our_server_with(config).await;
    let addr = server.local_addr();
    let mut silent = Vec::new();
    for _ in 0..30 {
        silent.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // Every one ends: those over the cap at once, the rest at the header timeout.
    for (n, tcp) in silent.iter_mut().enumerate() {
        let mut rest = Vec::new();
        let ended = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut rest)).await;
        assert!(ended.is_ok(), "silent connection {n} still open after 10 s");
    }
    // Real clients get in once the silent ones are gone.
    let alice = client(&format!("{}/after", server.url())).await;
    push_text(alice.doc(), "in");
    server.shutdown().await.unwrap();
}

/// The text a room's file holds, read back without the server.
fn file_text(dir: &std::path::Path, room: &str) -> String {
    let bytes = std::fs::read(wire_file::room_path(dir, room)).unwrap_or_default();
    if bytes.is_empty() {
        return String::new();
    }
    let parsed = wire_file::parse_log(&bytes).unwrap();
    let doc = wire_file::replay(&parsed.records).unwrap();
    text_of(&doc)
}

#[tokio::test]
async fn the_last_edit_before_a_close_is_in_the_file_both_ways_round() {
    for run in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        // The client closes, then the server shuts down at once: the client's
        // close returns only once the server has read (and applied) what came before.
        let server = AsyncWebSocketServer::with_hooks(wire_file::AsyncFileServer::new(dir.path()))
            .start("127.0.0.1", 0)
            .await
            .unwrap();
        let alice = client(&format!("{}/doc", server.url())).await;
        push_text(alice.doc(), "last words");
        alice.close().await.unwrap();
        server.shutdown().await.unwrap();
        assert_eq!(
            file_text(dir.path(), "doc"),
            "last words",
            "run {run}, client closing"
        );

        // The server shuts down with an edit on its way in: it reads what the peer
        // sent before its close frame, and the file has it.
        let server = AsyncWebSocketServer::with_hooks(wire_file::AsyncFileServer::new(dir.path()))
            .start("127.0.0.1", 0)
            .await
            .unwrap();
        let url = format!("{}/doc", server.url());
        let observer = client(&url).await;
        let mut raw_peer = raw(&url).await;
        let update = {
            let doc = wiredb::yrs::Doc::with_client_id(1_000 + run);
            push_text(&doc, " and more");
            use wiredb::yrs::{ReadTxn, Transact};
            doc.transact()
                .encode_state_as_update_v1(&StateVector::default())
        };
        let room = server.server().manager().room("doc").unwrap();
        eventually("both peers joined", || room.peer_count() == 2).await;
        drop(room);
        raw_peer
            .send(Message::binary(wiredb::protocol::encode_update(&update)))
            .await
            .unwrap();
        // Reads as a real client does, so that it answers the server's close.
        let answering = tokio::spawn(async move { close_frame(&mut raw_peer).await });
        server.shutdown().await.unwrap();
        let (code, _) = answering.await.unwrap().expect("a close frame");
        assert_eq!(code, 1001, "going away");
        let text = file_text(dir.path(), "doc");
        assert!(
            text.contains("and more"),
            "run {run}, server closing: {text:?}"
        );
        drop(observer);
    }
}
