//! [`AsyncFileServer`]: the directory that persists every room of a server.
//!
//! It is a set of [`RoomHooks`]: any server built on the core's
//! [`RoomManager`](wiredb::RoomManager) (the WebSocket one, an in-memory one)
//! gets persistence by handing it over. When a room opens, a file client is
//! attached to the room's document ([`AsyncFileClient`] over
//! `{dir}/{encoded id}_updates.y`, see [`crate::naming`]); when it closes (its
//! last peer left, or the server shuts down) the client is closed, which
//! appends what `write_delay` still holds, squashes if asked, and syncs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use wiredb::{BoxFuture, Room, RoomHooks};

use crate::blocking::blocking;
use crate::{AsyncFileClient, Durability, Error, FileClientConfig, naming};

/// Options of an [`AsyncFileServer`].
///
/// ```
/// use std::time::Duration;
/// use wire_file::FileServerConfig;
///
/// let config = FileServerConfig::default()
///     .write_delay(Duration::from_millis(100))
///     .squash_on_close(true);
/// assert!(!config.squash_on_open);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FileServerConfig {
    /// See [`FileClientConfig::write_delay`] (default zero).
    pub write_delay: Duration,
    /// See [`FileClientConfig::max_write_wait`] (default 1 s).
    pub max_write_wait: Duration,
    /// Squash a room's file when the room opens (default `false`).
    pub squash_on_open: bool,
    /// Squash a room's file when the room closes (default `false`): one
    /// rewrite per close keeps files small at the cost of a full write of the
    /// document each time a room empties.
    pub squash_on_close: bool,
    /// See [`FileClientConfig::durability`] (default
    /// [`Durability::Fsync`]).
    pub durability: Durability,
}

impl Default for FileServerConfig {
    fn default() -> Self {
        let client = FileClientConfig::default();
        FileServerConfig {
            write_delay: client.write_delay,
            max_write_wait: client.max_write_wait,
            squash_on_open: false,
            squash_on_close: false,
            durability: client.durability,
        }
    }
}

impl FileServerConfig {
    /// Sets [`write_delay`](FileServerConfig::write_delay).
    pub fn write_delay(mut self, delay: Duration) -> Self {
        self.write_delay = delay;
        self
    }

    /// Sets [`max_write_wait`](FileServerConfig::max_write_wait).
    pub fn max_write_wait(mut self, wait: Duration) -> Self {
        self.max_write_wait = wait;
        self
    }

    /// Sets [`squash_on_open`](FileServerConfig::squash_on_open).
    pub fn squash_on_open(mut self, squash: bool) -> Self {
        self.squash_on_open = squash;
        self
    }

    /// Sets [`squash_on_close`](FileServerConfig::squash_on_close).
    pub fn squash_on_close(mut self, squash: bool) -> Self {
        self.squash_on_close = squash;
        self
    }

    /// Sets [`durability`](FileServerConfig::durability).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The options of each room's file client.
    fn client(&self) -> FileClientConfig {
        FileClientConfig::default()
            .write_delay(self.write_delay)
            .max_write_wait(self.max_write_wait)
            .squash(self.squash_on_open)
            .squash_on_close(self.squash_on_close)
            .durability(self.durability)
    }
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
    config: FileServerConfig,
    /// The file client of every open room, by room id.
    clients: Mutex<HashMap<String, AsyncFileClient>>,
}

impl std::fmt::Debug for AsyncFileServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncFileServer")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .field("open_rooms", &self.clients().len())
            .finish()
    }
}

impl AsyncFileServer {
    /// Persists rooms in `dir` (created when the first room opens) with the
    /// default options.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_config(dir, FileServerConfig::default())
    }

    /// Persists rooms in `dir` with `config`.
    pub fn with_config(dir: impl Into<PathBuf>, config: FileServerConfig) -> Self {
        AsyncFileServer {
            dir: dir.into(),
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of room `id` (see [`naming`]).
    pub fn path_for(&self, id: &str) -> PathBuf {
        naming::path_for(&self.dir, id)
    }

    /// The statistics of room `id`'s file client, while the room is open.
    pub fn stats(&self, id: &str) -> Option<crate::FileStats> {
        self.clients().get(id).map(AsyncFileClient::stats)
    }

    fn clients(&self) -> MutexGuard<'_, HashMap<String, AsyncFileClient>> {
        // Each critical section is one map operation: a poisoned map is whole.
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn open_room(&self, room: &Room) -> Result<(), Error> {
        let dir = self.dir.clone();
        blocking("create dir", move || crate::log::create_dir_durably(&dir)).await??;
        let path = self.path_for(room.id());
        let client =
            AsyncFileClient::open(&path, Some(room.doc().clone()), self.config.client()).await?;
        tracing::debug!(room = room.id(), path = %path.display(), "room loaded from file");
        // The manager opens a room only after the previous room of that id
        // has closed; were it otherwise, the file lock would have failed above.
        self.clients().insert(room.id().to_owned(), client);
        Ok(())
    }

    async fn close_room(&self, room: &Room) -> Result<(), Error> {
        let client = self.clients().remove(room.id());
        match client {
            Some(client) => client.close().await,
            None => Ok(()), // its open failed: nothing to flush
        }
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
