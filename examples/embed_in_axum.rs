//! Run with: `cargo run -p wiredb-examples --example embed_in_axum`
//!
//! The WebSocket rooms inside an application's own axum app, two ways:
//!
//! - `ws://HOST/collab/ROOM?token=...`: the server's routes merged behind the app's
//!   auth middleware; a connect hook picks the access from the token
//!   (`token=viewer` is read-only);
//! - `ws://HOST/docs/{doc_id}/ws`: the app's own route and handler take the room id
//!   from a path parameter and decide the access themselves ([`RoomUpgrade`]).
//!
//! Stopping the app (`with_graceful_shutdown`) closes the rooms first, through the
//! signal the router came with. The program joins rooms as writer and viewer, shows
//! that an unauthenticated client is refused and that the viewer's edits are not
//! applied, and stops (a non-zero exit if any of that is not so).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use wire_websocket::{
    Access, AsyncWebSocketClient, AsyncWebSocketServer, ClientConfig, ConnectRequest, Rejection,
    RoomUpgrade,
};
use yrs::{GetString, Text, Transact};

/// The application's own middleware: every `/collab` request needs an API key header.
async fn require_api_key(request: Request, next: Next) -> Response {
    match request.headers().get("x-api-key") {
        Some(key) if key == "demo-key" => next.run(request).await,
        _ => (StatusCode::UNAUTHORIZED, "missing x-api-key").into_response(),
    }
}

/// The connect hook: the token in the query string picks the access level.
fn access_by_token(request: &ConnectRequest) -> Result<Access, Rejection> {
    match request.query_param("token").as_deref() {
        Some("editor") => Ok(Access::ReadWrite),
        Some("viewer") => Ok(Access::ReadOnly),
        _ => Err(Rejection::forbidden("unknown token")),
    }
}

/// The app's own route: the room is `docs/{doc_id}`, and everyone who gets here may
/// only read (the app's auth would decide, from a session or a JWT claim).
async fn doc_socket(
    State(rooms): State<AsyncWebSocketServer>,
    Path(doc_id): Path<String>,
    upgrade: RoomUpgrade,
) -> Response {
    rooms.accept(upgrade, format!("docs/{doc_id}"), Access::ReadOnly)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rooms = AsyncWebSocketServer::builder()
        .connect_hook(access_by_token)
        .build();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (collab, shutdown) = rooms.router_with_shutdown("/collab", async move {
        let _ = stopped.await;
    });
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/docs/{doc_id}/ws", get(doc_socket))
        .with_state(rooms.clone())
        .merge(collab.layer(middleware::from_fn(require_api_key)));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let serving = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    });
    println!("app on http://{addr} (websocket rooms under /collab and /docs/ID/ws)");

    let with_key = || ClientConfig::default().header("x-api-key", "demo-key");
    let room = format!("ws://{addr}/collab/notes");

    match AsyncWebSocketClient::connect(&room).await {
        Err(refused) => println!("without an API key: {refused}"),
        Ok(_) => return Err("a client without an API key was let in".into()),
    }

    let editor = AsyncWebSocketClient::builder(&format!("{room}?token=editor"))
        .config(with_key())
        .connect()
        .await?;
    let viewer = AsyncWebSocketClient::builder(&format!("{room}?token=viewer"))
        .config(with_key())
        .connect()
        .await?;
    editor.synced().await?;
    viewer.synced().await?;

    let arrived = viewer.next_remote_change();
    let text = editor.doc().get_or_insert_text("text");
    text.push(&mut editor.doc().transact_mut(), "written by the editor");
    arrived.await;
    let text = viewer.doc().get_or_insert_text("text");
    println!(
        "the viewer reads: {}",
        text.get_string(&viewer.doc().transact())
    );

    // The viewer's own edit stays in its copy: the server does not apply it. (Its
    // awareness state, sent after the edit, tells when the server has seen both.)
    text.push(&mut viewer.doc().transact_mut(), " + a viewer's edit");
    viewer.set_local_awareness(r#"{"user":"viewer"}"#);
    while !editor
        .awareness_states()
        .iter()
        .any(|(_, state)| state.contains("viewer"))
    {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let in_room = room_text(&rooms, "notes")?;
    if in_room.contains("viewer") {
        return Err("the read-only viewer's edit was applied".into());
    }
    println!("the room still reads: {in_room}");

    // The app's own route: room `docs/plan`, read-only for everyone.
    let reader = AsyncWebSocketClient::connect(&format!("ws://{addr}/docs/plan/ws")).await?;
    reader.synced().await?;
    println!(
        "the app's own route serves room {:?}",
        rooms
            .manager()
            .room_ids()
            .iter()
            .find(|id| id.starts_with("docs/"))
    );

    editor.close().await?;
    viewer.close().await?;
    reader.close().await?;
    // The app's signal: the rooms close (close frames, hooks flushed), then axum stops.
    let _ = stop.send(());
    serving.await??;
    println!("stopped with {} rooms open", rooms.manager().room_count());
    Ok(())
}

/// The text of room `id` as the server holds it.
fn room_text(rooms: &AsyncWebSocketServer, id: &str) -> Result<String, Box<dyn std::error::Error>> {
    let doc = rooms.manager().room(id).ok_or("room closed")?.doc().clone();
    let text = doc.get_or_insert_text("text").get_string(&doc.transact());
    Ok(text)
}
