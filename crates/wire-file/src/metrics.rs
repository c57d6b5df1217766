//! What the file wire records through the [`metrics`] facade (nothing without a
//! recorder; `docs/operations.md` lists every name): appends and syncs with their
//! latency, and the I/O errors of each.

use std::time::Instant;

use metrics::{Counter, Histogram, counter, histogram};

/// The handles a log records its appends and syncs through, looked up once when the
/// log opens. A lookup per append (hashing the name, a read lock on the registry)
/// cost two fifths of the `write(2)` it measured, on a room's small updates.
/// A recorder installed after a log opened is not seen by that log.
#[derive(Clone, Debug)]
pub(crate) struct FileMetrics {
    appends: Counter,
    append_bytes: Counter,
    append_seconds: Histogram,
    syncs: Counter,
    sync_seconds: Histogram,
}

impl FileMetrics {
    /// The handles of the recorder installed now.
    pub(crate) fn new() -> Self {
        FileMetrics {
            appends: counter!("wiredb_file_appends_total"),
            append_bytes: counter!("wiredb_file_append_bytes_total"),
            append_seconds: histogram!("wiredb_file_append_seconds"),
            syncs: counter!("wiredb_file_syncs_total"),
            sync_seconds: histogram!("wiredb_file_sync_seconds"),
        }
    }

    /// An append of `bytes` that took since `started`.
    pub(crate) fn appended(&self, started: Instant, bytes: u64) {
        self.appends.increment(1);
        self.append_bytes.increment(bytes);
        self.append_seconds.record(started.elapsed().as_secs_f64());
    }

    /// An `fdatasync` that took since `started`.
    pub(crate) fn synced(&self, started: Instant) {
        self.syncs.increment(1);
        self.sync_seconds.record(started.elapsed().as_secs_f64());
    }
}

/// A failed file operation (`op`: `append`, `sync`). Rare: looked up per call.
pub(crate) fn failed(op: &'static str) {
    counter!("wiredb_file_errors_total", "op" => op).increment(1);
}
