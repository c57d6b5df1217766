//! What the core records through the [`metrics`] facade: nothing is kept unless the
//! application installs a recorder (`wire_websocket::PrometheusMetrics`, or any
//! `metrics` exporter), and then each record is an atomic add on a handle made once.
//!
//! The names every wiredb crate records are listed in `docs/operations.md`.

use metrics::{Counter, Gauge, counter, gauge};

use crate::{CloseKind, CloseReason, Error};

/// Rooms open now.
pub(crate) fn rooms_open() -> Gauge {
    gauge!("wiredb_rooms_open")
}

/// Rooms that failed to open (a hook's error: a file that cannot be read, say).
pub(crate) fn room_open_failures() -> Counter {
    counter!("wiredb_room_open_failures_total")
}

/// Document updates applied to rooms (and relayed), and their bytes.
pub(crate) fn updates_applied() -> (Counter, Counter) {
    (
        counter!("wiredb_updates_applied_total"),
        counter!("wiredb_update_bytes_total"),
    )
}

/// Updates refused because the room's storage failed.
pub(crate) fn updates_refused() -> Counter {
    counter!("wiredb_updates_refused_total")
}

/// A peer's connection to a room ended, with why (`reason` label): `left` (it
/// closed), `room_closing`, `slow` (its queue full), `limit` (an awareness or other
/// bound), `too_big` (a frame over the limit), `bad_input` (not y-protocols),
/// `storage_failed`, `error`.
pub(crate) fn peer_closed(result: &crate::Result<()>) {
    let reason = match result {
        Ok(()) => "left",
        Err(Error::RoomClosing) => "room_closing",
        Err(Error::SlowPeer { .. }) => "slow",
        Err(Error::StorageFailed(_)) => "storage_failed",
        Err(_) => match CloseReason::for_result(result).kind {
            CloseKind::Normal | CloseKind::GoingAway => "left",
            CloseKind::ProtocolError | CloseKind::UnsupportedData => "bad_input",
            CloseKind::PolicyViolation => "limit",
            CloseKind::TooBig => "too_big",
            CloseKind::InternalError => "error",
        },
    };
    counter!("wiredb_peers_closed_total", "reason" => reason).increment(1);
}
