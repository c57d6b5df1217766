//! [`AsyncFileClient`]: a `yrs::Doc` connected to an update-log file.
//!
//! Three parts, each with one job:
//!
//! ```text
//!  Doc ──observer──▶ Provider ══ memory channel ══▶ file peer ──jobs──▶ writer ──▶ UpdateLog
//!  (yours)           (wiredb core)                  (peer.rs)           (writer.rs, batch.rs)
//! ```
//!
//! - the core's [`Provider`] binds the document to one end of an in-memory
//!   channel, exactly as it would bind it to a WebSocket;
//! - the file peer (`peer.rs`) speaks y-protocols on the other end: it loads
//!   the file's content into the document through the handshake and turns
//!   every update the provider sends into a job for the writer;
//! - the writer (`writer.rs`, `batch.rs`) batches updates (`write_delay`, `max_write_wait`)
//!   and appends them, squashes and syncs, on the blocking thread pool.
//!
//! Storage being "just another connection" is what makes a WebSocket client
//! and a file client on one document a persisted replica: each provider
//! forwards what the other one applied, and neither echoes back what it
//! received itself.

mod batch;
mod builder;
mod config;
mod peer;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use wiredb::MemoryChannel;
use wiredb::yrs::Doc;
use wiredb::{Provider, SyncState};

pub use builder::FileClientBuilder;
pub use config::FileClientConfig;
pub use writer::FileStats;
pub(crate) use writer::squash_log;

use batch::{Batch, Timing};
use writer::{Job, Writer};

use crate::blocking::blocking;
use crate::load::load;
use crate::{Error, SquashStats};

/// A document kept in an update-log file: the file is replayed into the
/// document when the client opens, and every later change of the document is
/// appended to it, batched by
/// [`write_delay`](FileClientConfig::write_delay).
///
/// The document may be shared with other providers (a WebSocket client, a
/// room): what they bring into it is persisted too, and what the file brings
/// is sent out by them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), wire_file::Error> {
/// use wire_file::{AsyncFileClient, FileClientConfig};
/// use wiredb::yrs::{GetString, Text, Transact};
///
/// let dir = tempfile::tempdir().expect("temp dir");
/// let path = dir.path().join("notes_updates.y");
///
/// let client = AsyncFileClient::open(&path).await?;
/// let text = client.doc().get_or_insert_text("text");
/// text.push(&mut client.doc().transact_mut(), "hello");
/// client.close().await?; // appends what is still waiting
///
/// let client = AsyncFileClient::open(&path).await?;
/// let text = client.doc().get_or_insert_text("text");
/// assert_eq!(text.get_string(&client.doc().transact()), "hello");
/// assert_eq!(client.stats().loaded_records, 1);
/// client.close().await?;
/// # Ok(()) }
/// ```
pub struct AsyncFileClient {
    path: PathBuf,
    /// Shared with the task that finishes a dropped client.
    provider: Arc<Provider>,
    /// Commands for the writer (squash, close); the file peer holds its own
    /// sender for updates.
    jobs: mpsc::UnboundedSender<Job>,
    stats: watch::Receiver<FileStats>,
    /// Where closing stands; see [`Closing`].
    tasks: tokio::sync::Mutex<Closing>,
}

/// A client's way to closed. The shutdown runs as a task of its own, so that a
/// `close()` cancelled half-way (a caller's timeout) does not cancel the flush, and
/// the next `close()` waits for that same shutdown rather than returning at once.
enum Closing {
    /// Not asked to close yet.
    Open(Tasks),
    /// Shutting down; the handle gives its outcome.
    ShuttingDown(JoinHandle<Result<(), Error>>),
    /// Closed (the outcome went to whoever awaited it).
    Closed,
}

/// The background tasks of a client, awaited by `close()`.
struct Tasks {
    peer: JoinHandle<wiredb::Result<()>>,
    writer: JoinHandle<()>,
}

impl std::fmt::Debug for AsyncFileClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncFileClient")
            .field("path", &self.path)
            .field("state", &self.state())
            .field("stats", &*self.stats.borrow())
            .finish()
    }
}

impl AsyncFileClient {
    /// Opens (creating it if needed) the update log at `path`, loads it into
    /// a new document and starts persisting the document's changes, with the
    /// default [`FileClientConfig`] (see [`builder`](AsyncFileClient::builder)
    /// for a shared document or other options). Returns once the file's content is in the document (or held
    /// for [`pull`](AsyncFileClient::pull) with `auto_pull = false`).
    ///
    /// A torn last record (a crash during an append) is cut off with a
    /// warning, keeping every whole record. What the document held before and
    /// the file lacks is appended as one record. Must be called within a
    /// Tokio runtime.
    ///
    /// # Errors
    ///
    /// - [`Error::Locked`] if another client, in this process or another one,
    ///   has the file open;
    /// - [`Error::VersionMismatch`] / [`Error::NotAnUpdateLog`] if the file is
    ///   not a log of this format version (it is left untouched);
    /// - [`Error::Decode`] / [`Error::InvalidContent`] if a record is not a
    ///   valid update (the file is left untouched);
    /// - [`Error::Io`] if the file cannot be opened, read, created or synced.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::builder(path).open().await
    }

    /// A builder for a client with a document of the application's (shared with
    /// other providers) or options other than the defaults:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), wire_file::Error> {
    /// use std::time::Duration;
    /// use wire_file::{AsyncFileClient, FileClientConfig};
    /// use wiredb::yrs::Doc;
    ///
    /// let dir = tempfile::tempdir().expect("temp dir");
    /// let doc = Doc::new();
    /// let client = AsyncFileClient::builder(dir.path().join("notes_updates.y"))
    ///     .doc(doc.clone())
    ///     .config(FileClientConfig::default().write_delay(Duration::from_millis(100)))
    ///     .open()
    ///     .await?;
    /// client.close().await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(path: impl AsRef<Path>) -> FileClientBuilder {
        FileClientBuilder::new(path.as_ref().to_path_buf())
    }

    /// Opens `path` for `doc` with `config`: what [`FileClientBuilder::open`] does.
    async fn start(
        path: PathBuf,
        doc: Option<Doc>,
        config: FileClientConfig,
    ) -> Result<Self, Error> {
        let loaded = {
            let (path, durability, squash) =
                (path.clone(), config.durability, config.squash_on_open);
            blocking("load", move || load(&path, durability, squash)).await??
        };
        let stats = loaded.stats();
        let (stats_sender, stats) = watch::channel(stats);
        let (jobs, queue) = mpsc::unbounded_channel();
        let writer = tokio::spawn(
            Writer {
                log: Arc::new(Mutex::new(loaded.log)),
                path: path.clone(),
                jobs: queue,
                timing: Timing::new(config.write_delay, config.max_write_wait),
                squash_on_close: config.squash_on_close,
                stats: stats_sender,
                batch: Batch::default(),
            }
            .run(),
        );

        let shown = path.display();
        let (doc_end, file_end) =
            MemoryChannel::pair(format!("doc:{shown}"), format!("file:{shown}"));
        let peer = tokio::spawn(peer::run(
            file_end,
            loaded.content,
            loaded.state,
            jobs.clone(),
        ));
        let provider = Arc::new(Provider::spawn(
            doc.unwrap_or_else(wiredb::new_doc),
            doc_end,
            config.provider,
        ));
        let client = AsyncFileClient {
            path,
            provider,
            jobs,
            stats,
            tasks: tokio::sync::Mutex::new(Closing::Open(Tasks { peer, writer })),
        };

        if let Err(synced) = client.provider.synced().await {
            // The provider's own error (yrs rejected the content) says more
            // than "channel closed".
            let why = client.provider.wait().await.err();
            let closed = client.close().await;
            return Err(why
                .map(Error::from)
                .or(closed.err())
                .unwrap_or(synced.into()));
        }
        tracing::debug!(path = %client.path.display(), stats = ?*client.stats.borrow(), "file client open");
        Ok(client)
    }

    /// The document.
    pub fn doc(&self) -> &Doc {
        self.provider.doc()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// [`SyncState::Synced`] from a successful [`open`](AsyncFileClient::open)
    /// until [`close`](AsyncFileClient::close).
    pub fn state(&self) -> SyncState {
        self.provider.state()
    }

    /// Waits until the file's content has been loaded (it has, once
    /// [`open`](AsyncFileClient::open) has returned); fails once the client
    /// is closed.
    ///
    /// # Errors
    ///
    /// [`Error::Core`] when the client is closed.
    pub async fn synced(&self) -> Result<(), Error> {
        Ok(self.provider.synced().await?)
    }

    /// Sends the changes held while `auto_push` is off to the file, merged
    /// into one update (one record). Returns how many changes were merged.
    ///
    /// # Errors
    ///
    /// [`Error::Core`] if the client is closed or the changes cannot be
    /// merged.
    pub fn push(&self) -> Result<usize, Error> {
        Ok(self.provider.push()?)
    }

    /// Applies the file's content held while `auto_pull` is off to the
    /// document. Returns how many updates were applied.
    ///
    /// # Errors
    ///
    /// [`Error::Core`] if yrs rejects the content.
    pub fn pull(&self) -> Result<usize, Error> {
        Ok(self.provider.pull()?)
    }

    /// Turns `auto_push` on or off. Turning it on does not send what is
    /// held: call [`push`](AsyncFileClient::push).
    pub fn set_auto_push(&self, auto_push: bool) {
        self.provider.set_auto_push(auto_push);
    }

    /// Document changes held for [`push`](AsyncFileClient::push).
    pub fn held_local_count(&self) -> usize {
        self.provider.held_local_count()
    }

    /// File updates held for [`pull`](AsyncFileClient::pull).
    pub fn held_remote_count(&self) -> usize {
        self.provider.held_remote_count()
    }

    /// What the client has done to its file so far.
    pub fn stats(&self) -> FileStats {
        self.stats.borrow().clone()
    }

    /// A receiver that sees every change of [`stats`](AsyncFileClient::stats):
    /// wait on it for an append (`watch.wait_for(|s| s.records_appended >= n)`)
    /// instead of sleeping.
    pub fn watch_stats(&self) -> watch::Receiver<FileStats> {
        self.stats.clone()
    }

    /// Appends what is waiting for `write_delay`, then rewrites the file
    /// atomically as one record holding the whole document (deleted content
    /// garbage-collected). Changes still on their way from the document are
    /// appended after it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be read, written or renamed (it is
    /// then unchanged), [`Error::Core`] if the client is closed.
    pub async fn squash(&self) -> Result<SquashStats, Error> {
        let (reply, done) = oneshot::channel();
        self.jobs
            .send(Job::Squash(reply))
            .map_err(|_| wiredb::Error::ChannelClosed)?;
        done.await.map_err(|_| wiredb::Error::ChannelClosed)?
    }

    /// Stops persisting: every change made to the document before this call
    /// is appended (what `write_delay` still holds included), the file is
    /// squashed if [`squash_on_close`](FileClientConfig::squash_on_close)
    /// says so, and synced. Changes held by `auto_push = false` are not
    /// written. Closing again does nothing (a close racing another waits for
    /// it to finish).
    ///
    /// Dropping a client without closing it does the same in the background
    /// (as long as the runtime lives), but a failure is only logged.
    ///
    /// # Errors
    ///
    /// The first failure of the final append, squash or sync.
    pub async fn close(&self) -> Result<(), Error> {
        // Held until the shutdown is done, so that a second close() racing the
        // first returns only once the file is flushed, not at once.
        let mut closing = self.tasks.lock().await;
        if matches!(*closing, Closing::Open(_))
            && let Closing::Open(tasks) = std::mem::replace(&mut *closing, Closing::Closed)
        {
            let (provider, jobs) = (self.provider.clone(), self.jobs.clone());
            *closing = Closing::ShuttingDown(tokio::spawn(async move {
                shut_down(&provider, &jobs, tasks).await
            }));
        }
        let Closing::ShuttingDown(shutdown) = &mut *closing else {
            return Ok(()); // closed before
        };
        // A cancelled wait leaves the handle in place for the next close().
        let outcome = shutdown.await;
        *closing = Closing::Closed;
        match outcome {
            Ok(result) => result,
            Err(source) => Err(Error::Background {
                task: "shutdown",
                source,
            }),
        }
    }
}

impl Drop for AsyncFileClient {
    fn drop(&mut self) {
        let Closing::Open(tasks) = std::mem::replace(self.tasks.get_mut(), Closing::Closed) else {
            return; // closed, or its shutdown task runs on by itself
        };
        // Dropping the provider would cancel it with changes still queued:
        // close it properly instead, in the background.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (provider, jobs, path) = (self.provider.clone(), self.jobs.clone(), self.path.clone());
        runtime.spawn(async move {
            if let Err(error) = shut_down(&provider, &jobs, tasks).await {
                tracing::error!(
                    path = %path.display(),
                    %error,
                    "file client dropped without close(); its last changes may be lost"
                );
            }
        });
    }
}

/// Closes a client: the provider sends everything queued and closes the
/// channel, the file peer hands every update to the writer before it sees the
/// end, and the writer appends them, squashes if asked, syncs and stops.
async fn shut_down(
    provider: &Provider,
    jobs: &mpsc::UnboundedSender<Job>,
    tasks: Tasks,
) -> Result<(), Error> {
    let provider = provider.close().await;
    let peer = tasks.peer.await;
    let (reply, done) = oneshot::channel();
    let written = match jobs.send(Job::Close(reply)) {
        Ok(()) => done.await.ok(),
        Err(_) => None,
    };
    let writer = tasks.writer.await;

    // The writer's result first: that is where data is at stake.
    match (written, writer) {
        (Some(result), _) => result?,
        (None, Err(source)) => {
            return Err(Error::Background {
                task: "writer",
                source,
            });
        }
        (None, Ok(())) => {}
    }
    match peer {
        Ok(result) => result?,
        Err(source) => {
            return Err(Error::Background {
                task: "file peer",
                source,
            });
        }
    }
    match provider {
        // The channel being closed is how this ends.
        Ok(()) => Ok(()),
        Err(error) if matches!(error.root(), wiredb::Error::ChannelClosed) => Ok(()),
        Err(error) => Err(error.into()),
    }
}
