//! What the WebSocket wire records through the [`metrics`] facade (see the core's
//! `metrics` module and `docs/operations.md`): connections by access, refusals by
//! HTTP status, frames and bytes each way. Handles are made once per server or
//! connection; a record is then one atomic add (nothing without a recorder).

use metrics::{Counter, Gauge, counter, gauge};

/// The counters of the frames and bytes that the server's sockets move.
#[derive(Clone)]
pub(crate) struct SocketMetrics {
    pub(crate) frames_sent: Counter,
    pub(crate) frames_received: Counter,
    pub(crate) bytes_sent: Counter,
    pub(crate) bytes_received: Counter,
}

impl SocketMetrics {
    /// The server's (its sockets are the ones worth watching; a client's are not
    /// counted).
    pub(crate) fn server() -> Self {
        SocketMetrics {
            frames_sent: counter!("wiredb_frames_sent_total"),
            frames_received: counter!("wiredb_frames_received_total"),
            bytes_sent: counter!("wiredb_bytes_sent_total"),
            bytes_received: counter!("wiredb_bytes_received_total"),
        }
    }
}

/// One WebSocket connection being served, counted in `wiredb_connections` (label
/// `access`: `read_write` or `read_only`) from its creation until it is dropped.
pub(crate) struct OpenConnection(Gauge);

impl OpenConnection {
    pub(crate) fn new(access: crate::Access) -> Self {
        let access = match access {
            crate::Access::ReadWrite => "read_write",
            crate::Access::ReadOnly => "read_only",
        };
        let gauge = gauge!("wiredb_connections", "access" => access);
        gauge.increment(1.0);
        OpenConnection(gauge)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Upgrade requests refused before the upgrade, by HTTP status.
pub(crate) fn connection_refused(status: axum::http::StatusCode) {
    counter!("wiredb_connections_refused_total", "status" => status.as_str().to_owned())
        .increment(1);
}

/// Connections closed at once because the server had `max_connections` open.
pub(crate) fn connection_over_limit() -> Counter {
    counter!("wiredb_connections_over_limit_total")
}
