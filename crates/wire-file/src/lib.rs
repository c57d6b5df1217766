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
//! This crate is the synchronous, runtime-free storage layer: [`UpdateLog`]
//! opens, repairs, appends to and squashes one such file.
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
//! # Layout
//!
//! - [`format`](mod@format): the file format as pure functions over bytes: header,
//!   record encoding, parsing with torn-tail detection;
//! - [`log`]: [`UpdateLog`], an open, locked log file: open (and repair),
//!   append with a chosen [`Durability`], atomic squash;
//! - [`merge`]: [`merge_records`], merging records into the one update a squash
//!   writes;
//! - [`error`]: [`Error`], the crate's single error type.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod error;
pub mod format;
pub mod log;
pub mod merge;

pub use error::Error;
pub use format::FORMAT_VERSION;
pub use log::{AppendStats, Durability, SquashStats, UpdateLog};
pub use merge::merge_records;
