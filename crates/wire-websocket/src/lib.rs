//! The WebSocket wire of wiredb: rooms served over WebSocket by an embeddable axum
//! server, and a reconnecting client, both speaking y-protocols like y-websocket, so
//! that browsers running y-websocket, Python wiredb clients and pycrdt-websocket peers
//! join our rooms and our clients join theirs.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), wire_websocket::Error> {
//! use wire_websocket::{AsyncWebSocketClient, AsyncWebSocketServer};
//! use wiredb::yrs::{GetString, Text, Transact};
//!
//! let server = AsyncWebSocketServer::new().start("127.0.0.1", 0).await?;
//! let url = format!("{}/my-room", server.url());
//! let alice = AsyncWebSocketClient::connect(&url).await?;
//! let bob = AsyncWebSocketClient::connect(&url).await?;
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
//! # Features
//!
//! `server` ([`AsyncWebSocketServer`], axum and hyper) and `client`
//! ([`AsyncWebSocketClient`], [`Upstream`]) are both on by default; a client-only
//! user turns off the defaults and compiles no axum or hyper.
//!
//! # Layout
//!
//! Every module is private; its types are re-exported here, one path each.
//!
//! | module | job |
//! |---|---|
//! | `server/` | [`AsyncWebSocketServer`]: axum router, [`RoomUpgrade`] extractor, handshake, connect hook, [`GracefulShutdown`] |
//! | `client/` | [`AsyncWebSocketClient`]: builder, connect, reconnect with [`Backoff`], awareness |
//! | `upstream` | [`Upstream`]: room hooks making each room a client of a hub server |
//! | `channel/` | a socket as a wiredb `Channel`: send, receive, close |
//! | `keepalive/` | [`KeepAlive`] and the keepalive as a sans-IO state machine |
//! | `write_bound` | writes bounded by time without progress |
//! | `close` | close codes ([`close_code`]), [`PeerClosed`] |
//! | `socket` | the socket set-up shared by server and client: limits, byte counts, no Nagle |
//! | `upgraded_io` | an upgraded connection's socket, out of hyper when it is plain TCP |
//! | `progress` | sockets that count the bytes they move |
//! | `metrics` | what the wire records through the `metrics` facade |
//! | `message` | what the channel needs from tungstenite's message and error types |
//! | `error` | the crate's [`Error`] |
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod channel;
#[cfg(feature = "client")]
mod client;
mod close;
mod error;
mod keepalive;
mod message;
#[cfg(feature = "server")]
mod metrics;
mod progress;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
mod shared_socket;
mod socket;
#[cfg(feature = "server")]
mod upgraded_io;
#[cfg(feature = "client")]
mod upstream;
mod write_bound;

#[cfg(feature = "client")]
pub use client::{AsyncWebSocketClient, Backoff, ClientBuilder, ClientConfig, room_url};
pub use close::{PeerClosed, close_code};
pub use error::{Error, Result};
pub use keepalive::KeepAlive;
#[cfg(feature = "prometheus")]
pub use server::PrometheusMetrics;
#[cfg(all(feature = "server", feature = "tls"))]
pub use server::ServerTls;
#[cfg(feature = "server")]
pub use server::{
    Access, AsyncWebSocketServer, ConnectHook, ConnectRequest, GracefulShutdown, Grant,
    MIN_KEY_BYTES, Rejection, RoomScope, RoomUpgrade, ServerBuilder, ServerConfig, ServerHandle,
    TokenError, TokenKey,
};
#[cfg(feature = "client")]
pub use upstream::Upstream;
pub use wiredb;
