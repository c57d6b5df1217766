//! The y-protocols sync protocol, with no I/O.
//!
//! | type | name | payload |
//! |---|---|---|
//! | 0 | sync | 0 SyncStep1(state vector) · 1 SyncStep2(update) · 2 Update(update) |
//! | 1 | awareness | awareness update |
//! | 2 | auth | 0 permission denied(reason) |
//! | 3 | query awareness | — |
//!
//! [`decode_frame`] and the `encode_*` functions turn frames into yrs messages and
//! back; [`Connection`] is the state
//! machine of one connection. Nothing here awaits, spawns or reads a clock: this crate
//! does not depend on tokio at all, and the test command fails if it ever does.
//!
//! The `wiredb` crate re-exports it as `wiredb::protocol`.
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | `message` | frame codec: [`decode_frame`], `encode_*` |
//! | `connection` | [`Connection`], the per-connection state machine |
//! | `panics` | [`without_panics`]: a yrs panic on peer input becomes an error |
//! | `changes` | [`observe_changes`]: each transaction's update, at a cost proportional to it |
//! | `error` | [`ProtocolError`] |
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod changes;
mod connection;
mod error;
mod message;
mod panics;

pub use changes::{observe_changes, unobserve_changes};
pub use connection::{AwarenessLimits, Connection, Event, Outcome, Role};
pub use error::{ProtocolError, Result};
pub use message::{
    decode_frame, encode_awareness, encode_message, encode_permission_denied, encode_sync_step1,
    encode_sync_step2, encode_update,
};
pub use panics::{panic_message, without_panics};

#[cfg(test)]
mod tests;
