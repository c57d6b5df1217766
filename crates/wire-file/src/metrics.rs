//! What the file wire records through the [`metrics`] facade (nothing without a
//! recorder; `docs/operations.md` lists every name): appends and syncs with their
//! latency, and the I/O errors of each. Recorded per call: a lookup costs far less
//! than the system call it measures.

use std::time::Instant;

use metrics::{counter, histogram};

/// An append of `bytes` that took since `started`.
pub(crate) fn appended(started: Instant, bytes: u64) {
    counter!("wiredb_file_appends_total").increment(1);
    counter!("wiredb_file_append_bytes_total").increment(bytes);
    histogram!("wiredb_file_append_seconds").record(started.elapsed().as_secs_f64());
}

/// An `fdatasync` that took since `started`.
pub(crate) fn synced(started: Instant) {
    counter!("wiredb_file_syncs_total").increment(1);
    histogram!("wiredb_file_sync_seconds").record(started.elapsed().as_secs_f64());
}

/// A failed file operation (`op`: `append`, `sync`).
pub(crate) fn failed(op: &'static str) {
    counter!("wiredb_file_errors_total", "op" => op).increment(1);
}
