//! Run with: `cargo run -p wiredb-examples --example embed_in_axum`
//!
//! The WebSocket server nested in an application's own axum router, behind the
//! application's auth middleware, next to its other routes:
//!
//! - `GET /health` → `ok`
//! - `ws://HOST/collab/ROOM?token=...` → room `ROOM`, when the token is valid;
//!   `token=viewer` gives read-only access (a connect hook decides).
//!
//! The program starts the app, joins a room as a writer and as a viewer, shows that an
//! unauthenticated client is refused and that the viewer's edits are not applied, and
//! stops (a non-zero exit if any of that is not so).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use wire_websocket::{
    Access, AsyncWebSocketClient, AsyncWebSocketServer, ClientConfig, ConnectRequest, Rejection,
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let collab = AsyncWebSocketServer::builder()
        .connect_hook(access_by_token)
        .build();
    let app = Router::new().route("/health", get(|| async { "ok" })).nest(
        "/collab",
        collab.router().layer(middleware::from_fn(require_api_key)),
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
        })
        .await
    });
    println!("app on http://{addr} (websocket rooms under /collab)");

    let with_key = || ClientConfig::default().header("x-api-key", "demo-key");
    let room = format!("ws://{addr}/collab/notes");

    match AsyncWebSocketClient::connect(&room, None, ClientConfig::default()).await {
        Err(refused) => println!("without an API key: {refused}"),
        Ok(_) => return Err("a client without an API key was let in".into()),
    }

    let editor =
        AsyncWebSocketClient::connect(&format!("{room}?token=editor"), None, with_key()).await?;
    let viewer =
        AsyncWebSocketClient::connect(&format!("{room}?token=viewer"), None, with_key()).await?;
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
    let room_doc = collab
        .manager()
        .room("notes")
        .ok_or("room closed")?
        .doc()
        .clone();
    let in_room = room_doc
        .get_or_insert_text("text")
        .get_string(&room_doc.transact());
    if in_room.contains("viewer") {
        return Err("the read-only viewer's edit was applied".into());
    }
    println!("the room still reads: {in_room}");

    editor.close().await?;
    viewer.close().await?;
    // Rooms first (close frames, hooks flushed), then the HTTP server.
    collab.shutdown().await?;
    let _ = stop.send(());
    serving.await??;
    Ok(())
}
