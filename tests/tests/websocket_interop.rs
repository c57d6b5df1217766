//! Interop over WebSocket with the real Yjs ecosystem: y-websocket clients under Node
//! and Python wiredb clients in our rooms; our client in the rooms of the y-websocket
//! reference server and of Python wiredb's server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use wiredb_tests::{
    Peer, ReferenceServer, awareness_users, client_args, connect_synced, eventually, free_port,
    listening_url, map_json, push_text, run_to_final, start_our_server, text_of,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn y_websocket_and_python_clients_share_one_of_our_rooms() {
    let server = start_our_server().await;
    let url = server.url();
    let args = |awareness: Option<&'static str>| {
        let mut extra = vec!["--stdin", "--quiet", "--timeout", "60"];
        if let Some(state) = awareness {
            extra.extend(["--awareness", state]);
        }
        client_args(&url, "mixed", &extra)
    };
    let a_args = args(Some(r#"{"user":"A"}"#));
    let b_args = args(Some(r#"{"user":"B"}"#));
    let c_args = args(None);
    let mut js_a = Peer::node("js_client.js", &a_args);
    let mut js_b = Peer::node("js_client.js", &b_args);
    let mut py_c = Peer::python("py_client.py", &c_args);
    for peer in [&mut js_a, &mut js_b, &mut py_c] {
        peer.expect_event("synced").await;
    }

    // Concurrent edits: every command is sent before any reply is read.
    for (peer, name, value) in [
        (&mut js_a, "A", 1),
        (&mut js_b, "B", 2),
        (&mut py_c, "C", 3),
    ] {
        peer.command(json!({"cmd": "insert", "text": format!("<{name}>")}))
            .await;
        peer.command(json!({"cmd": "set", "key": name, "value": value.to_string()}))
            .await;
    }
    let all = json!({"cmd": "wait", "text": ["<A>", "<B>", "<C>"],
                     "map": {"A": "1", "B": "2", "C": "3"}, "timeout": 30});
    for peer in [&mut js_a, &mut js_b, &mut py_c] {
        peer.wait_for(all.clone()).await;
    }
    let dumps = [js_a.dump().await, js_b.dump().await, py_c.dump().await];
    let text = dumps[0]["text"].as_str().unwrap().to_owned();
    for d in &dumps {
        assert_eq!(d["text"], dumps[0]["text"], "texts diverge: {dumps:?}");
        assert_eq!(d["map"], dumps[0]["map"], "maps diverge: {dumps:?}");
    }
    let room = server.server().manager().room("mixed").unwrap();
    assert_eq!(text_of(room.doc()), text);
    assert_eq!(map_json(room.doc()), json!({"A": "1", "B": "2", "C": "3"}));

    // Awareness: B sees A's state; when A leaves, B sees it gone.
    js_b.wait_for(json!({"cmd": "wait", "awareness_count": 2, "timeout": 20}))
        .await;
    let seen_by_b = js_b.dump().await;
    assert!(
        awareness_users(&seen_by_b).contains(&json!("A")),
        "B does not see A: {seen_by_b}"
    );
    run_to_final(js_a).await;
    js_b.wait_for(json!({"cmd": "wait", "awareness_gone": true, "timeout": 20}))
        .await;

    run_to_final(js_b).await;
    run_to_final(py_c).await;
    server.shutdown().await.unwrap();
}

/// Our client and a peer client of `server_url` exchange text both ways.
async fn exchange_with_foreign_server(server_url: &str, peer: impl FnOnce(Vec<String>) -> Peer) {
    let ours = connect_synced(&format!("{server_url}/exchange")).await;
    push_text(ours.doc(), "from rust;");
    let theirs = peer(client_args(
        server_url,
        "exchange",
        &[
            "--wait-text",
            "from rust;",
            "--text",
            "from peer;",
            "--hold",
            "0.5",
        ],
    ));
    eventually("our client gets the peer's text", || {
        text_of(ours.doc()).contains("from peer;")
    })
    .await;
    let last = run_to_final(theirs).await;
    assert!(
        last["text"].as_str().unwrap().contains("from rust;"),
        "{last}"
    );
    ours.close().await.unwrap();
}

/// The reference server itself: `node_modules/y-websocket-server/bin/server.js` of
/// y-websocket 1.5.4, unmodified, with `HOST`/`PORT` in its environment.
#[tokio::test]
async fn our_client_in_the_y_websocket_reference_server() {
    let server = ReferenceServer::start().await;
    exchange_with_foreign_server(&server.url(), |args| Peer::node("js_client.js", &args)).await;
    drop(server);
}

/// The harness's port retry: a port taken between the probe and `server.js`'s listen
/// makes it exit with EADDRINUSE, and the next port is tried.
#[tokio::test]
async fn the_reference_server_moves_to_another_port_when_its_port_is_taken() {
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap().port();
    let mut tries = 0;
    let server = ReferenceServer::start_with(|| {
        tries += 1;
        if tries == 1 { taken } else { free_port() }
    })
    .await;
    assert_ne!(server.port(), taken);
    assert_eq!(
        tries, 2,
        "one try on the taken port, then one on a free port"
    );
    // It serves: our client syncs with it.
    let ours = connect_synced(&format!("{}/retry", server.url())).await;
    ours.close().await.unwrap();
    drop(squatter);
}

#[tokio::test]
async fn our_client_in_python_wiredbs_server() {
    let mut server = Peer::python("py_server.py", &["--port", "0", "--timeout", "60"]);
    let url = listening_url(&server.expect_event("listening").await);
    exchange_with_foreign_server(&url, |args| Peer::python("py_client.py", &args)).await;
    drop(server);
}

/// y-websocket clients reconnect after 30 s without a message; alone in a room they
/// hear only their own awareness renewals, which our rooms echo (as the y-websocket
/// server does). Without the echo this client would drop and reconnect once here.
#[tokio::test]
async fn a_lone_y_websocket_client_stays_connected_past_its_30_s_timeout() {
    let server = start_our_server().await;
    let lone = Peer::node(
        "js_client.js",
        &client_args(
            &server.url(),
            "lonely",
            &["--hold", "36", "--timeout", "60"],
        ),
    );
    let (status, events) = lone.finish().await;
    assert!(status.success(), "{events:?}");
    // The clean disconnect at the end comes after `final`; anything before it is a drop.
    let final_at = events
        .iter()
        .position(|e| e["event"] == "final")
        .expect("final");
    let drops: Vec<&Value> = events[..final_at]
        .iter()
        .filter(|e| e["event"] == "connection-close" || e["status"] == "disconnected")
        .collect();
    assert!(
        drops.is_empty(),
        "the client dropped its connection: {drops:?}"
    );
    server.shutdown().await.unwrap();
}
