//! Helpers shared by the WebSocket tests: servers on 127.0.0.1:0, clients, doc access.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[allow(unused_imports)] // not every test binary uses every helper
pub use wiredb_test_support::{PATIENCE, eventually, push_text, set_map, text_of, within};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use wire_websocket::{AsyncWebSocketClient, AsyncWebSocketServer, ServerConfig, ServerHandle};
use wiredb::yrs::{Doc, Map, Out, Transact};

pub async fn client(url: &str) -> AsyncWebSocketClient {
    let client = AsyncWebSocketClient::connect(url).await.expect("connect");
    within(client.synced()).await.expect("synced");
    client
}

pub fn map_value(doc: &Doc, key: &str) -> Option<String> {
    let root = doc.get_or_insert_map("map");
    match root.get(&doc.transact(), key) {
        Some(Out::Any(any)) => Some(any.to_string()),
        Some(other) => Some(format!("{other:?}")),
        None => None,
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

/// Whether `client` knows an awareness state containing `marker` (a user's name).
pub fn has_awareness(client: &AsyncWebSocketClient, marker: &str) -> bool {
    client
        .awareness_states()
        .iter()
        .any(|(_, state)| state.contains(marker))
}
