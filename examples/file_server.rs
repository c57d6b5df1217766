//! Run with: `cargo run -p wiredb-examples --example file_server`
//!
//! Server-side persistence: `AsyncFileServer` maps every room to
//! `{dir}/{id}_updates.y`, loads it when the room opens, appends while it lives and
//! flushes when it closes. A client edits, the server restarts, the edit is still
//! there. This is what `wiredb serve --dir DIR` runs.

use wire_file::AsyncFileServer;
use wire_websocket::{AsyncWebSocketClient, AsyncWebSocketServer, ClientConfig};
use yrs::{GetString, Text, Transact};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("wiredb-file-server-{}", std::process::id()));

    let server = AsyncWebSocketServer::new(AsyncFileServer::new(&dir))
        .start("127.0.0.1", 0)
        .await?;
    let client = AsyncWebSocketClient::connect(
        &format!("{}/plans", server.url()),
        None,
        ClientConfig::default(),
    )
    .await?;
    client.synced().await?;
    let text = client.doc().get_or_insert_text("text");
    text.push(&mut client.doc().transact_mut(), "survives restarts");
    client.close().await?;
    server.shutdown().await?; // every room closed, every file flushed
    println!(
        "files: {:?}",
        std::fs::read_dir(&dir)?
            .flatten()
            .map(|e| e.file_name())
            .collect::<Vec<_>>()
    );

    // A new server on the same directory: the room comes back from its file.
    let server = AsyncWebSocketServer::new(AsyncFileServer::new(&dir))
        .start("127.0.0.1", 0)
        .await?;
    let client = AsyncWebSocketClient::connect(
        &format!("{}/plans", server.url()),
        None,
        ClientConfig::default(),
    )
    .await?;
    client.synced().await?;
    let text = client.doc().get_or_insert_text("text");
    println!(
        "after a restart the room holds: {}",
        text.get_string(&client.doc().transact())
    );
    client.close().await?;
    server.shutdown().await?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
