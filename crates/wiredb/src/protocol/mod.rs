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
//! machine of one connection. Nothing here awaits, spawns or reads a clock.

mod connection;
mod message;

pub use connection::{Connection, Event, Outcome, Role};
pub use message::{
    decode_frame, encode_awareness, encode_message, encode_permission_denied, encode_sync_step1,
    encode_sync_step2, encode_update,
};

#[cfg(test)]
mod tests;
