//! [`RoomLog`]: one open room's update log, written ahead of the room's relaying.
//!
//! The room calls [`RoomLog::write`] (as its [`UpdateSink`]) for every update before
//! it relays it: one `write(2)` of one record. Syncing is apart from writing: with
//! group commit a background task syncs the file at most once per interval, through
//! a second handle, so that appends never wait for the disk.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use wiredb::{BoxError, UpdateSink};

use crate::blocking::blocking;
use crate::client::FileStats;
use crate::{Durability, Error, UpdateLog};

/// One room's log, its statistics, and whether it holds writes not yet synced.
pub(super) struct RoomLog {
    /// Taken out (unlocking the file) when the room closes: the room's doc, which
    /// holds this sink, may outlive the room in a caller's hands.
    log: Mutex<Option<UpdateLog>>,
    stats: Mutex<FileStats>,
    /// Written since the last sync.
    dirty: AtomicBool,
    /// Whether appends sync themselves (`sync_interval` zero, or no group commit).
    syncs_each: bool,
    /// Ends the group commit: cancelled with the room's closing, or by
    /// [`RoomLog::close`] (a room whose open failed never closes), so that no task
    /// keeps a handle on the file, and so its lock, after the close.
    stop: CancellationToken,
}

impl RoomLog {
    /// Wraps `log` (already loaded): with `Durability::Fsync` and a non-zero
    /// `sync_interval`, appends only write and [`RoomLog::group_commit`] syncs.
    pub(super) fn new(
        mut log: UpdateLog,
        stats: FileStats,
        stop: CancellationToken,
        durability: Durability,
        sync_interval: Duration,
    ) -> Self {
        let grouped = durability == Durability::Fsync && !sync_interval.is_zero();
        if grouped {
            log.set_durability(Durability::None);
        }
        RoomLog {
            log: Mutex::new(Some(log)),
            stats: Mutex::new(stats),
            dirty: AtomicBool::new(false),
            syncs_each: !grouped && durability == Durability::Fsync,
            stop,
        }
    }

    pub(super) fn stats(&self) -> FileStats {
        wiredb::lock_unpoisoned(&self.stats).clone()
    }

    /// Syncs the file every `interval` in which something was written, until the
    /// room closes; then once more. Failures are logged: the close syncs again and
    /// reports.
    pub(super) async fn group_commit(self: Arc<Self>, interval: Duration) {
        let closing = self.stop.clone();
        let handle = wiredb::lock_unpoisoned(&self.log)
            .as_ref()
            .map(UpdateLog::sync_handle);
        let handle = match handle {
            Some(Ok(handle)) => Arc::new(handle),
            None => return,
            Some(Err(error)) => {
                tracing::error!(%error, "no handle to sync the room's file: it is synced on close only");
                return;
            }
        };
        loop {
            let stop = tokio::select! {
                () = tokio::time::sleep(interval) => false,
                () = closing.cancelled() => true,
            };
            if self.dirty.swap(false, Ordering::AcqRel) {
                let synced = sync(handle.clone()).await;
                match synced {
                    Ok(()) => wiredb::lock_unpoisoned(&self.stats).synced_appends += 1,
                    Err(error) => {
                        self.dirty.store(true, Ordering::Release);
                        tracing::error!(%error, "group commit: cannot sync the room's file");
                    }
                }
            }
            if stop {
                return;
            }
        }
    }

    /// The close: a final sync (whatever the durability), a squash if asked, and the
    /// file unlocked. Writes after it fail.
    pub(super) async fn close(self: Arc<Self>, squash: bool) -> Result<(), Error> {
        self.stop.cancel();
        blocking("close room file", move || {
            let Some(mut log) = wiredb::lock_unpoisoned(&self.log).take() else {
                return Ok(());
            };
            log.sync()?;
            if squash && log.record_count() > 1 {
                crate::client::squash_log(&mut log)?;
            }
            Ok(())
        })
        .await?
    }
}

async fn sync(handle: Arc<File>) -> Result<(), Error> {
    blocking("group commit", move || {
        let started = std::time::Instant::now();
        let synced = handle.sync_data();
        match &synced {
            Ok(()) => crate::metrics::synced(started),
            Err(_) => crate::metrics::failed("sync"),
        }
        synced
    })
    .await?
    .map_err(|source| Error::Io {
        path: "room file (group commit)".into(),
        source,
    })
}

impl UpdateSink for RoomLog {
    fn write(&self, update: &[u8]) -> Result<(), BoxError> {
        let appended = match wiredb::lock_unpoisoned(&self.log).as_mut() {
            Some(log) => log.append([update]),
            None => return Err("the room's file is closed".into()),
        };
        let mut stats = wiredb::lock_unpoisoned(&self.stats);
        match appended {
            Ok(appended) => {
                stats.appends += 1;
                stats.records_appended += appended.records as u64;
                stats.bytes_appended += appended.bytes;
                stats.records += appended.records;
                stats.file_len += appended.bytes;
                if self.syncs_each {
                    stats.synced_appends += 1;
                } else {
                    self.dirty.store(true, Ordering::Release);
                }
                Ok(())
            }
            Err(error) => {
                stats.failed_appends += 1;
                Err(Box::new(error))
            }
        }
    }
}
