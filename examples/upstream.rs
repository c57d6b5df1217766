//! Run with: `cargo run -p wiredb-examples --example upstream`
//!
//! Two edge servers whose rooms are clients of one hub server (the `Upstream` room
//! hooks): a client of the first edge and a client of the second edge edit the same
//! document, as in Python wiredb's `test_multiple_servers`.

use wire_websocket::{AsyncWebSocketClient, AsyncWebSocketServer, ClientConfig, Upstream};
use yrs::{GetString, Text, Transact};

#[tokio::main]
async fn main() -> Result<(), wire_websocket::Error> {
    let hub = AsyncWebSocketServer::new().start("127.0.0.1", 0).await?;
    let edge_a =
        AsyncWebSocketServer::with_hooks(Upstream::new(&hub.url(), ClientConfig::default()))
            .start("127.0.0.1", 0)
            .await?;
    let edge_b =
        AsyncWebSocketServer::with_hooks(Upstream::new(&hub.url(), ClientConfig::default()))
            .start("127.0.0.1", 0)
            .await?;
    println!(
        "hub {} / edges {} and {}",
        hub.url(),
        edge_a.url(),
        edge_b.url()
    );

    let on_a = AsyncWebSocketClient::connect(&format!("{}/plan", edge_a.url())).await?;
    let on_b = AsyncWebSocketClient::connect(&format!("{}/plan", edge_b.url())).await?;
    on_a.synced().await?;
    on_b.synced().await?;

    let arrived = on_b.next_remote_change();
    let text = on_a.doc().get_or_insert_text("text");
    text.push(&mut on_a.doc().transact_mut(), "typed at edge A");
    arrived.await;
    let text = on_b.doc().get_or_insert_text("text");
    println!(
        "client of edge B reads: {}",
        text.get_string(&on_b.doc().transact())
    );

    on_a.close().await?;
    on_b.close().await?;
    edge_a.shutdown().await?;
    edge_b.shutdown().await?;
    hub.shutdown().await
}
