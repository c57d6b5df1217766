//! Interop over WebSocket with pycrdt-websocket 0.16.5 (the Jupyter side of the Yjs world):
//! its client (pycrdt's `Provider` on an httpx-ws socket) in our rooms, and our client in
//! the rooms of its server (`WebsocketServer` + `ASGIServer` under Hypercorn), next to a
//! pycrdt-websocket client and a y-websocket client.
//!
//! The peers run from `tests/interop/.venv-pycrdt-ws` (their own venv: pycrdt-websocket
//! needs pycrdt 0.14, Python wiredb 0.7.1 pins 0.12); `tests/interop/README.md` has the
//! scripts' conventions and what differs from y-websocket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use wiredb_tests::{
    PATIENCE, Peer, awareness_users, connect_synced, eventually, listening_url, map_json,
    push_text, run_to_end, run_to_final, set_map, start_our_server, text_of,
};

/// `--url URL --room ROOM --timeout 60 EXTRA...`
fn client_args(url: &str, room: &str, extra: &[&str]) -> Vec<String> {
    wiredb_tests::client_args(url, room, &[&["--timeout", "60"], extra].concat())
}

/// What our client wrote before the pycrdt-websocket client joined reaches it in the
/// server's SyncStep2; what it writes while both are connected, as Update messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pycrdt_websocket_client_reads_text_and_map_written_by_our_client() {
    let server = start_our_server().await;
    let url = server.url();
    let ours = connect_synced(&format!("{url}/shared")).await;
    push_text(ours.doc(), "from rust;");
    set_map(ours.doc(), "r", "1");
    let room = server.server().manager().room("shared").unwrap();
    eventually("the room has our edits", || {
        text_of(room.doc()) == "from rust;"
    })
    .await;

    let mut theirs = Peer::pycrdt_websocket(
        "pycrdt_ws_client.py",
        &client_args(&url, "shared", &["--stdin", "--quiet"]),
    );
    theirs.expect_event("synced").await;
    let got = theirs
        .wait_for(json!({"cmd": "wait", "text": ["from rust;"], "map": {"r": "1"}, "timeout": 30}))
        .await;
    assert_eq!(got["text"], "from rust;", "{got}");
    assert_eq!(got["map"], json!({"r": "1"}), "{got}");

    // Live edits, while both are connected.
    push_text(ours.doc(), " live;");
    set_map(ours.doc(), "live", "yes");
    let got = theirs
        .wait_for(json!({"cmd": "wait", "text": ["from rust; live;"],
                         "map": {"live": "yes"}, "timeout": 30}))
        .await;
    assert_eq!(got["map"], json!({"r": "1", "live": "yes"}), "{got}");

    let last = run_to_final(theirs).await;
    assert_eq!(last["text"], "from rust; live;");
    ours.close().await.unwrap();
    server.shutdown().await.unwrap();
}

/// The pycrdt-websocket client's edits reach our connected client live, and stay in our
/// room for a client that joins after it left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_written_by_a_pycrdt_websocket_client_reaches_our_client() {
    let server = start_our_server().await;
    let url = server.url();
    let ours = connect_synced(&format!("{url}/from-python")).await;

    let theirs = Peer::pycrdt_websocket(
        "pycrdt_ws_client.py",
        &client_args(
            &url,
            "from-python",
            &["--text", "from python;", "--map", "p=2", "--hold", "0.3"],
        ),
    );
    eventually("our client gets the pycrdt-websocket client's text", || {
        text_of(ours.doc()) == "from python;"
    })
    .await;
    eventually("our client gets its map entry", || {
        map_json(ours.doc()) == json!({"p": "2"})
    })
    .await;
    let last = run_to_final(theirs).await;
    assert_eq!(last["text"], "from python;");

    let late = connect_synced(&format!("{url}/from-python")).await;
    assert_eq!(text_of(late.doc()), "from python;");
    assert_eq!(map_json(late.doc()), json!({"p": "2"}));
    late.close().await.unwrap();
    ours.close().await.unwrap();
    server.shutdown().await.unwrap();
}

/// Our client in a room of the pycrdt-websocket server, with a pycrdt-websocket client
/// (document) and a y-websocket client (awareness, which the pycrdt client lacks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_in_a_pycrdt_websocket_server_room() {
    let mut server = Peer::pycrdt_websocket("pycrdt_ws_server.py", &["--timeout", "60"]);
    let listening = server.expect_event("listening").await;
    assert_eq!(listening["version"], "0.16.5");
    let url = listening_url(&listening);

    let ours = connect_synced(&format!("{url}/exchange")).await;
    // pycrdt-websocket names the room after the raw ASGI path, leading '/' included.
    let opened = server.expect_event("room-opened").await;
    assert_eq!(opened["room"], "/exchange");
    push_text(ours.doc(), "from rust;");
    set_map(ours.doc(), "r", "1");

    let theirs = Peer::pycrdt_websocket(
        "pycrdt_ws_client.py",
        &client_args(
            &url,
            "exchange",
            &[
                "--wait-text",
                "from rust;",
                "--wait-map",
                "r=1",
                "--text",
                "from peer;",
                "--map",
                "p=2",
                "--hold",
                "0.5",
            ],
        ),
    );
    eventually(
        "our client gets the pycrdt-websocket client's edits",
        || text_of(ours.doc()).contains("from peer;") && map_json(ours.doc())["p"] == "2",
    )
    .await;
    let last = run_to_final(theirs).await;
    assert!(
        last["text"].as_str().unwrap().contains("from rust;"),
        "{last}"
    );
    assert_eq!(last["map"], json!({"r": "1", "p": "2"}));
    let text = text_of(ours.doc());
    assert!(
        text == "from rust;from peer;" || text == "from peer;from rust;",
        "{text}"
    );

    // Awareness goes through the room's relay. The server does not replay known states
    // to a newcomer, so each side sees the other's state only if it was announced after
    // it joined: the js client joins first, and ours sets its state after that.
    let mut js = Peer::node(
        "js_client.js",
        &client_args(
            &url,
            "exchange",
            &["--stdin", "--quiet", "--awareness", r#"{"user":"js"}"#],
        ),
    );
    js.expect_event("synced").await;
    let got = js
        .wait_for(json!({"cmd": "wait", "text": ["from rust;", "from peer;"], "timeout": 30}))
        .await;
    assert_eq!(got["text"], text.as_str());
    eventually("our client sees the js client's awareness", || {
        ours.awareness_states()
            .iter()
            .any(|(_, state)| state == r#"{"user":"js"}"#)
    })
    .await;
    ours.set_local_awareness(r#"{"user":"rust"}"#);
    js.wait_for(json!({"cmd": "wait", "awareness_count": 2, "timeout": 30}))
        .await;
    let dump = js.dump().await;
    assert!(awareness_users(&dump).contains(&json!("rust")), "{dump}");

    // Withdrawing our state (a `null` awareness update) is relayed too.
    ours.clear_local_awareness();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let dump = js.dump().await;
        if !awareness_users(&dump).contains(&json!("rust")) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "js still sees our state: {dump}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    run_to_final(js).await;
    ours.close().await.unwrap();
    // The last client gone, the room is deleted (the next one would start empty).
    let closed = server.expect_event("room-closed").await;
    assert_eq!(closed["room"], "/exchange");
    drop(server);
}

/// A pycrdt-websocket room announces an awareness state of its own, `{}` under its doc's
/// client id (a 53-bit number, as pycrdt 0.14 and yrs draw them; Yjs draws 32 bits), about
/// 15 s after it opened and then every 15 s; no y-websocket server does that. Our client
/// takes it like any peer's state, and stays synced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_sees_the_awareness_state_of_a_pycrdt_websocket_room_itself() {
    let mut server = Peer::pycrdt_websocket("pycrdt_ws_server.py", &["--timeout", "60"]);
    let url = listening_url(&server.expect_event("listening").await);
    let ours = connect_synced(&format!("{url}/lone")).await;
    let own_id = ours.doc().client_id().get();
    ours.set_local_awareness(r#"{"user":"rust"}"#);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let room_state = loop {
        let states = ours.awareness_states();
        if let Some(state) = states.iter().find(|(id, _)| *id != own_id) {
            break state.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no awareness state from the room after 40 s; states: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(room_state.1, "{}", "{room_state:?}");
    assert!(room_state.0 < 1 << 53, "{room_state:?}");
    // Our own state, echoed by the room's relay, is still ours.
    assert!(
        ours.awareness_states()
            .iter()
            .any(|(id, state)| *id == own_id && state == r#"{"user":"rust"}"#),
        "{:?}",
        ours.awareness_states()
    );
    // Still synced: a pycrdt-websocket client joining now gets our text.
    push_text(ours.doc(), "still here");
    let theirs = Peer::pycrdt_websocket(
        "pycrdt_ws_client.py",
        &client_args(&url, "lone", &["--wait-text", "still here"]),
    );
    assert_eq!(run_to_end(theirs).await["text"], "still here");
    ours.close().await.unwrap();
    drop(server);
}
