//! [`AsyncFileServer`]: the directory that persists every room of a server.
//!
//! It is a set of [`RoomHooks`]: any server built on the core's
//! [`RoomManager`](wiredb::RoomManager) (the WebSocket one, an in-memory one)
//! gets persistence by handing it over. When a room opens, its file
//! (`{dir}/{encoded id}_updates.y`, see [`crate::room_path`]) is loaded into the
//! room's document and becomes the room's write-ahead [`UpdateSink`]: every
//! update is appended (handed to the kernel) *before* the room relays it, so a
//! process crash never loses an edit another client has seen. The file is synced
//! by group commit (`sync_interval`); when the room closes (its last peer left, or
//! the server shuts down) it is synced, squashed if asked, and unlocked.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | [`AsyncFileServer`]: room hooks, one log per open room |
//! | `room_log.rs` | the open room's log: the sink, its sync, the close |
//! | `committer.rs` | group commit: one task syncs every room's file per interval |

mod committer;
mod room_log;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use wiredb::{BoxFuture, Room, RoomClients, RoomHooks, UpdateSink};

use crate::blocking::blocking;
use crate::load::load_into;
use crate::{Error, FileClientConfig, FileStats, naming};
use committer::Committer;
use room_log::RoomLog;

/// The log of an open room, where it is, and whether opening the room created it.
struct RoomFile {
    log: Arc<RoomLog>,
    path: PathBuf,
    created: bool,
}

/// Room hooks that keep every room of a server in `{dir}/{encoded id}_updates.y`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use wire_file::AsyncFileServer;
/// use wiredb::{ManagerConfig, RoomManager};
/// use wiredb::yrs::{GetString, Text, Transact};
///
/// let dir = tempfile::tempdir()?;
/// let server = RoomManager::new(AsyncFileServer::new(dir.path()), ManagerConfig::default());
/// let lease = server.join("notes").await?; // loads dir/notes_updates.y
/// let doc = lease.room().doc().clone();
/// doc.get_or_insert_text("text").push(&mut doc.transact_mut(), "kept");
/// drop(lease);
/// server.shutdown().await?; // every room closed, every file flushed
///
/// let server = RoomManager::new(AsyncFileServer::new(dir.path()), ManagerConfig::default());
/// let lease = server.join("notes").await?;
/// let doc = lease.room().doc();
/// assert_eq!(doc.get_or_insert_text("text").get_string(&doc.transact()), "kept");
/// # drop(lease);
/// # server.shutdown().await?;
/// # Ok(()) }
/// ```
pub struct AsyncFileServer {
    dir: PathBuf,
    /// The options of every room's file client.
    config: FileClientConfig,
    /// The log of every open room.
    clients: RoomClients<RoomFile>,
    /// Group commit of every room's file.
    committer: Committer,
}

impl std::fmt::Debug for AsyncFileServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncFileServer")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .field("open_rooms", &self.clients.len())
            .finish()
    }
}

impl AsyncFileServer {
    /// Persists rooms in `dir` (created when the first room opens) with the
    /// default options.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_config(dir, FileClientConfig::default())
    }

    /// Persists rooms in `dir`, each room's file client opened with `config`
    /// (`write_delay`, `squash_on_open`, `squash_on_close`, `durability`, ...):
    ///
    /// ```
    /// use std::time::Duration;
    /// use wire_file::{AsyncFileServer, FileClientConfig};
    ///
    /// let files = AsyncFileServer::with_config(
    ///     "wiredb-data",
    ///     FileClientConfig::default().write_delay(Duration::from_millis(100)).squash_on_close(true),
    /// );
    /// assert!(files.config().squash_on_close);
    /// ```
    pub fn with_config(dir: impl Into<PathBuf>, config: FileClientConfig) -> Self {
        AsyncFileServer {
            dir: dir.into(),
            committer: Committer::new(config.sync_interval),
            config,
            clients: RoomClients::new(),
        }
    }

    /// The options of every room's file client.
    pub fn config(&self) -> &FileClientConfig {
        &self.config
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of room `id` (see [`room_path`](crate::room_path)).
    pub fn path_for(&self, id: &str) -> PathBuf {
        naming::path_for(&self.dir, id)
    }

    /// The statistics of room `id`'s file, while the room is open.
    pub fn stats(&self, id: &str) -> Option<FileStats> {
        self.clients.with(id, |file| file.log.stats())
    }

    async fn open_room(&self, room: &Room) -> Result<(), Error> {
        let dir = self.dir.clone();
        blocking("create dir", move || crate::create_dir_durably(&dir)).await??;
        let path = self.path_for(room.id());
        let (config, opened, doc) = (self.config.clone(), path.clone(), room.doc().clone());
        // Loaded before the sink is installed: what came from the file is not
        // written to it again.
        let (loaded, existed) = blocking("load", move || {
            let existed = opened.exists();
            load_into(&opened, config.durability, config.squash_on_open, &doc).map(|l| (l, existed))
        })
        .await??;
        let stats = loaded.stats();
        let log = Arc::new(RoomLog::new(
            loaded.log,
            stats,
            self.config.durability,
            self.config.sync_interval,
        ));
        if !room.write_ahead_to(log.clone() as Arc<dyn UpdateSink>) {
            // Two storage hooks on one room: the second would never be written to.
            return Err(Error::InvalidContent {
                path: Some(path),
                reason: "the room already writes ahead to another store (two storage hooks?)"
                    .into(),
            });
        }
        if log.grouped() {
            self.committer.register(&log);
        }
        tracing::debug!(room = room.id(), path = %path.display(), "room loaded from file");
        // Nothing to replace: were the previous room of this id still open, the
        // file lock would have failed above.
        self.clients.attach(
            room,
            RoomFile {
                log,
                path,
                created: !existed,
            },
        );
        Ok(())
    }

    async fn close_room(&self, room: &Room) -> Result<(), Error> {
        let Some(RoomFile { log, path, created }) = self.clients.detach(room) else {
            return Ok(()); // its open failed: nothing to flush
        };
        let stats = log.stats();
        log.close(self.config.squash_on_close).await?;
        if created && stats.records_appended == 0 && stats.records == 0 {
            // Joined and left without an edit: a file holding only the header would
            // be all the visit left behind (a crawler of 2000 ids, 2000 files).
            let removed = path.clone();
            blocking("remove empty file", move || std::fs::remove_file(&removed))
                .await?
                .map_err(|e| Error::io(&path, e))?;
        }
        Ok(())
    }
}

impl RoomHooks for AsyncFileServer {
    fn on_open<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        Box::pin(async move { self.open_room(room).await.map_err(wiredb::Error::hook) })
    }

    fn on_close<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        Box::pin(async move { self.close_room(room).await.map_err(wiredb::Error::hook) })
    }
}
