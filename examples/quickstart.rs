//! Run with: `cargo run -p wiredb-examples --example quickstart`
//!
//! A WebSocket server and two clients in one program: what Alice types, Bob reads.
//! Any y-protocols client (y-websocket in a browser, Python wiredb) could take
//! either client's place: `ws://127.0.0.1:PORT/my-room`.

use wire_websocket::{AsyncWebSocketClient, AsyncWebSocketServer};
use yrs::{GetString, Text, Transact};

#[tokio::main]
async fn main() -> Result<(), wire_websocket::Error> {
    // `()`: no room hooks, so rooms live in memory only (see the file example).
    let server = AsyncWebSocketServer::new().start("127.0.0.1", 0).await?;
    let url = format!("{}/my-room", server.url());
    println!("server listening on {url}");

    let alice = AsyncWebSocketClient::connect(&url).await?;
    let bob = AsyncWebSocketClient::connect(&url).await?;
    alice.synced().await?;
    bob.synced().await?;

    let arrived = bob.next_remote_change();
    let text = alice.doc().get_or_insert_text("text");
    text.push(&mut alice.doc().transact_mut(), "Hello from Alice");
    arrived.await;

    let text = bob.doc().get_or_insert_text("text");
    println!("Bob reads: {}", text.get_string(&bob.doc().transact()));

    alice.close().await?;
    bob.close().await?;
    server.shutdown().await
}
