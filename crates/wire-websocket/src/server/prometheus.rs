//! [`PrometheusMetrics`]: what the wiredb crates record, in the Prometheus text format
//! at `GET /metrics` (feature `prometheus`).

use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::{Error, Result};

/// Latency buckets, in seconds, of the `*_seconds` histograms (a file append is tens
/// of microseconds, an fsync a millisecond to hundreds on a busy disk).
const LATENCY_BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1, 0.5, 2.0,
];

/// Every metric the wiredb crates record, with its help text (the list
/// `docs/operations.md` explains).
const DESCRIPTIONS: [(&str, &str); 20] = [
    ("wiredb_rooms_open", "Rooms open now."),
    (
        "wiredb_room_open_failures_total",
        "Rooms that failed to open (a hook's error, e.g. an unreadable file).",
    ),
    (
        "wiredb_updates_applied_total",
        "Document updates applied to rooms and relayed.",
    ),
    (
        "wiredb_update_bytes_total",
        "Bytes of the document updates applied to rooms.",
    ),
    (
        "wiredb_updates_refused_total",
        "Updates refused because the room's storage failed.",
    ),
    (
        "wiredb_peers_closed_total",
        "Peer connections to rooms ended, by reason (left, room_closing, slow, limit, too_big, bad_input, storage_failed, error).",
    ),
    (
        "wiredb_connections",
        "WebSocket connections served now, by access.",
    ),
    (
        "wiredb_connections_refused_total",
        "Upgrade requests refused before the upgrade, by HTTP status (401/403: tokens).",
    ),
    (
        "wiredb_connections_over_limit_total",
        "Connections closed at once because max_connections were open.",
    ),
    (
        "wiredb_frames_sent_total",
        "WebSocket frames sent to clients.",
    ),
    (
        "wiredb_frames_received_total",
        "WebSocket frames received from clients.",
    ),
    (
        "wiredb_bytes_sent_total",
        "Bytes written to client sockets.",
    ),
    (
        "wiredb_bytes_received_total",
        "Bytes read from client sockets.",
    ),
    ("wiredb_file_appends_total", "Appends to update-log files."),
    (
        "wiredb_file_append_bytes_total",
        "Bytes appended to update-log files.",
    ),
    (
        "wiredb_file_append_seconds",
        "Time of one append (the write system call).",
    ),
    (
        "wiredb_file_syncs_total",
        "fdatasync calls on update-log files (group commits included).",
    ),
    ("wiredb_file_sync_seconds", "Time of one fdatasync."),
    (
        "wiredb_file_errors_total",
        "Failed file operations, by op (append, sync).",
    ),
    (
        "wiredb_info",
        "Always 1; the version label says which wiredb this is.",
    ),
];

/// How often idle histogram buffers are drained when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The process's metrics recorder, rendering every `wiredb_*` metric (rooms,
/// connections by access, frames and bytes, updates applied, peers closed by reason,
/// file appends and syncs with their latency; `docs/operations.md` lists them) in the
/// Prometheus text format.
///
/// Install it before building the server: handles made before there is a recorder
/// count nothing.
///
/// ```no_run
/// use axum::Router;
/// use wire_websocket::{AsyncWebSocketServer, PrometheusMetrics};
///
/// let metrics = PrometheusMetrics::install()?;
/// let server = AsyncWebSocketServer::new();
/// let app: Router = Router::new().merge(metrics.routes()).merge(server.health_routes());
/// # Ok::<(), wire_websocket::Error>(())
/// ```
#[derive(Clone)]
pub struct PrometheusMetrics {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for PrometheusMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrometheusMetrics")
    }
}

impl PrometheusMetrics {
    /// Installs the recorder for the whole process (once: the `metrics` facade has
    /// one global recorder).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when a recorder is already installed.
    pub fn install() -> Result<Self> {
        let config_error = |error: &dyn std::fmt::Display| Error::Config {
            reason: format!("cannot install the metrics recorder: {error}"),
        };
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
            .map_err(|e| config_error(&e))?
            .install_recorder()
            .map_err(|e| config_error(&e))?;
        for (name, help) in DESCRIPTIONS {
            metrics::describe_counter!(name, help);
        }
        metrics::gauge!("wiredb_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        // Without the exporter's own HTTP listener, its upkeep (draining histogram
        // buffers) is ours to run; a thread, so that no runtime is needed here.
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("wiredb-metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "metrics upkeep thread not started; scrapes still drain");
        }
        Ok(PrometheusMetrics { handle })
    }

    /// Every metric, in the Prometheus text format.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// `GET /metrics`, to mount beside the rooms.
    pub fn routes<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let metrics = self.clone();
        Router::new().route(
            "/metrics",
            get(move || async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics.render(),
                )
                    .into_response()
            }),
        )
    }
}
