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
//! unauthenticated client is refused, and stops.

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

    let refused = AsyncWebSocketClient::connect(&room, None, ClientConfig::default()).await;
    println!(
        "without an API key: {}",
        refused.err().map(|e| e.to_string()).unwrap_or_default()
    );

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

    editor.close().await?;
    viewer.close().await?;
    // Rooms first (close frames, hooks flushed), then the HTTP server.
    collab.shutdown().await?;
    let _ = stop.send(());
    serving.await??;
    Ok(())
}
