//! Run with: `cargo run -p wiredb-examples --example file_server`
//!
//! Server-side persistence: `AsyncFileServer` maps every room to
//! `{dir}/{id}_updates.y`, loads it when the room opens, appends while it lives and
//! flushes when it closes. A client edits, the server restarts, the edit is still
//! there. This is what `wiredb serve --dir DIR` runs.

use std::path::Path;
use wire_file::AsyncFileServer;

use wire_websocket::{AsyncWebSocketClient, AsyncWebSocketServer, ServerHandle};
use yrs::{GetString, Text, Transact};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("wiredb-file-server-{}", std::process::id()));

    let (server, client) = serve_and_join(&dir).await?;
    let text = client.doc().get_or_insert_text("text");
    text.push(&mut client.doc().transact_mut(), "survives restarts");
    client.close().await?;
    server.shutdown().await?; // every room closed, every file flushed
    let files: Vec<_> = std::fs::read_dir(&dir)?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    println!("files: {files:?}");

    // A new server on the same directory: the room comes back from its file.
    let (server, client) = serve_and_join(&dir).await?;
    let text = client.doc().get_or_insert_text("text");
    let restored = text.get_string(&client.doc().transact());
    println!("after a restart the room holds: {restored}");
    client.close().await?;
    server.shutdown().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A server persisting its rooms in `dir`, and a synced client of room `plans`.
async fn serve_and_join(
    dir: &Path,
) -> Result<(ServerHandle, AsyncWebSocketClient), Box<dyn std::error::Error>> {
    let server = AsyncWebSocketServer::with_hooks(AsyncFileServer::new(dir))
        .start("127.0.0.1", 0)
        .await?;
    let url = format!("{}/plans", server.url());
    let client = AsyncWebSocketClient::connect(&url).await?;
    client.synced().await?;
    Ok((server, client))
}
