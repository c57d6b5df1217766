//! [`RoomLog`]: one open room's update log, written ahead of the room's relaying.
//!
//! The room calls [`RoomLog::write`] (as its [`UpdateSink`]) for every update before
//! it relays it: one `write(2)` of one record. Syncing is apart from writing: with
//! group commit the server's [`Committer`](super::committer::Committer) syncs the
//! file at most once per interval, through a second handle, so that appends never
//! wait for the disk.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wiredb::{BoxError, UpdateSink};

use crate::blocking::blocking;
use crate::client::FileStats;
use crate::metrics::FileMetrics;
use crate::{Durability, Error, UpdateLog};

/// One room's log, its statistics, and whether it holds writes not yet synced.
pub(super) struct RoomLog {
    /// Taken out (unlocking the file) when the room closes: the room's doc, which
    /// holds this sink, may outlive the room in a caller's hands.
    log: Mutex<Option<UpdateLog>>,
    /// The handle group commit syncs through (a second handle on the file, so that
    /// appends never wait for a sync); taken out on close, under this lock, so
    /// that no handle (and so no file lock) survives the close.
    sync: Mutex<Option<File>>,
    stats: Mutex<FileStats>,
    /// Written since the last sync.
    dirty: AtomicBool,
    /// Whether appends sync themselves (`sync_interval` zero, or no group commit).
    syncs_each: bool,
    /// The log's handles, for the syncs made through `sync`.
    metrics: FileMetrics,
}

impl RoomLog {
    /// Wraps `log` (already loaded): with `Durability::Fsync` and a non-zero
    /// `sync_interval`, appends only write, and the server's
    /// [`Committer`](super::committer::Committer) syncs ([`RoomLog::grouped`]).
    pub(super) fn new(
        mut log: UpdateLog,
        stats: FileStats,
        durability: Durability,
        sync_interval: Duration,
    ) -> Self {
        let grouped = durability == Durability::Fsync && !sync_interval.is_zero();
        let sync = if grouped {
            match log.sync_handle() {
                Ok(handle) => {
                    log.set_durability(Durability::None);
                    Some(handle)
                }
                Err(error) => {
                    // Without a second handle, every append syncs itself.
                    tracing::error!(%error, "no handle to sync the room's file: each append syncs");
                    None
                }
            }
        } else {
            None
        };
        RoomLog {
            metrics: log.metrics().clone(),
            syncs_each: sync.is_none() && durability == Durability::Fsync,
            log: Mutex::new(Some(log)),
            sync: Mutex::new(sync),
            stats: Mutex::new(stats),
            dirty: AtomicBool::new(false),
        }
    }

    /// Whether the file is synced by group commit (register it with the committer).
    pub(super) fn grouped(&self) -> bool {
        wiredb::lock_unpoisoned(&self.sync).is_some()
    }

    pub(super) fn stats(&self) -> FileStats {
        wiredb::lock_unpoisoned(&self.stats).clone()
    }

    /// Written since the last sync.
    pub(super) fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// Closed: nothing more to sync.
    pub(super) fn is_closed(&self) -> bool {
        wiredb::lock_unpoisoned(&self.sync).is_none()
    }

    /// Syncs the file if it was written since the last sync. Blocking. A failure is
    /// logged, and the file stays due (the close syncs again and reports).
    pub(super) fn sync_if_dirty(&self) {
        let handle = wiredb::lock_unpoisoned(&self.sync);
        let Some(file) = handle.as_ref() else {
            return;
        };
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let started = std::time::Instant::now();
        match file.sync_data() {
            Ok(()) => {
                self.metrics.synced(started);
                wiredb::lock_unpoisoned(&self.stats).synced_appends += 1;
            }
            Err(error) => {
                crate::metrics::failed("sync");
                self.dirty.store(true, Ordering::Release);
                tracing::error!(%error, "group commit: cannot sync the room's file");
            }
        }
    }

    /// The close: a final sync (whatever the durability), a squash if asked, and the
    /// file unlocked. Writes after it fail.
    pub(super) async fn close(self: Arc<Self>, squash: bool) -> Result<(), Error> {
        blocking("close room file", move || {
            // Waits for a group commit in progress, then ends them.
            drop(wiredb::lock_unpoisoned(&self.sync).take());
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
