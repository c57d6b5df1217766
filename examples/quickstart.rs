//! Run with: `cargo run -p wiredb-examples --example quickstart`
//!
//! A server (a `RoomManager`) and two clients in one program, joined by in-memory
//! channels: what one client types, the other reads. The WebSocket wire replaces the
//! in-memory pair without changing anything else.

use wiredb::channel::memory;
use wiredb::{ManagerConfig, Provider, ProviderConfig, RoomManager};
use yrs::{Doc, GetString, Text, Transact};

#[tokio::main]
async fn main() -> wiredb::Result<()> {
    let server = RoomManager::new((), ManagerConfig::default());

    let mut clients = Vec::new();
    for name in ["alice", "bob"] {
        let (server_end, client_end) = memory::pair("server", name);
        let server = server.clone();
        tokio::spawn(async move {
            server
                .serve("my-room", server_end, Default::default())
                .await
        });
        let doc = Doc::new();
        let provider = Provider::spawn(doc.clone(), client_end, ProviderConfig::default());
        provider.synced().await?;
        clients.push((doc, provider));
    }

    let (alice_doc, _alice) = &clients[0];
    let (bob_doc, bob) = &clients[1];
    let arrived = bob.next_remote_change();
    let text = alice_doc.get_or_insert_text("text");
    text.push(&mut alice_doc.transact_mut(), "Hello from Alice");
    arrived.await;

    let text = bob_doc.get_or_insert_text("text");
    println!("Bob reads: {}", text.get_string(&bob_doc.transact()));
    server.shutdown().await;
    Ok(())
}
