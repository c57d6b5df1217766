//! The WebSocket server and client over real sockets on 127.0.0.1:0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use common::*;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use wire_websocket::{
    Access, AsyncWebSocketClient, AsyncWebSocketServer, Backoff, ClientConfig, ConnectRequest,
    Error, Grant, KeepAlive, Rejection, ServerConfig, TokenKey, Upstream,
};
use wiredb::yrs::Doc;
use wiredb::{BoxFuture, ProviderConfig, Room, RoomHooks, SyncState};

#[tokio::test]
async fn two_clients_sync_text_and_map_both_ways() {
    let server = AsyncWebSocketServer::new()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let url = format!("{}/room-1", server.url());
    let alice = client(&url).await;
    let bob = client(&url).await;

    push_text(alice.doc(), "hello ");
    set_map(bob.doc(), "from", "bob");
    eventually("alice sees bob", || {
        map_value(alice.doc(), "from").as_deref() == Some("bob")
    })
    .await;
    push_text(bob.doc(), "world");
    eventually("both converge", || {
        text_of(alice.doc()) == "hello world" && text_of(bob.doc()) == "hello world"
    })
    .await;
    assert_eq!(
        server.server().manager().room_ids(),
        vec!["room-1".to_owned()]
    );

    alice.close().await.unwrap();
    bob.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_late_joiner_gets_the_whole_document() {
    let server = AsyncWebSocketServer::new()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let url = format!("{}/late", server.url());
    let first = client(&url).await;
    push_text(first.doc(), "already here");
    let room = server.server().manager().room("late").unwrap();
    eventually("room has it", || text_of(room.doc()) == "already here").await;
    let late = client(&url).await;
    assert_eq!(text_of(late.doc()), "already here");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn room_ids_are_paths_without_query() {
    let server = AsyncWebSocketServer::new()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let nested = client(&format!("{}/team/notes?token=abc", server.url())).await;
    push_text(nested.doc(), "x");
    let manager = server.server().manager().clone();
    eventually("room team/notes exists", || {
        manager.room("team/notes").is_some()
    })
    .await;
    let encoded = client(&format!("{}/caf%C3%A9", server.url())).await;
    eventually("percent-decoded id", || manager.room("café").is_some()).await;
    drop((nested, encoded));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn awareness_is_shared_and_removed_when_a_client_leaves() {
    let server = AsyncWebSocketServer::new()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let url = format!("{}/aware", server.url());
    let alice = client(&url).await;
    let bob = client(&url).await;
    alice.set_local_awareness(r#"{"user":"alice"}"#);
    eventually("bob sees alice", || has_awareness(&bob, "alice")).await;
    alice.close().await.unwrap();
    eventually("alice gone for bob", || !has_awareness(&bob, "alice")).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn awareness_is_echoed_to_its_sender_as_y_websocket_does() {
    // A y-websocket client alone in a room relies on this to not time out.
    let server = AsyncWebSocketServer::new()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/echo", server.url()))
        .await
        .unwrap();
    use futures_util::SinkExt;
    use wiredb::yrs::sync::Awareness;
    let doc = wiredb::yrs::Doc::new();
    let mut awareness = Awareness::new(doc);
    awareness.set_local_state_raw(r#"{"me":1}"#);
    let update = awareness.update().unwrap();
    socket
        .send(Message::Binary(wiredb::protocol::encode_awareness(&update)))
        .await
        .unwrap();
    let echoed = within(async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Binary(frame) = message
                && frame.first() == Some(&1)
                && frame.windows(6).any(|w| w == b"\"me\":1")
            {
                return true;
            }
        }
        false
    })
    .await;
    assert!(echoed, "own awareness state came back");
    server.shutdown().await.unwrap();
}

/// Reconnects within milliseconds, so that tests of reconnection are quick.
fn fast_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
        ..Backoff::default()
    }
}

fn token_hook(request: &ConnectRequest) -> Result<Access, Rejection> {
    match request.query_param("token").as_deref() {
        Some("writer") => Ok(Access::ReadWrite),
        Some("reader") => Ok(Access::ReadOnly),
        _ => match request.cookie("session").as_deref() {
            Some("ok") => Ok(Access::ReadWrite),
            _ => Err(Rejection::unauthorized("token required")),
        },
    }
}

#[tokio::test]
async fn connect_hook_rejects_with_a_status_and_grants_read_only() {
    let server = AsyncWebSocketServer::builder()
        .connect_hook(token_hook)
        .build()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let base = format!("{}/guarded", server.url());

    let refused = AsyncWebSocketClient::connect(&base).await;
    match refused {
        Err(Error::Rejected { status, body, .. }) => {
            assert_eq!(status, 401);
            assert_eq!(body, "token required");
        }
        other => panic!("expected a 401, got {other:?}"),
    }

    let writer = client(&format!("{base}?token=writer")).await;
    let by_cookie = AsyncWebSocketClient::builder(&base)
        .config(ClientConfig::default().cookie("session", "ok"))
        .connect()
        .await
        .unwrap();
    within(by_cookie.synced()).await.unwrap();
    let reader = client(&format!("{base}?token=reader")).await;

    push_text(writer.doc(), "from writer");
    eventually("reader receives", || text_of(reader.doc()) == "from writer").await;

    push_text(reader.doc(), " + reader edit");
    // Sent after the edit on the same socket: once the writer sees it, the server
    // has handled (and dropped) the edit.
    reader.set_local_awareness(r#"{"user":"reader"}"#);
    eventually("reader's awareness reaches the writer", || {
        has_awareness(&writer, "reader")
    })
    .await;
    push_text(by_cookie.doc(), "!");
    eventually("cookie edit arrives", || {
        text_of(writer.doc()).ends_with('!')
    })
    .await;
    let room = server.server().manager().room("guarded").unwrap();
    assert!(
        !text_of(room.doc()).contains("reader edit"),
        "read-only edit was applied"
    );
    assert!(!text_of(writer.doc()).contains("reader edit"));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn plain_http_gets_upgrade_required_and_the_server_goes_on() {
    let server = AsyncWebSocketServer::new()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let mut stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /room HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 4"), "{response}");
    let _still_fine = client(&format!("{}/room", server.url())).await;
    server.shutdown().await.unwrap();
}

/// An auth middleware of the embedding app, in front of the nested router.
async fn require_api_key(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if request
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        == Some("k")
    {
        next.run(request).await
    } else {
        StatusCode::FORBIDDEN.into_response()
    }
}

#[tokio::test]
async fn embeds_in_an_axum_app_behind_middleware() {
    let server = AsyncWebSocketServer::new();
    let (collab, _shutdown) = server.router_with_shutdown("/collab", std::future::pending());
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(collab.layer(axum::middleware::from_fn(require_api_key)));
    let (addr, serving) = serve_app(app, std::future::pending()).await;

    let url = format!("ws://{addr}/collab/shared/doc");
    match AsyncWebSocketClient::connect(&url).await {
        Err(Error::Rejected { status: 403, .. }) => {}
        other => panic!("middleware should refuse: {other:?}"),
    }
    let keyed = || ClientConfig::default().header("x-api-key", "k");
    let a = AsyncWebSocketClient::builder(&url)
        .config(keyed())
        .connect()
        .await
        .unwrap();
    let b = AsyncWebSocketClient::builder(&url)
        .config(keyed())
        .connect()
        .await
        .unwrap();
    within(a.synced()).await.unwrap();
    within(b.synced()).await.unwrap();
    push_text(a.doc(), "nested");
    eventually("b sees a", || text_of(b.doc()) == "nested").await;
    assert!(server.manager().room("shared/doc").is_some());

    server.shutdown().await.unwrap();
    serving.abort();
}

/// Serves `app` on 127.0.0.1:0 until `stop` fires; its address and task.
async fn serve_app(
    app: Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> (SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop)
        .await
    });
    (addr, serving)
}

/// A raw HTTP/1.1 request to `addr`; the status line and headers of the answer.
async fn http_get(addr: SocketAddr, path: &str, upgrade: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let upgrade_headers = if upgrade {
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    } else {
        ""
    };
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: x\r\n{upgrade_headers}Connection: close\r\n\r\n");
    let request = if upgrade {
        request.replace("Connection: close\r\n", "")
    } else {
        request
    };
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let n = within(tcp.read(&mut answer)).await.unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test]
async fn an_empty_room_id_is_refused_and_plain_http_is_told_to_upgrade() {
    let server = AsyncWebSocketServer::new();
    let (collab, _shutdown) = server.router_with_shutdown("/collab", std::future::pending());
    let (addr, serving) = serve_app(collab, std::future::pending()).await;
    for path in ["/collab", "/collab/", "/collab?token=x", "/collab/?token=x"] {
        let answer = http_get(addr, path, true).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(answer.contains("no room id"), "{path}: {answer}");
    }
    let answer = http_get(addr, "/collab/notes", false).await;
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("upgrade: websocket"),
        "{answer}"
    );
    // A key that is not 16 bytes of base64 (RFC 6455 §4.2.1).
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(b"GET /collab/notes HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n").await.unwrap();
    let mut answer = vec![0; 4096];
    let n = within(tcp.read(&mut answer)).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 400"));
    assert_eq!(
        server.manager().room_count(),
        0,
        "no room named \"\" or otherwise"
    );
    server.shutdown().await.unwrap();
    serving.abort();
}

#[tokio::test]
async fn an_apps_own_handler_picks_the_room_and_the_access() {
    use axum::extract::{Path, State};
    use wire_websocket::RoomUpgrade;

    async fn doc_socket(
        State(rooms): State<AsyncWebSocketServer>,
        Path(doc_id): Path<String>,
        upgrade: RoomUpgrade,
    ) -> axum::response::Response {
        let access = if doc_id.starts_with("public-") {
            Access::ReadOnly
        } else {
            Access::ReadWrite
        };
        rooms.accept(upgrade, format!("docs/{doc_id}"), access)
    }

    let rooms = AsyncWebSocketServer::new();
    let app = Router::new()
        .route("/docs/{doc_id}/ws", get(doc_socket))
        .with_state(rooms.clone());
    let (addr, serving) = serve_app(app, std::future::pending()).await;
    let writer = client(&format!("ws://{addr}/docs/plan/ws")).await;
    push_text(writer.doc(), "written");
    let room = rooms
        .manager()
        .room("docs/plan")
        .expect("room named by the handler");
    eventually("the writer's edit is applied", || {
        text_of(room.doc()) == "written"
    })
    .await;

    let viewer = client(&format!("ws://{addr}/docs/public-x/ws")).await;
    push_text(viewer.doc(), "dropped");
    let marker = client(&format!("ws://{addr}/docs/public-x/ws")).await;
    viewer.set_local_awareness(r#"{"user":"viewer"}"#);
    eventually("the viewer's awareness arrives after its edit", || {
        has_awareness(&marker, "viewer")
    })
    .await;
    let public = rooms.manager().room("docs/public-x").expect("public room");
    assert_eq!(
        text_of(public.doc()),
        "",
        "a read-only peer's edit is dropped"
    );

    let answer = http_get(addr, "/docs/plan/ws", false).await;
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
    for c in [writer, viewer, marker] {
        c.close().await.unwrap();
    }
    rooms.shutdown().await.unwrap();
    serving.abort();
}

/// Hooks that record what each room's doc held when it closed: what a file would
/// have flushed.
struct RecordOnClose(Arc<std::sync::Mutex<Vec<String>>>);

impl RoomHooks for RecordOnClose {
    fn on_close<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        Box::pin(async move {
            self.0.lock().unwrap().push(text_of(room.doc()));
            Ok(())
        })
    }
}

#[tokio::test]
async fn stopping_an_embedding_app_closes_the_rooms_before_serve_returns() {
    let closed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let server = AsyncWebSocketServer::with_hooks(RecordOnClose(closed.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (collab, shutdown) = server.router_with_shutdown("/collab", async move {
        let _ = stopped.await;
    });
    let (addr, serving) = serve_app(collab, shutdown).await;
    let alice = client(&format!("ws://{addr}/collab/doc")).await;
    push_text(alice.doc(), "last words");
    let room = server.manager().room("doc").unwrap();
    eventually("the edit reaches the room", || {
        text_of(room.doc()) == "last words"
    })
    .await;
    drop(room);

    stop.send(()).unwrap();
    within(serving).await.unwrap().unwrap();
    // axum::serve has returned: the room was closed (its hooks ran) before that.
    assert_eq!(*closed.lock().unwrap(), vec!["last words".to_owned()]);
    assert_eq!(server.manager().room_count(), 0);
    drop(alice);
}

struct Counts {
    opened: AtomicUsize,
    closed: AtomicUsize,
}

struct CountingHooks(Arc<Counts>);

impl RoomHooks for CountingHooks {
    fn on_open<'a>(&'a self, _room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        self.0.opened.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
    fn on_close<'a>(&'a self, _room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        self.0.closed.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn graceful_shutdown_closes_every_socket_with_going_away_and_runs_close_hooks() {
    let hooks = Arc::new(Counts {
        opened: AtomicUsize::new(0),
        closed: AtomicUsize::new(0),
    });
    let server = AsyncWebSocketServer::with_hooks(CountingHooks(hooks.clone()))
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let mut sockets = Vec::new();
    for room in ["a", "b", "b"] {
        let (socket, _) = tokio_tungstenite::connect_async(format!("{}/{room}", server.url()))
            .await
            .unwrap();
        sockets.push(socket);
    }
    let manager = server.server().manager().clone();
    eventually("rooms open", || manager.room_count() == 2).await;

    let stopping = tokio::spawn(server.shutdown());
    for mut socket in sockets {
        let code = close_frame(&mut socket).await.map(|(code, _)| code);
        assert_eq!(code, Some(1001));
    }
    within(stopping).await.unwrap().unwrap();
    assert_eq!(hooks.opened.load(Ordering::SeqCst), 2);
    assert_eq!(hooks.closed.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_dropped() {
    // Margins wide enough for a loaded 2-core machine: the healthy client answers
    // within milliseconds, and has a full second to do so.
    let config = ServerConfig::default().keepalive(Some(
        KeepAlive::default()
            .interval(Duration::from_millis(200))
            .timeout(Duration::from_secs(1)),
    ));
    let server = start_with(config).await;
    let url = format!("{}/ping", server.url());
    // A healthy client (it reads, so tungstenite answers pings) stays.
    let healthy = client(&url).await;
    // This one never reads: no pong ever leaves it.
    let (_silent, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let room = server.server().manager().room("ping").unwrap();
    eventually("both joined", || room.peer_count() == 2).await;
    eventually("silent peer dropped", || room.peer_count() == 1).await;
    // Several ping rounds later the healthy client is still there.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(room.peer_count(), 1, "the healthy client was dropped too");
    assert_eq!(healthy.state(), SyncState::Synced);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn client_reconnects_and_syncs_edits_made_while_offline() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let first = AsyncWebSocketServer::new().start_on(listener).unwrap();
    let url = format!("ws://{addr}/offline");
    let fast = ClientConfig::default().reconnect(Some(fast_backoff()));
    let alice = AsyncWebSocketClient::builder(&url)
        .config(fast.clone())
        .connect()
        .await
        .unwrap();
    within(alice.synced()).await.unwrap();
    push_text(alice.doc(), "before ");

    first.shutdown().await.unwrap();
    eventually("alice notices", || alice.state() != SyncState::Synced).await;
    push_text(alice.doc(), "offline");
    // No server: `synced()` is about the current connection, so it waits.
    let offline = tokio::time::timeout(Duration::from_millis(300), alice.synced()).await;
    assert!(offline.is_err(), "synced() while offline: {offline:?}");

    // A new, empty server on the same port: alice's whole doc must reach it.
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let second = AsyncWebSocketServer::new().start_on(listener).unwrap();
    within(alice.synced()).await.unwrap();
    let bob = client(&url).await;
    eventually("bob has all of it", || {
        text_of(bob.doc()) == "before offline"
    })
    .await;
    alice.close().await.unwrap();
    second.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_reconnect_a_drop_ends_the_client() {
    let server = AsyncWebSocketServer::new()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let url = format!("{}/once", server.url());
    let client = AsyncWebSocketClient::builder(&url)
        .config(ClientConfig::default().reconnect(None))
        .connect()
        .await
        .unwrap();
    within(client.synced()).await.unwrap();
    server.shutdown().await.unwrap();
    eventually("client closed", || client.state() == SyncState::Closed).await;
    assert!(within(client.synced()).await.is_err());
}

#[tokio::test]
async fn unreachable_server_and_bad_urls_are_clear_errors() {
    let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let err = AsyncWebSocketClient::connect(&format!("ws://{addr}/x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    for bad in [
        "not a url",
        "http://127.0.0.1:1/x",
        "ws://127.0.0.1:99999/x",
    ] {
        let err = AsyncWebSocketClient::connect(bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidUrl { .. }), "{bad}: {err}");
    }
    // wss:// is a URL the client uses (TLS): nothing listens there.
    let err = AsyncWebSocketClient::connect(&format!("wss://{addr}/x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    // IPv6 literals keep working through the hand-made TCP connect.
    if let Ok(v6) = tokio::net::TcpListener::bind("[::1]:0").await {
        let port = v6.local_addr().unwrap().port();
        drop(v6);
        let server = AsyncWebSocketServer::new()
            .start("::1", port)
            .await
            .unwrap();
        client(&format!("ws://[::1]:{port}/six")).await;
        server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn auto_push_off_holds_edits_until_push() {
    let server = AsyncWebSocketServer::new()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let url = format!("{}/held", server.url());
    let writer = AsyncWebSocketClient::builder(&url)
        .config(ClientConfig::default().provider(ProviderConfig::default().auto_push(false)))
        .connect()
        .await
        .unwrap();
    within(writer.synced()).await.unwrap();
    let reader = client(&url).await;
    push_text(writer.doc(), "held back");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(text_of(reader.doc()), "", "auto_push=false sent the edit");
    assert_eq!(writer.push().unwrap(), 1);
    eventually("pushed edit arrives", || {
        text_of(reader.doc()) == "held back"
    })
    .await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn python_style_host_port_id() {
    let server = AsyncWebSocketServer::new()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let port = server.local_addr().port();
    let a = AsyncWebSocketClient::builder_for_room("http://127.0.0.1", port, "py")
        .connect()
        .await
        .unwrap();
    within(a.synced()).await.unwrap();
    assert!(server.server().manager().room("py").is_some());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn edge_servers_sharing_an_upstream_hub_converge() {
    let hub = AsyncWebSocketServer::new()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let mut edges = Vec::new();
    for _ in 0..2 {
        let upstream = Upstream::new(&hub.url(), ClientConfig::default());
        edges.push(
            AsyncWebSocketServer::with_hooks(upstream)
                .start("127.0.0.1", 0)
                .await
                .unwrap(),
        );
    }
    let on_first = client(&format!("{}/shared", edges[0].url())).await;
    let on_second = client(&format!("{}/shared", edges[1].url())).await;
    push_text(on_first.doc(), "edge one, ");
    eventually("second edge sees it", || {
        text_of(on_second.doc()) == "edge one, "
    })
    .await;
    push_text(on_second.doc(), "edge two");
    eventually("converged", || {
        text_of(on_first.doc()) == "edge one, edge two"
            && text_of(on_second.doc()) == "edge one, edge two"
    })
    .await;
    let hub_room = hub.server().manager().room("shared").unwrap();
    assert_eq!(text_of(hub_room.doc()), "edge one, edge two");
    assert_eq!(
        hub_room.peer_count(),
        2,
        "one upstream connection per edge room"
    );
    for edge in edges {
        edge.shutdown().await.unwrap();
    }
    hub.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_kicked_and_shutdown_still_completes() {
    let config = ServerConfig::default().manager(
        wiredb::ManagerConfig::default().room(wiredb::RoomConfig::default().peer_queue_capacity(8)),
    );
    let server = start_with(config).await;
    let url = format!("{}/stalled", server.url());
    // Never reads: its socket buffers fill, then its queue, then it is kicked, and the
    // close frame can never be delivered.
    let (_stalled, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let writer = client(&url).await;
    let room = server.server().manager().room("stalled").unwrap();
    eventually("both joined", || room.peer_count() == 2).await;
    let chunk = "x".repeat(64 * 1024);
    for _ in 0..200 {
        push_text(writer.doc(), &chunk);
        if room.peer_count() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eventually("stalled peer kicked", || room.peer_count() == 1).await;
    // Shutdown must not wait forever on the stalled socket's close frame.
    within(server.shutdown()).await.unwrap();
}

#[tokio::test]
async fn close_sends_what_is_pending_first() {
    let server = AsyncWebSocketServer::new()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let alice = client(&format!("{}/pending", server.url())).await;
    let room = server.server().manager().room("pending").unwrap();
    for word in ["one ", "two ", "three"] {
        push_text(alice.doc(), word);
    }
    // No wait between the edits and the close.
    alice.close().await.unwrap();
    eventually("the room has every edit", || {
        text_of(room.doc()) == "one two three"
    })
    .await;
    server.shutdown().await.unwrap();
}

/// A client whose document is over the server's frame limit is closed with 1009
/// each time it sends it; it must stop, not reconnect for ever.
#[tokio::test]
async fn a_document_over_the_servers_frame_limit_ends_the_client() {
    let server = start_with(ServerConfig::default().max_frame_size(1000)).await;
    let doc = Doc::new();
    push_text(&doc, &"x".repeat(5000));
    let fast = ClientConfig::default().reconnect(Some(fast_backoff()));
    let client = AsyncWebSocketClient::builder(&format!("{}/big", server.url()))
        .doc(doc)
        .config(fast)
        .connect()
        .await
        .unwrap();
    eventually("the client gives up", || {
        client.state() == SyncState::Closed
    })
    .await;
    let error = within(client.synced()).await.unwrap_err();
    assert!(error.to_string().contains("1009"), "{error}");
    server.shutdown().await.unwrap();
}

/// The connect hook admits the first connection and refuses the next ones: the
/// client stops at the refusal instead of retrying for ever.
#[tokio::test]
async fn a_refused_reconnection_ends_the_client() {
    let admitted = Arc::new(AtomicUsize::new(0));
    let hook = {
        let admitted = admitted.clone();
        move |_: &ConnectRequest| {
            if admitted.fetch_add(1, Ordering::SeqCst) == 0 {
                Ok(Access::ReadWrite)
            } else {
                Err(Rejection::new(StatusCode::FORBIDDEN, "token expired"))
            }
        }
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let first = AsyncWebSocketServer::builder()
        .connect_hook(hook.clone())
        .build()
        .start_on(listener)
        .unwrap();
    let fast = ClientConfig::default().reconnect(Some(fast_backoff()));
    let client = AsyncWebSocketClient::builder(&format!("ws://{addr}/r"))
        .config(fast)
        .connect()
        .await
        .unwrap();
    within(client.synced()).await.unwrap();
    first.shutdown().await.unwrap();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let second = AsyncWebSocketServer::builder()
        .connect_hook(hook)
        .build()
        .start_on(listener)
        .unwrap();
    eventually("the client gives up", || {
        client.state() == SyncState::Closed
    })
    .await;
    match within(client.synced()).await {
        Err(error) if matches!(error.root(), Error::Rejected { status: 403, .. }) => {}
        other => panic!("expected the 403, got {other:?}"),
    }
    // One refusal, not a stream of retries.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(admitted.load(Ordering::SeqCst), 2);
    second.shutdown().await.unwrap();
}

/// A connect hook that never answers (an auth service that is down).
struct HangingHook(Arc<AtomicUsize>);

impl wire_websocket::ConnectHook for HangingHook {
    fn check<'a>(
        &'a self,
        _request: &'a ConnectRequest,
    ) -> BoxFuture<'a, Result<Access, Rejection>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::pending())
    }
}

/// Shutdown waits for requests in the connect hook, so a hook that never returns
/// must not hold it up: the request is answered 503 and shutdown completes.
#[tokio::test]
async fn shutdown_does_not_wait_for_a_hanging_connect_hook() {
    let checks = Arc::new(AtomicUsize::new(0));
    let server = AsyncWebSocketServer::builder()
        .connect_hook(HangingHook(checks.clone()))
        .build()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let url = format!("{}/r", server.url());
    let connecting = tokio::spawn(async move { tokio_tungstenite::connect_async(url).await });
    eventually("the request reaches the hook", || {
        checks.load(Ordering::SeqCst) == 1
    })
    .await;
    within(server.shutdown()).await.unwrap();
    match within(connecting).await.unwrap() {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        }
        other => panic!("expected a 503, got {other:?}"),
    }
}

/// A server that completes the WebSocket handshake, then never reads again (a
/// machine that vanished without closing TCP): the client's keepalive notices and it
/// reconnects, rather than believing it is synced for ever.
#[tokio::test]
async fn the_client_notices_a_server_that_stopped_answering() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let silent = tokio::spawn({
        let accepted = accepted.clone();
        async move {
            let mut held = Vec::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let mut socket = tokio_tungstenite::accept_async(tcp).await.unwrap();
                // Answers the handshake's SyncStep1 with an empty SyncStep2, so that
                // the client is synced, then reads nothing more (pings stay unanswered).
                let synced = wiredb::protocol::encode_sync_step2(&[0, 0]);
                futures_util::SinkExt::send(&mut socket, Message::binary(synced))
                    .await
                    .unwrap();
                accepted.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        }
    });
    let config = ClientConfig::default()
        .keepalive(Some(
            KeepAlive::default()
                .interval(Duration::from_millis(200))
                .timeout(Duration::from_millis(200)),
        ))
        .reconnect(Some(fast_backoff()));
    let client = AsyncWebSocketClient::builder(&format!("ws://{addr}/r"))
        .config(config)
        .connect()
        .await
        .unwrap();
    within(client.synced()).await.unwrap();
    eventually("the client reconnects", || {
        accepted.load(Ordering::SeqCst) >= 2
    })
    .await;
    client.close().await.unwrap();
    silent.abort();
}

#[tokio::test]
async fn with_auto_pull_off_remote_changes_wait_for_pull() {
    let server = AsyncWebSocketServer::new()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let url = format!("{}/pull", server.url());
    let writer = client(&url).await;
    let reader = AsyncWebSocketClient::builder(&url)
        .config(ClientConfig::default().provider(ProviderConfig::default().auto_pull(false)))
        .connect()
        .await
        .unwrap();
    within(reader.synced()).await.unwrap();
    push_text(writer.doc(), "held");
    let room = server.server().manager().room("pull").unwrap();
    eventually("the room has it", || text_of(room.doc()) == "held").await;
    // It reached the reader's socket, but not its doc.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(text_of(reader.doc()), "");
    let mut pulled = 0;
    eventually("pull applies it", || {
        pulled += reader.pull().unwrap();
        text_of(reader.doc()) == "held"
    })
    .await;
    assert!(pulled >= 1);
    server.shutdown().await.unwrap();
}

/// The standalone server with a plain-HTTP router: a GET goes to the app, an upgrade
/// of the same path to the room; `/healthz` and `/readyz` are the server's own.
#[tokio::test]
async fn plain_requests_go_to_the_http_router_and_upgrades_to_the_rooms() {
    let page = Router::new()
        .route("/metrics", get(|| async { "app metrics" }))
        .fallback(|| async { "the page" });
    let server = AsyncWebSocketServer::builder()
        .http(page)
        .build()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let addr = server.local_addr();
    let answer = http_get(addr, "/notes", false).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("the page"),
        "{answer}"
    );
    let answer = http_get(addr, "/metrics", false).await;
    assert!(answer.ends_with("app metrics"), "{answer}");
    let answer = http_get(addr, "/healthz", false).await;
    assert!(
        answer.contains(r#"{"status":"ok","rooms":0,"connections":0}"#),
        "{answer}"
    );
    // An upgrade to `/metrics` is room "metrics".
    let metrics_room = client(&format!("{}/metrics", server.url())).await;
    assert!(server.server().manager().room("metrics").is_some());
    metrics_room.close().await.unwrap();
    server.shutdown().await.unwrap();

    // Without a router, plain requests are told to upgrade; health is still there.
    let bare = AsyncWebSocketServer::new()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let answer = http_get(bare.local_addr(), "/notes", false).await;
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
    let answer = http_get(bare.local_addr(), "/readyz", false).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("ready\n"),
        "{answer}"
    );
    bare.shutdown().await.unwrap();
}

/// Embedded: `/readyz` answers 503 from the moment the rooms' shutdown begins, while
/// the app's own server still answers; `/healthz` says it is shutting down.
#[tokio::test]
async fn readiness_fails_once_shutdown_begins() {
    let server = AsyncWebSocketServer::new();
    let (collab, _shutdown) = server.router_with_shutdown("/collab", std::future::pending());
    let app = collab.merge(server.health_routes());
    let (addr, serving) = serve_app(app, std::future::pending()).await;
    let live = client(&format!("ws://{addr}/collab/notes")).await;
    let answer = http_get(addr, "/healthz", false).await;
    assert!(
        answer.contains(r#""status":"ok","rooms":1,"connections":1"#),
        "{answer}"
    );
    assert!(
        http_get(addr, "/readyz", false)
            .await
            .starts_with("HTTP/1.1 200")
    );

    server.shutdown().await.unwrap();
    let answer = http_get(addr, "/readyz", false).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let answer = http_get(addr, "/healthz", false).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(r#""status":"shutting down""#), "{answer}");
    drop(live);
    serving.abort();
}

/// A server checking tokens with `TokenKey`: the room's token opens it with its
/// access, and anything else is refused before the upgrade.
#[tokio::test]
async fn token_key_as_the_connect_hook() {
    let key = TokenKey::new("a secret of at least thirty-two bytes!").unwrap();
    let server = AsyncWebSocketServer::builder()
        .connect_hook(key.clone())
        .build()
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let hour = Duration::from_secs(3600);
    let token = key.sign(&Grant::room("notes", hour));
    let writer = client(&format!("{}/notes?token={token}", server.url())).await;
    let refused = |url: String| async move {
        let attempt = AsyncWebSocketClient::builder(&url)
            .config(ClientConfig::default().reconnect(None))
            .connect()
            .await;
        match attempt {
            Err(Error::Rejected { status, .. }) => status,
            other => panic!("{url}: {:?}", other.map(|_| ())),
        }
    };
    assert_eq!(refused(format!("{}/notes", server.url())).await, 401);
    assert_eq!(
        refused(format!("{}/other?token={token}", server.url())).await,
        403
    );
    let bearer = AsyncWebSocketClient::builder(&format!("{}/notes", server.url()))
        .config(ClientConfig::default().header("authorization", &format!("Bearer {token}")))
        .connect()
        .await
        .unwrap();
    bearer.close().await.unwrap();
    writer.close().await.unwrap();
    server.shutdown().await.unwrap();
}
