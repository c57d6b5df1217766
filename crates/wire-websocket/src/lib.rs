//! The WebSocket wire of wiredb: rooms served over WebSocket by an embeddable axum
//! server, and a reconnecting client, both speaking y-protocols like y-websocket, so
//! that browsers running y-websocket, Python wiredb clients and pycrdt-websocket peers
//! join our rooms and our clients join theirs.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), wire_websocket::Error> {
//! use wire_websocket::{AsyncWebSocketClient, AsyncWebSocketServer, ClientConfig};
//! use wiredb::yrs::{GetString, Text, Transact};
//!
//! let server = AsyncWebSocketServer::new(()).start("127.0.0.1", 0).await?;
//! let url = format!("{}/my-room", server.url());
//! let alice = AsyncWebSocketClient::connect(&url, None, ClientConfig::default()).await?;
//! let bob = AsyncWebSocketClient::connect(&url, None, ClientConfig::default()).await?;
//! alice.synced().await?;
//! bob.synced().await?;
//!
//! let change = bob.next_remote_change();
//! let text = alice.doc().get_or_insert_text("text");
//! text.push(&mut alice.doc().transact_mut(), "hello");
//! change.await;
//! let text = bob.doc().get_or_insert_text("text");
//! assert_eq!(text.get_string(&bob.doc().transact()), "hello");
//!
//! alice.close().await?;
//! bob.close().await?;
//! server.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | [`server`] | [`AsyncWebSocketServer`]: axum router, upgrade, connect hook, shutdown |
//! | [`client`] | [`AsyncWebSocketClient`]: connect, reconnect with backoff, awareness |
//! | [`channel`] | [`WebSocketChannel`]: a socket as a wiredb `Channel`, keepalive |
//! | [`message`] | what the channel needs from tungstenite's message and error types |
//! | [`progress`] | [`Tracked`] sockets: bytes moved each way, for keepalive and write bounds |
//! | [`upstream`] | [`Upstream`]: room hooks making each room a client of a hub server |
//! | [`error`] | the crate's [`Error`] |
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod channel;
pub mod client;
pub mod error;
pub mod message;
pub mod progress;
pub mod server;
pub mod upstream;

pub use channel::{
    ClientChannel, KeepAlive, PeerClosed, ServerChannel, WebSocketChannel, close_code,
};
pub use client::{AsyncWebSocketClient, Backoff, ClientConfig};
pub use error::{Error, Result};
pub use progress::{Progress, Tracked};
pub use server::{
    Access, AsyncWebSocketServer, ConnectHook, ConnectRequest, Rejection, ServerBuilder,
    ServerConfig, ServerHandle,
};
pub use upstream::Upstream;
pub use wiredb;
