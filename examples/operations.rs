//! A server as a team deploys it: room tokens checked before the upgrade, `/healthz`,
//! `/readyz` and `/metrics` beside the rooms (the standalone server tells a page or
//! a scrape from a room connection by the `Upgrade` header), and a client presenting
//! its token.
//!
//! Run: `cargo run -p wiredb-examples --example operations`

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wire_websocket::{
    Access, AsyncWebSocketClient, AsyncWebSocketServer, ClientConfig, Error, Grant,
    PrometheusMetrics, TokenKey,
};
use wiredb::yrs::{GetString, Text, Transact};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // First: handles made before a recorder exists record nothing.
    let metrics = PrometheusMetrics::install()?;
    // In production the key comes from a secret store; `wiredb token` and any JWT
    // library (HS256) mint tokens with it.
    let key = TokenKey::new("an example key of at least 32 bytes!!")?;
    let server = AsyncWebSocketServer::builder()
        .connect_hook(key.clone())
        .http(metrics.routes())
        .build()
        .start("127.0.0.1", 0)
        .await?;

    let token = key.sign(&Grant::room("plans", Duration::from_secs(3600)));
    let url = format!("{}/plans?token={token}", server.url());
    let editor = AsyncWebSocketClient::connect(&url).await?;
    editor.synced().await?;
    let text = editor.doc().get_or_insert_text("text");
    text.push(&mut editor.doc().transact_mut(), "signed in");

    let viewer_token =
        key.sign(&Grant::room("plans", Duration::from_secs(60)).access(Access::ReadOnly));
    let viewer = AsyncWebSocketClient::builder(&format!("{}/plans", server.url()))
        .config(ClientConfig::default().header("authorization", &format!("Bearer {viewer_token}")))
        .connect()
        .await?;
    viewer.synced().await?;
    while viewer
        .doc()
        .get_or_insert_text("text")
        .get_string(&viewer.doc().transact())
        .is_empty()
    {
        viewer.next_remote_change().await;
    }
    let seen = viewer
        .doc()
        .get_or_insert_text("text")
        .get_string(&viewer.doc().transact());
    println!("the read-only viewer reads: {seen}");

    let no_token = AsyncWebSocketClient::builder(&format!("{}/plans", server.url()))
        .config(ClientConfig::default().reconnect(None))
        .connect()
        .await;
    if let Err(Error::Rejected { status, body, .. }) = no_token {
        println!("without a token: HTTP {status}: {body}");
    }

    let health = get(server.local_addr(), "/healthz").await?;
    println!("GET /healthz: {health}");
    let scrape = get(server.local_addr(), "/metrics").await?;
    let connections = scrape
        .lines()
        .find(|line| line.starts_with("wiredb_connections{"))
        .unwrap_or("no connections metric");
    println!("GET /metrics: {connections}");

    editor.close().await?;
    viewer.close().await?;
    server.shutdown().await?;
    Ok(())
}

/// The body of a plain `GET path` (a load balancer's health check, a scrape).
async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await?;
    Ok(answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.trim().to_owned())
        .unwrap_or(answer))
}
