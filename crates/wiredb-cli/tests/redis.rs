//! Several `wiredb serve --redis` processes on one real `redis-server`: y-websocket
//! (Node) clients spread over them, our client and a Python wiredb client in one room;
//! awareness across servers; a server started later; a server killed with SIGKILL
//! mid-edit; Redis restarted mid-edit. Real processes and sockets throughout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::{Server, send, synced_client, wiredb_async};
use serde_json::{Value, json};
use wire_websocket::AsyncWebSocketClient;
use wiredb_tests::{
    PATIENCE, Peer, RedisServer, awareness_users, client_args, eventually, map_json, push_text,
    set_map, text_of,
};

async fn serve_with_redis(redis: &RedisServer, dir: &Path) -> Server {
    let url = redis.url();
    let args: Vec<&OsStr> = vec![
        OsStr::new("--redis"),
        OsStr::new(&url),
        OsStr::new("--dir"),
        dir.as_os_str(),
    ];
    Server::start_with(&args, None).await
}

fn js_client(server: &Server, extra: &[&str]) -> Peer {
    let url = format!("ws://127.0.0.1:{}", server.port);
    let mut args = client_args(&url, "shared", &["--stdin", "--quiet", "--timeout", "120"]);
    args.extend(extra.iter().map(|s| s.to_string()));
    Peer::node("js_client.js", &args)
}

async fn js_wait(peer: &mut Peer, texts: &[&str]) -> Value {
    peer.wait_for(json!({"cmd": "wait", "text": texts, "timeout": 30}))
        .await
}

/// `wiredb dump --json` of room `shared` on `server`.
async fn dump(server: &Server) -> Value {
    let out = wiredb_async(vec!["dump".into(), "--json".into(), server.url("shared")]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_on_one_redis_share_rooms_with_every_kind_of_peer_through_faults() {
    let dirs: Vec<_> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut redis = RedisServer::start(dirs[0].path());
    let s1 = serve_with_redis(&redis, dirs[1].path()).await;
    let s2 = serve_with_redis(&redis, dirs[2].path()).await;
    let mut s3 = serve_with_redis(&redis, dirs[3].path()).await;

    // y-websocket clients on two servers, ours on the second, Python wiredb's on the
    // third: concurrent Y.Text and Y.Map edits.
    let mut js1 = js_client(
        &s1,
        &[
            "--text",
            "js1;",
            "--awareness",
            r#"{"user":{"name":"js-on-1"}}"#,
        ],
    );
    let mut js2 = js_client(&s2, &["--map", "js=yes"]);
    js1.expect_event("synced").await;
    js2.expect_event("synced").await;
    let ours = synced_client(&s2.url("shared")).await;
    push_text(ours.doc(), "rust;");
    set_map(ours.doc(), "lang", "rust");
    let mut py = Peer::python(
        "py_client.py",
        &client_args(
            &format!("ws://127.0.0.1:{}", s3.port),
            "shared",
            &["--stdin", "--quiet", "--timeout", "120"],
        ),
    );
    py.expect_event("synced").await;
    py.command(json!({"cmd": "insert", "text": "py;"})).await;
    py.expect_event("ok").await;
    let all = ["js1;", "rust;", "py;"];
    py.wait_for(json!({"cmd": "wait", "text": all, "timeout": 30}))
        .await;
    js_wait(&mut js1, &all).await;
    js_wait(&mut js2, &all).await;
    eventually("our client has every edit", || {
        let text = text_of(ours.doc());
        all.iter().all(|piece| text.contains(piece)) && map_json(ours.doc())["js"] == "yes"
    })
    .await;

    // Awareness crosses servers: js2 (on server 2) sees js1's user (on server 1).
    let seen = js2
        .wait_for(json!({"cmd": "wait", "awareness_count": 2, "timeout": 30}))
        .await;
    assert!(seen["event"] == "waited", "{seen}");
    let users = awareness_users(&js2.dump().await);
    assert!(
        users.iter().any(|user| user["name"] == "js-on-1"),
        "js2 does not see js1: {users:?}"
    );

    // A fourth server, started later, serves a joining client the whole document.
    let s4 = serve_with_redis(&redis, dirs[4].path()).await;
    let late = dump(&s4).await;
    let late_text = late["roots"]["text"]["value"].as_str().unwrap().to_owned();
    assert!(all.iter().all(|piece| late_text.contains(piece)), "{late}");
    assert_eq!(late["roots"]["map"]["value"]["js"], "yes", "{late}");

    // SIGKILL server 3 mid-edit: what reached Redis is kept, and its client, moved to
    // another server, converges.
    let on_3 = synced_client(&s3.url("shared")).await;
    push_text(on_3.doc(), "before-kill;");
    js_wait(&mut js1, &["before-kill;"]).await;
    send(s3.child.id().unwrap(), rustix::process::Signal::KILL);
    let _ = s3.child.wait().await;
    push_text(on_3.doc(), "while-moving;");
    let moved = AsyncWebSocketClient::builder(&s1.url("shared"))
        .doc(on_3.doc().clone())
        .connect()
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, moved.synced())
        .await
        .unwrap()
        .unwrap();
    js_wait(&mut js2, &["before-kill;", "while-moving;"]).await;
    let _ = on_3.close().await;

    // Redis restarted mid-edit: the servers serve their clients meanwhile, and every
    // edit of the outage reaches every server once it is back.
    redis.stop();
    js1.command(json!({"cmd": "insert", "text": "js-during-outage;"}))
        .await;
    js1.expect_event("ok").await;
    push_text(ours.doc(), "rust-during-outage;");
    redis.restart();
    let outage = ["js-during-outage;", "rust-during-outage;", "before-kill;"];
    js_wait(&mut js1, &outage).await;
    js_wait(&mut js2, &outage).await;
    eventually("the moved client has the outage's edits", || {
        let text = text_of(moved.doc());
        outage.iter().all(|piece| text.contains(piece))
    })
    .await;
    let after = dump(&s4).await;
    let after_text = after["roots"]["text"]["value"].as_str().unwrap();
    for piece in all.iter().chain(&outage).chain(&["while-moving;"]) {
        assert!(after_text.contains(piece), "{piece} missing from {after}");
    }
    // Every server converged on one document.
    let final_1 = js_wait(&mut js1, &outage).await;
    let final_2 = js_wait(&mut js2, &outage).await;
    assert_eq!(final_1["text"], final_2["text"]);
    assert_eq!(final_1["text"].as_str().unwrap(), text_of(ours.doc()));

    drop(js1);
    drop(js2);
    drop(py);
    let _ = moved.close().await;
    let _ = ours.close().await;
    for server in [s1, s2, s4] {
        server.terminate().await;
    }
}

#[test]
fn a_bad_redis_url_or_an_unreachable_redis_is_one_clear_error() {
    let bad = common::wiredb(&[
        "serve",
        "--memory",
        "--port",
        "0",
        "--redis",
        "localhost:6379",
    ]);
    common::assert_clean_failure(&bad, "invalid Redis URL");
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let url = format!("redis://:secret@127.0.0.1:{port}");
    let unreachable = common::wiredb(&["serve", "--memory", "--port", "0", "--redis", &url]);
    common::assert_clean_failure(&unreachable, &format!("127.0.0.1:{port}"));
    assert!(
        !String::from_utf8_lossy(&unreachable.stderr).contains("secret"),
        "the password is shown"
    );
}
