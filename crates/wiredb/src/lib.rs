//! Keep Yjs (Y-CRDT) documents in sync between peers over interchangeable transports.
//!
//! A server hosts [`Room`]s; a client names a room by id; every client in a room shares
//! one document. A *wire* is a transport that carries y-protocols frames: the sibling
//! crates `wire-websocket` and `wire-file` add WebSocket and file wires on top of this
//! crate, which holds everything wires share.
//!
//! # Layout
//!
//! Every module is private; its types are re-exported here, one path each.
//!
//! | module | layer | job |
//! |---|---|---|
//! | [`protocol`] (crate `wiredb-protocol`) | sans-IO | y-protocols frames and the per-connection state machine; no tokio |
//! | `channel` | transport | the [`Channel`] trait and [`MemoryChannel`], the in-memory pair |
//! | `room` | server | [`Room`]: one doc + awareness + peers, fan-out with bounded queues |
//! | `manager` | server | [`RoomManager`]: rooms by id, [`RoomHooks`] (tuples compose), grace period, shutdown |
//! | `room_clients` | server | [`RoomClients`]: one client per open room, for hooks |
//! | `provider` | client | [`Provider`]: binds a `Doc` to a channel; [`ProviderConfig`] is shared by every client |
//! | `lock`, `origin` | — | [`lock_unpoisoned`], [`unique_origin`] |
//! | `error` | — | the crate's [`Error`] |
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> wiredb::Result<()> {
//! use wiredb::{ManagerConfig, MemoryChannel, Provider, ProviderConfig, RoomManager};
//! use yrs::{Doc, GetString, Text, Transact};
//!
//! let server = RoomManager::new((), ManagerConfig::default());
//! let mut providers = Vec::new();
//! for name in ["alice", "bob"] {
//!     let (server_end, client_end) = MemoryChannel::pair("server", name);
//!     let server = server.clone();
//!     tokio::spawn(async move { server.serve("doc", server_end, Default::default()).await });
//!     let doc = Doc::new();
//!     providers.push((doc.clone(), Provider::spawn(doc, client_end, ProviderConfig::default())));
//! }
//! for (_, provider) in &providers {
//!     provider.synced().await?;
//! }
//! let (alice_doc, _) = &providers[0];
//! let (bob_doc, bob) = &providers[1];
//! let change = bob.next_remote_change();
//! alice_doc.get_or_insert_text("t").push(&mut alice_doc.transact_mut(), "hello bob");
//! change.await;
//! let text = bob_doc.get_or_insert_text("t");
//! assert_eq!(text.get_string(&bob_doc.transact()), "hello bob");
//! server.shutdown().await?;
//! # Ok(()) }
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod channel;
mod doc_id;
mod error;
mod lock;
mod manager;
mod metrics;
mod origin;
mod provider;
mod room;
mod room_clients;

pub use channel::{Channel, CloseKind, CloseReason, MemoryChannel, SendNow};
pub use doc_id::new_doc;
pub use error::{BoxError, Error, Result};
pub use lock::lock_unpoisoned;
pub use manager::{BoxFuture, ManagerConfig, RoomHooks, RoomLease, RoomManager};
pub use origin::unique_origin;
pub use provider::{Provider, ProviderConfig, SharedAwareness, SyncState};
pub use room::{PeerOptions, Room, RoomConfig, UpdateSink};
pub use room_clients::RoomClients;
pub use wiredb_protocol as protocol;
pub use yrs;
