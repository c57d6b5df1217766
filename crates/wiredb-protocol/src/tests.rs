//! Two peers driven by hand, no runtime: every frame one side produces is handed to
//! the other until both are quiet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use yrs::sync::Awareness;
use yrs::{ClientID, Doc, GetString, Origin, ReadTxn, StateVector, Text, Transact};

use super::*;
use crate::ProtocolError as Error;
use crate::{AwarenessLimits, ProtocolError};

struct Peer {
    awareness: Awareness,
    connection: Connection,
    /// Updates made locally, captured the way a room or provider captures them.
    outbox: std::sync::Arc<std::sync::Mutex<Vec<Bytes>>>,
    events: Vec<Event>,
}

impl Peer {
    fn new(role: Role, client_id: u64) -> Self {
        let doc = Doc::with_client_id(client_id);
        let outbox = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let origin: Origin = (client_id + 1000).into();
        let sink = outbox.clone();
        let echo_guard = origin.clone();
        doc.transact_mut()
            .observe_update_v1("test", move |txn, event| {
                if txn.origin() != Some(&echo_guard) {
                    sink.lock().unwrap().push(encode_update(&event.update));
                }
            });
        Peer {
            awareness: Awareness::new(doc),
            connection: Connection::new(role, origin),
            outbox,
            events: Vec::new(),
        }
    }

    fn text(&self) -> String {
        let doc = self.awareness.doc();
        doc.get_or_insert_text("text").get_string(&doc.transact())
    }

    fn insert(&self, s: &str) {
        let doc = self.awareness.doc();
        let text = doc.get_or_insert_text("text");
        let mut txn = doc.transact_mut();
        let len = text.len(&txn);
        text.insert(&mut txn, len, s);
    }

    fn take_outbox(&self) -> Vec<Bytes> {
        std::mem::take(&mut *self.outbox.lock().unwrap())
    }
}

/// Delivers `frames` to `to`, then its replies back to `from`, until both are quiet.
fn deliver(frames: Vec<Bytes>, from: &mut Peer, to: &mut Peer) {
    let mut pending = frames;
    let mut forward = true;
    while !pending.is_empty() {
        let dst = if forward { &mut *to } else { &mut *from };
        let mut replies = Vec::new();
        for frame in pending {
            let outcome = dst.connection.receive(&mut dst.awareness, &frame).unwrap();
            replies.extend(outcome.replies);
            dst.events.extend(outcome.events);
        }
        pending = replies;
        forward = !forward;
    }
}

fn handshake(client: &mut Peer, server: &mut Peer) {
    let hello_client = client.connection.open(&client.awareness).unwrap();
    let hello_server = server.connection.open(&server.awareness).unwrap();
    deliver(hello_client, client, server);
    deliver(hello_server, server, client);
}

#[test]
fn handshake_exchanges_both_histories_and_marks_client_synced() {
    let mut client = Peer::new(Role::Client, 1);
    let mut server = Peer::new(Role::Server, 2);
    client.insert("from client;");
    server.insert("from server;");
    client.take_outbox();
    server.take_outbox();

    handshake(&mut client, &mut server);

    assert_eq!(client.text(), server.text());
    assert!(client.text().contains("from client;"));
    assert!(client.text().contains("from server;"));
    assert!(client.connection.is_synced());
    assert!(client.events.contains(&Event::Synced));
    // Applying the peer's changes tagged them with the connection's origin, so the
    // observer did not queue them to be echoed back.
    assert!(client.take_outbox().is_empty());
    assert!(server.take_outbox().is_empty());
}

#[test]
fn updates_flow_both_ways_after_the_handshake() {
    let mut client = Peer::new(Role::Client, 1);
    let mut server = Peer::new(Role::Server, 2);
    handshake(&mut client, &mut server);

    client.insert("a");
    let frames = client.take_outbox();
    assert_eq!(frames.len(), 1);
    deliver(frames, &mut client, &mut server);
    server.insert("b");
    let frames = server.take_outbox();
    deliver(frames, &mut server, &mut client);

    assert_eq!(client.text(), "ab");
    assert_eq!(server.text(), "ab");
    let sv_client = client.awareness.doc().transact().state_vector();
    let sv_server = server.awareness.doc().transact().state_vector();
    assert_eq!(sv_client, sv_server);
}

#[test]
fn awareness_is_added_updated_and_removed() {
    let mut client = Peer::new(Role::Client, 1);
    let mut server = Peer::new(Role::Server, 2);
    client.awareness.set_local_state_raw(r#"{"user":"alice"}"#);
    handshake(&mut client, &mut server);
    let alice = ClientID::new(1);
    assert_eq!(
        server.awareness.state::<serde_json::Value>(alice),
        Some(serde_json::json!({"user": "alice"}))
    );
    assert!(
        server
            .events
            .iter()
            .any(|e| matches!(e, Event::Awareness(s) if s.added == vec![alice]))
    );

    // update
    client.awareness.set_local_state_raw(r#"{"user":"alice2"}"#);
    let update = client.awareness.update_with_clients([alice]).unwrap();
    deliver(vec![encode_awareness(&update)], &mut client, &mut server);
    assert_eq!(
        server.awareness.state::<serde_json::Value>(alice),
        Some(serde_json::json!({"user": "alice2"}))
    );

    // removal: the client cleans its state and announces it
    client.awareness.clean_local_state();
    let update = client.awareness.update_with_clients([alice]).unwrap();
    server.events.clear();
    deliver(vec![encode_awareness(&update)], &mut client, &mut server);
    assert_eq!(server.awareness.state::<serde_json::Value>(alice), None);
    assert!(
        server
            .events
            .iter()
            .any(|e| matches!(e, Event::Awareness(s) if s.removed == vec![alice]))
    );
}

#[test]
fn query_awareness_is_answered_with_every_state() {
    let mut client = Peer::new(Role::Client, 1);
    let mut server = Peer::new(Role::Server, 2);
    server.awareness.set_local_state_raw(r#"{"user":"server"}"#);
    let query = encode_message(&yrs::sync::Message::AwarenessQuery);
    let outcome = server
        .connection
        .receive(&mut server.awareness, &query)
        .unwrap();
    assert_eq!(outcome.replies.len(), 1);
    client
        .connection
        .receive(&mut client.awareness, &outcome.replies[0])
        .unwrap();
    assert_eq!(
        client
            .awareness
            .state::<serde_json::Value>(ClientID::new(2)),
        Some(serde_json::json!({"user": "server"}))
    );
}

#[test]
fn permission_denied_is_a_typed_error() {
    let mut client = Peer::new(Role::Client, 1);
    let err = client
        .connection
        .receive(
            &mut client.awareness,
            &encode_permission_denied("bad token"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { reason } if reason == "bad token"));
}

#[test]
fn held_updates_wait_for_release() {
    let mut client = Peer::new(Role::Client, 1);
    let mut server = Peer::new(Role::Server, 2);
    client.connection.set_hold_remote_updates(true);
    handshake(&mut client, &mut server);
    server.insert("held");
    deliver(server.take_outbox(), &mut server, &mut client);
    assert_eq!(client.text(), "");
    assert_eq!(client.connection.held_count(), 1);
    assert_eq!(
        client.connection.release_held(&client.awareness).unwrap(),
        1
    );
    assert_eq!(client.text(), "held");
}

#[test]
fn read_only_peer_updates_are_dropped() {
    let mut client = Peer::new(Role::Client, 1);
    let mut server = Peer::new(Role::Server, 2);
    server.connection.set_read_only(true);
    handshake(&mut client, &mut server);
    client.insert("ignored");
    deliver(client.take_outbox(), &mut client, &mut server);
    assert_eq!(server.text(), "");
    assert!(server.events.contains(&Event::ReadOnlyUpdateDropped));
}

#[test]
fn unknown_message_types_are_ignored() {
    let mut server = Peer::new(Role::Server, 2);
    let outcome = server
        .connection
        .receive(&mut server.awareness, &[77, 1, 2])
        .unwrap();
    assert_eq!(outcome.events, vec![Event::Ignored { message_type: 77 }]);
}

#[test]
fn malformed_input_is_an_error_and_changes_nothing() {
    let mut server = Peer::new(Role::Server, 2);
    server.insert("keep");
    let mut rng_state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut errors = 0;
    for len in 0..400usize {
        let frame: Vec<u8> = (0..len % 40)
            .map(|_| {
                rng_state ^= rng_state << 13;
                rng_state ^= rng_state >> 7;
                rng_state ^= rng_state << 17;
                rng_state as u8
            })
            .collect();
        // Prefix with sync/update so the bytes reach yrs's update decoder.
        let mut as_update = vec![0, 2];
        yrs::encoding::write::Write::write_buf(&mut as_update, &frame);
        for f in [&frame[..], &as_update[..]] {
            if server.connection.receive(&mut server.awareness, f).is_err() {
                errors += 1;
            }
        }
    }
    assert!(errors > 0);
    assert_eq!(server.text(), "keep");
    // An update whose parent is a deleted/unknown type is rejected by yrs, not applied.
    let garbage = encode_update(&[1, 1, 5, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(
        server
            .connection
            .receive(&mut server.awareness, &garbage)
            .is_err()
    );
    assert_eq!(server.text(), "keep");
}

fn awareness_frame(entries: &[(u64, &str)]) -> Bytes {
    use yrs::sync::awareness::{AwarenessUpdate, AwarenessUpdateEntry};
    let clients = entries
        .iter()
        .map(|(id, json)| {
            (
                ClientID::new(*id),
                AwarenessUpdateEntry {
                    clock: 1,
                    json: (*json).into(),
                },
            )
        })
        .collect();
    encode_awareness(&AwarenessUpdate { clients })
}

#[test]
fn awareness_over_the_limits_is_refused_whole_before_it_is_applied() {
    let mut awareness = Awareness::new(Doc::new());
    let mut server = Connection::server(1u64);
    server.set_awareness_limits(AwarenessLimits::default().max_states(2).max_state_bytes(16));

    let too_large = awareness_frame(&[(10, r#"{"name":"a very long name"}"#)]);
    let err = server.receive(&mut awareness, &too_large).unwrap_err();
    assert!(
        matches!(err, ProtocolError::AwarenessStateTooLarge { limit: 16, .. }),
        "{err:?}"
    );

    server
        .receive(&mut awareness, &awareness_frame(&[(10, "{}"), (11, "{}")]))
        .unwrap();
    // Renewing its own states is free; a third one is over the limit, and nothing of
    // the refused message is applied.
    server
        .receive(&mut awareness, &awareness_frame(&[(10, r#"{"a":1}"#)]))
        .unwrap();
    let err = server
        .receive(&mut awareness, &awareness_frame(&[(11, "{}"), (12, "{}")]))
        .unwrap_err();
    assert!(
        matches!(err, ProtocolError::TooManyAwarenessStates { limit: 2 }),
        "{err:?}"
    );
    assert!(awareness.meta(ClientID::new(12)).is_none());
}

/// Found by fuzzing (`fuzz/corpus/connection/yrs-update-that-does-not-reencode`): an
/// update yrs decodes and applies, but whose pending structs it cannot encode back.
/// Applied, it made every later SyncStep1 answer panic: the room unjoinable.
#[test]
fn an_update_that_does_not_survive_reencoding_is_refused_and_the_doc_stays_usable() {
    let frame = [
        0u8, 2, 22, 1, 1, 199, 252, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0,
    ];
    let mut awareness = Awareness::new(Doc::new());
    let mut server = Connection::server(1u64);
    let err = server.receive(&mut awareness, &frame).unwrap_err();
    assert!(
        matches!(err, ProtocolError::InvalidUpdate(ref m) if m.contains("re-encoding")),
        "{err:?}"
    );
    let step1 = crate::encode_sync_step1(&StateVector::default());
    let answer = server.receive(&mut awareness, &step1).unwrap();
    assert_eq!(answer.replies.len(), 1);
}

#[test]
fn nulls_about_unknown_clients_count_against_the_awareness_limit() {
    let mut awareness = Awareness::new(Doc::new());
    let mut server = Connection::server(1u64);
    server.set_awareness_limits(AwarenessLimits::default().max_states(2));
    // Two removals of clients nobody knows: yrs keeps an entry for each.
    server
        .receive(
            &mut awareness,
            &awareness_frame(&[(20, "null"), (21, "null")]),
        )
        .unwrap();
    // States for them now are this peer's two; a third client is over the limit, and
    // a fresh null about an unknown client too.
    server
        .receive(&mut awareness, &awareness_frame(&[(20, "{}"), (21, "{}")]))
        .unwrap();
    for over in [
        awareness_frame(&[(22, "{}")]),
        awareness_frame(&[(30, "null")]),
    ] {
        let err = server.receive(&mut awareness, &over).unwrap_err();
        assert!(
            matches!(err, ProtocolError::TooManyAwarenessStates { limit: 2 }),
            "{err:?}"
        );
    }
}
