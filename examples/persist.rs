//! Run with: `cargo run -p wiredb-examples --example persist`
//!
//! A client document kept in a file *and* synced through a server: the file client
//! and the WebSocket client share one `Doc`, so every change, local or remote, is
//! appended to `notes_updates.y`; reopening the file gives the document back with no
//! server at all. (Python wiredb's quick start does the same with `AsyncFileClient`.)

use wire_file::AsyncFileClient;
use wire_websocket::{AsyncWebSocketClient, AsyncWebSocketServer};
use yrs::{Doc, GetString, Text, Transact};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("wiredb-persist-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("notes_updates.y");

    let server = AsyncWebSocketServer::new().start("127.0.0.1", 0).await?;
    let url = format!("{}/notes", server.url());

    // Alice's doc lives in a file and in the room.
    let doc = Doc::new();
    let file = AsyncFileClient::builder(&path)
        .doc(doc.clone())
        .open()
        .await?;
    let alice = AsyncWebSocketClient::builder(&url)
        .doc(doc.clone())
        .connect()
        .await?;
    alice.synced().await?;

    // Bob types; his edit reaches Alice through the server and lands in her file.
    let bob = AsyncWebSocketClient::connect(&url).await?;
    bob.synced().await?;
    let arrived = alice.next_remote_change();
    let text = bob.doc().get_or_insert_text("text");
    text.push(&mut bob.doc().transact_mut(), "typed by Bob, kept by Alice");
    arrived.await;

    bob.close().await?;
    alice.close().await?;
    file.close().await?; // flushes what is still pending
    server.shutdown().await?;

    // No server now: the file alone has the document.
    let reopened = AsyncFileClient::open(&path).await?;
    let text = reopened.doc().get_or_insert_text("text");
    println!(
        "{} holds: {}",
        path.display(),
        text.get_string(&reopened.doc().transact())
    );
    reopened.close().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
