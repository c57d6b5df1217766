//! The writer task of a file client: it owns the [`UpdateLog`], batches the
//! updates the file peer hands it (see [`super::batch`]), and does every file
//! operation on the blocking thread pool, so that a slow disk never stalls the
//! runtime's workers.
//!
//! It runs until the client closes (a [`Job::Close`]) or is dropped (every
//! sender gone); either way it appends what is still waiting, squashes if the
//! client asked for it, and syncs the file.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until};

use super::batch::{Batch, Timing};
use crate::blocking::blocking;
use crate::{Error, SquashStats, UpdateLog, merge};

/// Work for the writer.
pub(crate) enum Job {
    /// A document update to append (from the file peer).
    Update(Vec<u8>),
    /// Append what waits, then squash the file (from `AsyncFileClient::squash`).
    Squash(oneshot::Sender<Result<SquashStats, Error>>),
    /// Append what waits, squash if configured, sync, and stop.
    Close(oneshot::Sender<Result<(), Error>>),
}

/// What a file client has done to its file so far: a snapshot from
/// [`AsyncFileClient::stats`](crate::AsyncFileClient::stats), or a watch of
/// every change from
/// [`AsyncFileClient::watch_stats`](crate::AsyncFileClient::watch_stats).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileStats {
    /// Records in the file when it was opened (before any squash on open):
    /// what was replayed into the document.
    pub loaded_records: usize,
    /// Successful appends (each one write, and one sync with
    /// [`Durability::Fsync`](crate::Durability::Fsync)).
    pub appends: u64,
    /// Records written by those appends: one per document update.
    pub records_appended: u64,
    /// Bytes written by those appends, length prefixes included.
    pub bytes_appended: u64,
    /// Appends synced to stable storage right after their write: every one
    /// with [`Durability::Fsync`](crate::Durability::Fsync), none otherwise
    /// (closing still syncs the file).
    pub synced_appends: u64,
    /// Appends that failed (they are retried; see the log for why).
    pub failed_appends: u64,
    /// Squashes done, on open, on request and on close.
    pub squashes: u64,
    /// Updates received and not yet appended (waiting for `write_delay`).
    pub pending: usize,
    /// Records in the file now.
    pub records: usize,
    /// Length of the file now, in bytes.
    pub file_len: u64,
}

/// The writer task's state.
pub(crate) struct Writer {
    pub(crate) log: Arc<Mutex<UpdateLog>>,
    /// The log's path, for messages.
    pub(crate) path: PathBuf,
    pub(crate) jobs: mpsc::UnboundedReceiver<Job>,
    pub(crate) timing: Timing,
    pub(crate) squash_on_close: bool,
    pub(crate) stats: watch::Sender<FileStats>,
    pub(crate) batch: Batch,
}

/// How many jobs the writer takes off its queue at once when it waits.
const JOBS_AT_ONCE: usize = 256;

/// How many already-queued jobs the writer takes in before it looks at the
/// clock again.
const DRAIN_AT_MOST: usize = 4096;

impl Writer {
    /// Runs until the client closes or goes away.
    pub(crate) async fn run(mut self) {
        let mut jobs = Vec::with_capacity(JOBS_AT_ONCE);
        let mut closers = Vec::new();
        let mut gone = false;
        while !gone && closers.is_empty() {
            // Take in what is already queued first: what piled up during the
            // last append goes into the next one. Bounded, so that a producer
            // faster than this loop cannot hold the deadline check off.
            for _ in 0..DRAIN_AT_MOST {
                match self.jobs.try_recv() {
                    Ok(job) => self.handle(job, &mut closers).await,
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        gone = true; // the client was dropped without close()
                        break;
                    }
                }
            }
            if gone || !closers.is_empty() {
                break;
            }
            let deadline = self.batch.deadline(&self.timing);
            // Due now: append without a timer, whose millisecond granularity
            // would add up to a millisecond to every `write_delay = 0` append.
            if deadline.is_some_and(|deadline| deadline <= Instant::now()) {
                // A failure is logged and the batch kept for a retry; close()
                // reports the error of the last attempt.
                let _ = self.append().await;
                continue;
            }
            tokio::select! {
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    let _ = self.append().await;
                }
                received = self.jobs.recv_many(&mut jobs, JOBS_AT_ONCE) => {
                    gone = received == 0;
                    for job in jobs.drain(..) {
                        self.handle(job, &mut closers).await;
                    }
                }
            }
        }

        let result = self.finish().await;
        match (closers.is_empty(), &result) {
            (true, Err(error)) => {
                tracing::error!(
                    path = %self.path.display(),
                    %error,
                    "file client stopped without close(); its last changes may be lost"
                );
            }
            _ => {
                // The first closer gets the error itself; a second close()
                // racing the first only needs to know it is done.
                let mut result = Some(result);
                for reply in closers {
                    let _ = reply.send(result.take().unwrap_or(Ok(())));
                }
            }
        }
    }

    /// Does one job; a close request is collected in `closers`, answered when
    /// the writer has finished.
    async fn handle(&mut self, job: Job, closers: &mut Vec<oneshot::Sender<Result<(), Error>>>) {
        match job {
            Job::Update(update) => {
                self.batch.push(update, Instant::now());
                self.publish_pending();
            }
            Job::Squash(reply) => {
                let _ = reply.send(self.squash().await);
            }
            Job::Close(reply) => closers.push(reply),
        }
    }

    /// The last steps: append what waits, squash if asked, sync.
    async fn finish(&mut self) -> Result<(), Error> {
        let appended = self.append().await;
        let squashed = match (&appended, self.squash_on_close) {
            (Ok(()), true) => self.squash().await.map(drop),
            _ => Ok(()),
        };
        // Even with Durability::None a closed client's file should be on disk.
        let log = self.log.clone();
        let synced = blocking("sync", move || lock(&log).sync())
            .await
            .and_then(|r| r);
        appended.and(squashed).and(synced)
    }

    /// Appends every waiting update now, if there is any.
    async fn append(&mut self) -> Result<(), Error> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let updates = self.batch.take();
        let log = self.log.clone();
        let outcome = blocking("append", move || {
            let mut log = lock(&log);
            let result = log.append(&updates);
            (updates, result, log.record_count(), log.len())
        })
        .await;
        match outcome {
            Ok((_, Ok(appended), records, file_len)) => {
                let pending = self.batch.len();
                self.stats.send_modify(|stats| {
                    stats.appends += 1;
                    stats.synced_appends += u64::from(appended.synced);
                    stats.records_appended += appended.records as u64;
                    stats.bytes_appended += appended.bytes;
                    stats.pending = pending;
                    stats.records = records;
                    stats.file_len = file_len;
                });
                Ok(())
            }
            Ok((updates, Err(error), _, _)) => {
                tracing::error!(
                    path = %self.path.display(),
                    %error,
                    updates = updates.len(),
                    "append failed; retrying"
                );
                self.batch.restore(updates, Instant::now());
                self.stats.send_modify(|stats| stats.failed_appends += 1);
                Err(error)
            }
            // The blocking task died (a panic, the runtime going away): its
            // updates died with it. Said loudly, as it is data lost.
            Err(error) => {
                tracing::error!(
                    path = %self.path.display(),
                    %error,
                    "append task failed; its updates are lost from the file (the document still has them)"
                );
                self.publish_pending();
                Err(error)
            }
        }
    }

    /// Appends what waits, then rewrites the file as one record.
    async fn squash(&mut self) -> Result<SquashStats, Error> {
        self.append().await?;
        let log = self.log.clone();
        let (squashed, records, file_len) = blocking("squash", move || {
            let mut log = lock(&log);
            let result = squash_log(&mut log);
            (result, log.record_count(), log.len())
        })
        .await?;
        let squashed = squashed?;
        self.stats.send_modify(|stats| {
            stats.squashes += 1;
            stats.records = records;
            stats.file_len = file_len;
        });
        Ok(squashed)
    }

    fn publish_pending(&self) {
        let pending = self.batch.len();
        self.stats.send_if_modified(|stats| {
            let changed = stats.pending != pending;
            stats.pending = pending;
            changed
        });
    }
}

/// Rewrites `log` as one record holding the document its records describe.
pub(crate) fn squash_log(log: &mut UpdateLog) -> Result<SquashStats, Error> {
    let records = log.read_records()?;
    let state = merge::squashed_state(&records).map_err(|e| e.at_path(log.path()))?;
    log.squash(&state)
}

/// Locks the log. Only blocking tasks and short, non-async sections take this
/// lock, one at a time (the writer awaits each blocking task before starting
/// the next); a panic under it leaves the log usable (it re-cuts a partial
/// append itself), so a poisoned lock is recovered rather than fatal.
pub(crate) fn lock(log: &Mutex<UpdateLog>) -> MutexGuard<'_, UpdateLog> {
    wiredb::lock_unpoisoned(log)
}
