//! Persist Yjs (Y-CRDT) documents as *update logs*: append-only files of Yjs v1
//! updates, byte-compatible with Python `wire_file` 0.7.
//!
//! Every change to a document is one Yjs update; storing the updates in the
//! order they happened is enough to rebuild the document, costs one append per
//! change, and never rewrites what is already on disk. Now and then the log is
//! *squashed* into a single update holding the merged state, so that it does not
//! grow without bound.
//!
//! ```text
//! "0.0.1" 0x00                 header: version string, NUL
//! varuint(len) update_v1       one record per persisted update, repeated
//! ```
//!
//! Two layers:
//!
//! - the async layer connects documents to files: [`AsyncFileClient`] keeps
//!   one `yrs::Doc` in one file (replay on open, append every later change,
//!   batched by `write_delay`), and [`AsyncFileServer`] keeps every room of a
//!   server in a directory, as room hooks of the core's `RoomManager`;
//! - the synchronous, runtime-free storage layer below it: [`UpdateLog`]
//!   opens, repairs, appends to and squashes one file, and can be used alone
//!   (a CLI, a test).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), wire_file::Error> {
//! use std::time::Duration;
//! use wire_file::{AsyncFileClient, FileClientConfig};
//! use wiredb::yrs::{GetString, Map, Text, Transact};
//!
//! let dir = tempfile::tempdir().expect("temp dir");
//! let path = dir.path().join("doc_updates.y");
//! let config = FileClientConfig::default().write_delay(Duration::from_millis(50));
//!
//! let client = AsyncFileClient::builder(&path).config(config.clone()).open().await?;
//! let (text, map) = (client.doc().get_or_insert_text("text"), client.doc().get_or_insert_map("map"));
//! text.push(&mut client.doc().transact_mut(), "hello");
//! map.insert(&mut client.doc().transact_mut(), "k", "v");
//! client.close().await?; // both edits appended (one write), file synced
//! assert_eq!(client.stats().records_appended, 2);
//!
//! // The next session replays the file; `squash` rewrites it as one record.
//! let client = AsyncFileClient::builder(&path).config(config.squash_on_open(true)).open().await?;
//! let text = client.doc().get_or_insert_text("text");
//! assert_eq!(text.get_string(&client.doc().transact()), "hello");
//! assert_eq!(client.stats().records, 1);
//! client.close().await?;
//! # Ok(()) }
//! ```
//!
//! The storage layer alone:
//!
//! ```
//! use wire_file::{Durability, UpdateLog, merge_records};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("my-room_updates.y");
//!
//! let (mut log, records) = UpdateLog::open(&path, Durability::Fsync)?;
//! assert!(records.is_empty()); // a new file: just the header
//! # let update = yrs::Update::new();
//! # use yrs::updates::encoder::Encode;
//! # let update = update.encode_v1();
//! log.append([&update])?;
//! log.squash(&merge_records([&update])?)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The file format, the crash-safety rules and the compatibility with Python
//! `wire_file` are described in `docs/file-format.md`.
//!
//! # Layout
//!
//! Every module is private; its items are re-exported here, one path each.
//!
//! | module | layer | job |
//! |---|---|---|
//! | `client` | async | [`AsyncFileClient`] (+ [`FileClientBuilder`], [`FileClientConfig`]): a provider over an in-memory channel, the file as its peer, a batching writer |
//! | `server` | async | [`AsyncFileServer`]: room hooks, one client per open room |
//! | `naming` | — | room id → file name that cannot escape the directory ([`room_file_name`], [`room_path`]) |
//! | `log` | storage | [`UpdateLog`]: open (and repair), append with a [`Durability`], atomic squash |
//! | `durable_fs` | storage | the exclusive lock, directories that survive a power loss ([`create_dir_durably`]), the squash's temp file |
//! | `format` | storage | the bytes: header, record encoding, [`parse_log`] with torn-tail detection |
//! | `merge` | storage | records → one update ([`merge_records`], [`squashed_state`], [`replay`]) |
//! | `metrics` | operations | appends, syncs and their latency, through the `metrics` facade |
//! | `error` | — | [`Error`], the crate's single error type |

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod blocking;
mod client;
mod durable_fs;
mod error;
mod format;
mod load;
mod log;
mod merge;
mod metrics;
mod naming;
mod server;

pub use client::{AsyncFileClient, FileClientBuilder, FileClientConfig, FileStats};
pub use durable_fs::create_dir_durably;
pub use error::Error;
pub use format::{
    FORMAT_VERSION, HEADER, MAX_HEADER_LEN, ParsedLog, TornTail, encode_header, encode_record,
    parse as parse_log,
};
pub use log::{AppendStats, Durability, SquashStats, UpdateLog};
pub use merge::{document_state, merge_records, replay, squashed_state};
pub use naming::{
    FILE_SUFFIX, MAX_ENCODED_LEN, file_name as room_file_name,
    id_from_file_name as room_id_from_file_name, path_for as room_path,
};
pub use server::AsyncFileServer;
