//! Bad input over a real socket: each kind closes only the sender's socket, with a
//! close code and reason; the room, its document and its other clients go on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use futures_util::SinkExt;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio_tungstenite::tungstenite::Message;
use wire_websocket::ServerConfig;
use wiredb_test_support::var_uint;
use wiredb_tests::{
    close_frame, connect_synced as client, eventually, push_text, start_our_server_with, text_of,
};

const LIMIT: usize = 64 * 1024;

/// Each bad message with the close code the server must answer it with.
fn bad_messages() -> Vec<(&'static str, Message, u16)> {
    let mut huge_length = vec![0u8, 2];
    var_uint(1 << 60, &mut huge_length);
    let mut bad_update = vec![0u8, 2];
    let garbage = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02, 0x03];
    var_uint(garbage.len() as u64, &mut bad_update);
    bad_update.extend_from_slice(&garbage);
    vec![
        ("text frame", Message::text("hello"), 1003),
        (
            "truncated var-uint",
            Message::binary(vec![0u8, 1, 0x80]),
            1002,
        ),
        ("declared length 2^60", Message::binary(huge_length), 1002),
        (
            "over the frame limit",
            Message::binary(vec![0u8; LIMIT * 2]),
            1009,
        ),
        ("invalid update", Message::binary(bad_update), 1002),
        ("unknown sync step", Message::binary(vec![0u8, 9, 0]), 1002),
    ]
}

/// Sends `message` on a fresh socket in `url`; returns the close code received.
async fn close_code_for(url: &str, message: Message) -> Option<(u16, String)> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // The server may close while we send (a big frame); that is the expected outcome.
    let _ = socket.send(message).await;
    close_frame(&mut socket).await
}

#[tokio::test]
async fn each_kind_of_bad_input_closes_only_its_socket() {
    let server = start_our_server_with(ServerConfig::default().max_frame_size(LIMIT)).await;
    let url = format!("{}/victim", server.url());
    let alice = client(&url).await;
    let bob = client(&url).await;
    push_text(alice.doc(), "start");
    eventually("bob synced", || text_of(bob.doc()) == "start").await;

    for (what, message, expected) in bad_messages() {
        let closed = close_code_for(&url, message).await;
        let (code, reason) = closed.unwrap_or_else(|| panic!("{what}: no close frame"));
        assert_eq!(code, expected, "{what}: close code (reason {reason:?})");
        assert!(!reason.is_empty(), "{what}: a close reason is given");

        // The room and its clients are unaffected.
        push_text(alice.doc(), ".");
        let expected_text = text_of(alice.doc());
        eventually(&format!("bob still syncing after {what}"), || {
            text_of(bob.doc()) == expected_text
        })
        .await;
        let room = server.server().manager().room("victim").unwrap();
        assert_eq!(text_of(room.doc()), expected_text, "{what} changed the doc");
    }

    // Random binary: whatever the server makes of it, it keeps the doc and keeps
    // accepting; a socket it closes is told why. Half the frames start with a real
    // message type (sync, awareness), so that they reach the decoders: a random first
    // byte is mostly an unknown type, which is ignored.
    let mut rng = StdRng::seed_from_u64(7);
    let mut closed_with_reason = 0;
    for n in 0..40 {
        let len = rng.random_range(1..200);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if n % 2 == 0 {
            bytes[0] = rng.random_range(0..2);
        }
        let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let _ = socket.send(Message::Binary(Bytes::from(bytes))).await;
        let answer = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            close_frame(&mut socket),
        )
        .await;
        if let Ok(Some((code, reason))) = answer {
            assert!(
                [1002, 1003, 1008, 1009].contains(&code),
                "close code {code}"
            );
            assert!(!reason.is_empty(), "close {code} without a reason");
            closed_with_reason += 1;
        }
        let _ = socket.close(None).await;
    }
    assert!(closed_with_reason > 0, "no random frame was refused");
    push_text(bob.doc(), "!");
    eventually("alice still syncing after random input", || {
        text_of(alice.doc()).ends_with('!')
    })
    .await;
    let newcomer = client(&url).await;
    assert_eq!(text_of(newcomer.doc()), text_of(alice.doc()));
    server.shutdown().await.unwrap();
}
