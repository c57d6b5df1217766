//! Helpers shared by the WebSocket tests: servers on 127.0.0.1:0, clients, doc access.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use wire_websocket::{AsyncWebSocketClient, AsyncWebSocketServer, ServerConfig, ServerHandle};
use wiredb::yrs::{Doc, GetString, Map, Out, Text, Transact};

/// Generous bound for anything that should happen "soon"; only hit when a test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub async fn client(url: &str) -> AsyncWebSocketClient {
    let client = AsyncWebSocketClient::connect(url).await.expect("connect");
    within(client.synced()).await.expect("synced");
    client
}

pub fn push_text(doc: &Doc, text: &str) {
    let root = doc.get_or_insert_text("text");
    let mut txn = doc.transact_mut();
    let len = root.len(&txn);
    root.insert(&mut txn, len, text);
}

pub fn text_of(doc: &Doc) -> String {
    let root = doc.get_or_insert_text("text");
    root.get_string(&doc.transact())
}

pub fn set_map(doc: &Doc, key: &str, value: &str) {
    let root = doc.get_or_insert_map("map");
    root.insert(&mut doc.transact_mut(), key, value);
}

pub fn map_value(doc: &Doc, key: &str) -> Option<String> {
    let root = doc.get_or_insert_map("map");
    match root.get(&doc.transact(), key) {
        Some(Out::Any(any)) => Some(any.to_string()),
        Some(other) => Some(format!("{other:?}")),
        None => None,
    }
}

/// Fails the test if `future` does not finish within [`PATIENCE`].
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("timed out")
}

/// Polls `condition` until it holds; fails the test after [`PATIENCE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A server with `config` on 127.0.0.1:0.
pub async fn start_with(config: ServerConfig) -> ServerHandle {
    AsyncWebSocketServer::builder()
        .config(config)
        .build()
        .start("127.0.0.1", 0)
        .await
        .unwrap()
}

pub type RawSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads `socket` until the server's close frame: its code and reason, or `None` if
/// the connection ended without one.
pub async fn close_frame(socket: &mut RawSocket) -> Option<(u16, String)> {
    within(async {
        while let Some(next) = socket.next().await {
            match next {
                Ok(Message::Close(frame)) => {
                    return frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()));
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
}
