//! The Redis wire of wiredb: many servers share their rooms through one Redis, so
//! that a deployment outgrows one machine behind a load balancer.
//!
//! - [`AsyncRedisServer`]: room hooks attaching every room of a server to its room in
//!   Redis (as `wire_file::AsyncFileServer` attaches it to a file);
//! - [`AsyncRedisClient`]: a `Doc` kept in sync through Redis alone, for a backend
//!   job with no WebSocket.
//!
//! # In Redis
//!
//! Per room (keys under [`RedisConfig::prefix`], the room id percent-encoded):
//!
//! - `{room}:stream`, a Redis stream of y-protocols frames (document updates and
//!   awareness updates), each entry naming the link that wrote it: a link appends
//!   its document's local changes and applies everything other links append, read
//!   with a blocking `XREAD`. What came from Redis is never appended again.
//! - `{room}:snapshot`, a hash: `state`, the document as one update, and `upto`, the
//!   last stream entry merged into it. A room that opens loads the snapshot, then the
//!   stream after `upto`.
//! - `{room}:lease`: compaction merges the stream's entries older than
//!   [`RedisConfig::retain`] into the snapshot and trims them (one Lua script: the
//!   snapshot and the trim together), done by one process at a time, the holder of
//!   this key (`SET NX PX`, renewed while it lives; a killed holder's lease expires
//!   after [`RedisConfig::lease_ttl`]). Redis memory per room is then the snapshot,
//!   plus the entries of the last `retain`, plus at most
//!   [`RedisConfig::compact_min_entries`] more.
//!
//! Awareness crosses servers through the same stream; a remote client's state is
//! dropped when it leaves (its server appends the removal) or when it is not renewed
//! within [`RedisConfig::awareness_timeout`] (its server died).
//!
//! # Where the durable copy lives
//!
//! In Redis: the snapshot and the stream are the document. Run Redis with its own
//! persistence (`appendonly yes`, `appendfsync everysec`: a Redis crash loses at most
//! a second). A server may also keep every room in files (`wiredb serve --redis URL
//! --dir DIR`, hooks `(AsyncFileServer, AsyncRedisServer)`): each edit its clients
//! make is in its file before it is relayed, and a room opening from its file appends
//! what Redis lacks — so a Redis that lost its data is refilled by the servers'
//! files.
//!
//! # Faults
//!
//! Redis unreachable: rooms go on serving their local clients; each link reconnects
//! with backoff ([`RedisConfig::min_backoff`] doubling to
//! [`RedisConfig::max_backoff`]) and then resyncs — it applies what Redis holds and
//! appends what its document holds that Redis lacks, as one update. Yjs updates are
//! idempotent and commutative, so nothing is lost and nothing applied twice diverges.
//!
//! # Why the `redis` crate
//!
//! `redis` (redis-rs) is the most used Redis client for Rust, maintained under the
//! redis-rs organisation with Redis Ltd.; it has tokio support, a
//! `ConnectionManager` that reconnects by itself (the writer's connection), plain
//! multiplexed connections (one per room for the blocking reads, which would stall a
//! shared one), streams and Lua scripts. `fred` is a fine alternative with more
//! built in (pools, reconnect policies) that we would not use.
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | `server` | [`AsyncRedisServer`]: room hooks |
//! | `client` | [`AsyncRedisClient`] |
//! | `link` | one document kept in sync: writer, reader, keeper (awareness expiry, compaction) |
//! | `store` | the Redis commands, one function each |
//! | `entry` | stream entries: origin and y-protocols frame; entry ids |
//! | `keys` | the keys of a room |
//! | `target` | what a link syncs: a room, or a client's doc and awareness |
//! | `config` | [`RedisConfig`] |
//! | `error` | [`Error`] |
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod client;
mod config;
mod entry;
mod error;
mod keys;
mod link;
mod server;
mod store;
mod target;

pub use client::AsyncRedisClient;
pub use config::RedisConfig;
pub use error::{Error, Result, redact_url};
pub use server::AsyncRedisServer;
