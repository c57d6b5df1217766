//! Rooms by id: created on first use, closed when their last peer leaves, all closed
//! on shutdown.
//!
//! Creation is single-flight: the first joiner of an id inserts a slot holding an
//! async once-cell, and everyone who arrives while the room is being opened (its
//! hooks may be loading a file) waits on that same cell. That is what keeps a herd of
//! simultaneous joiners in one room. A room that is closing keeps its slot until its
//! hooks have finished (its file flushed), and joiners wait for that before opening a
//! fresh room, so a reopened room never reads a half-written file.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::room::{PeerOptions, Room, RoomConfig};

/// A boxed, sendable future, as returned by [`RoomHooks`] methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What happens when a room opens and closes: this is where persistence and upstream
/// connections attach to a server's rooms.
///
/// `on_open` runs once, before the first peer is served; it may load state into
/// [`Room::doc`] and start background work with [`Room::spawn`] (which runs until
/// [`Room::closing`] is cancelled). `on_close` runs after every peer has left and every
/// background task has finished.
///
/// ```
/// use wiredb::{BoxFuture, Room, RoomHooks};
///
/// struct LogRooms;
///
/// impl RoomHooks for LogRooms {
///     fn on_open<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
///         Box::pin(async move {
///             tracing::info!(room = room.id(), "opened");
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait RoomHooks: Send + Sync + 'static {
    /// Prepares a new room. An error fails the join that created the room; the next
    /// joiner tries again.
    fn on_open<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, Result<()>> {
        let _ = room;
        Box::pin(async { Ok(()) })
    }

    /// Finishes a closed room (flush, squash, disconnect upstream). Errors are
    /// logged, and reported by [`RoomManager::shutdown`] for the rooms it closes.
    fn on_close<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, Result<()>> {
        let _ = room;
        Box::pin(async { Ok(()) })
    }
}

/// No hooks: rooms live in memory only.
impl RoomHooks for () {}

/// Several hooks: opened in order, closed in reverse order. If one fails to open, the
/// ones already opened are closed again (in reverse order) before the error is
/// returned, so that nothing they acquired (a file lock, a connection) outlives the
/// failed open.
impl RoomHooks for Vec<Arc<dyn RoomHooks>> {
    fn on_open<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, Result<()>> {
        let hooks: Vec<&dyn RoomHooks> = self.iter().map(|h| &**h).collect();
        Box::pin(open_in_order(hooks, room))
    }

    fn on_close<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, Result<()>> {
        let hooks: Vec<&dyn RoomHooks> = self.iter().map(|h| &**h).collect();
        Box::pin(close_in_reverse(hooks, room))
    }
}

/// Hooks composed as a tuple, without boxing: `(AsyncFileServer::new(dir),
/// Upstream::new(hub))` persists every room *and* connects it upstream. Same order
/// and undo rules as the `Vec` of hooks.
macro_rules! tuple_hooks {
    ($($name:ident . $index:tt),+) => {
        impl<$($name: RoomHooks),+> RoomHooks for ($($name,)+) {
            fn on_open<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, Result<()>> {
                Box::pin(open_in_order(vec![$(&self.$index as &dyn RoomHooks),+], room))
            }

            fn on_close<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, Result<()>> {
                Box::pin(close_in_reverse(vec![$(&self.$index as &dyn RoomHooks),+], room))
            }
        }
    };
}

tuple_hooks!(A.0, B.1);
tuple_hooks!(A.0, B.1, C.2);
tuple_hooks!(A.0, B.1, C.2, D.3);

async fn open_in_order(hooks: Vec<&dyn RoomHooks>, room: &Room) -> Result<()> {
    for (opened, each) in hooks.iter().enumerate() {
        if let Err(error) = each.on_open(room).await {
            for undo in hooks[..opened].iter().rev() {
                if let Err(undo_error) = undo.on_close(room).await {
                    tracing::warn!(room = room.id(), error = %undo_error, "closing hook failed while undoing a failed open");
                }
            }
            return Err(error);
        }
    }
    Ok(())
}

async fn close_in_reverse(hooks: Vec<&dyn RoomHooks>, room: &Room) -> Result<()> {
    let mut first_error = None;
    for each in hooks.iter().rev() {
        if let Err(error) = each.on_close(room).await {
            first_error.get_or_insert(error);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Settings of a [`RoomManager`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ManagerConfig {
    /// Settings of every room.
    pub room: RoomConfig,
    /// How long a room with no peers stays open, in case someone rejoins (default:
    /// zero, close at once). A reconnecting client within the grace period finds the
    /// room as it left it, without a reload from storage. `Duration::MAX` keeps
    /// rooms open until shutdown (an in-memory server, whose closed room is a lost
    /// document).
    pub close_grace: Duration,
}

impl ManagerConfig {
    /// Sets [`ManagerConfig::close_grace`].
    pub fn close_grace(mut self, grace: Duration) -> Self {
        self.close_grace = grace;
        self
    }

    /// Sets [`ManagerConfig::room`].
    pub fn room(mut self, room: RoomConfig) -> Self {
        self.room = room;
        self
    }
}

struct Slot {
    cell: Arc<OnceCell<Room>>,
    peers: usize,
    /// Bumped on every join, so that a close scheduled before a rejoin is abandoned.
    epoch: u64,
    /// Set while the room is closing; cancelled when its hooks are done.
    closed: Option<CancellationToken>,
}

struct ManagerInner {
    hooks: Arc<dyn RoomHooks>,
    config: ManagerConfig,
    rooms: Mutex<HashMap<String, Slot>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    /// Closing hooks that failed once shutdown had begun (also in rooms that were
    /// already closing on their own then): what [`RoomManager::shutdown`] reports.
    close_failures: Mutex<Vec<(String, Error)>>,
}

impl ManagerInner {
    fn rooms(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // Every critical section below leaves the map consistent at each step, so a
        // poisoned lock is recovered rather than turned into a panic cascade.
        crate::lock_unpoisoned(&self.rooms)
    }
}

/// The rooms of a server, by id.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use wiredb::{MemoryChannel, ManagerConfig, Provider, ProviderConfig, RoomManager};
///
/// let manager = RoomManager::new((), ManagerConfig::default());
/// let (server_end, client_end) = MemoryChannel::pair("server", "client");
/// let serving = tokio::spawn({
///     let manager = manager.clone();
///     async move { manager.serve("room-1", server_end, Default::default()).await }
/// });
/// let provider = Provider::spawn(yrs::Doc::new(), client_end, ProviderConfig::default());
/// provider.synced().await.unwrap();
/// assert_eq!(manager.room_ids(), vec!["room-1".to_string()]);
/// provider.close().await.unwrap();
/// serving.await.unwrap().unwrap();
/// manager.shutdown().await.unwrap();
/// assert_eq!(manager.room_count(), 0);
/// # }
/// ```
#[derive(Clone)]
pub struct RoomManager {
    inner: Arc<ManagerInner>,
}

impl std::fmt::Debug for RoomManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomManager")
            .field("rooms", &self.room_count())
            .finish()
    }
}

/// A peer's hold on a room: while any lease on a room is alive, the room stays open.
/// Dropping the last one schedules the room's close.
pub struct RoomLease {
    manager: Arc<ManagerInner>,
    id: String,
    room: Room,
}

impl RoomLease {
    /// The leased room.
    pub fn room(&self) -> &Room {
        &self.room
    }
}

impl Drop for RoomLease {
    fn drop(&mut self) {
        release(&self.manager, &self.id);
    }
}

impl RoomManager {
    /// A manager whose rooms are prepared by `hooks` (use `()` for none).
    pub fn new(hooks: impl RoomHooks, config: ManagerConfig) -> Self {
        Self::with_shared_hooks(Arc::new(hooks), config)
    }

    /// Like [`RoomManager::new`] with hooks already behind an `Arc`.
    pub fn with_shared_hooks(hooks: Arc<dyn RoomHooks>, config: ManagerConfig) -> Self {
        RoomManager {
            inner: Arc::new(ManagerInner {
                hooks,
                config,
                rooms: Mutex::new(HashMap::new()),
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
                close_failures: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Joins room `id`, creating (and opening through the hooks) it if needed.
    pub async fn join(&self, id: &str) -> Result<RoomLease> {
        let cell = loop {
            if self.inner.shutdown.is_cancelled() {
                return Err(Error::RoomClosing);
            }
            let closing = {
                let mut rooms = self.inner.rooms();
                let slot = rooms.entry(id.to_owned()).or_insert_with(|| Slot {
                    cell: Arc::new(OnceCell::new()),
                    peers: 0,
                    epoch: 0,
                    closed: None,
                });
                match &slot.closed {
                    Some(closed) => closed.clone(),
                    None => {
                        slot.peers += 1;
                        slot.epoch += 1;
                        break slot.cell.clone();
                    }
                }
            };
            closing.cancelled().await;
        };
        let opened = cell
            .get_or_try_init(|| async {
                // A room must not open once shutdown has begun: nothing would close it.
                if self.inner.shutdown.is_cancelled() {
                    return Err(Error::RoomClosing);
                }
                let room = Room::new(id, self.inner.config.room.clone());
                if let Err(error) = self.inner.hooks.on_open(&room).await {
                    crate::metrics::room_open_failures().increment(1);
                    // Background work a hook started before another failed (a file's
                    // group commit) ends with the room, and so does what it holds.
                    room.close().await;
                    return Err(error);
                }
                tracing::info!(room = id, "room opened");
                crate::metrics::rooms_open().increment(1.0);
                Ok::<_, Error>(room)
            })
            .await;
        // From here on the lease's Drop undoes the join, whatever happens.
        match opened {
            Ok(room) => Ok(RoomLease {
                manager: self.inner.clone(),
                id: id.to_owned(),
                room: room.clone(),
            }),
            Err(error) => {
                release(&self.inner, id);
                Err(error)
            }
        }
    }

    /// Joins room `id` and serves one peer on `channel` in it (see
    /// [`Room::serve_with`]).
    pub async fn serve<C: Channel>(
        &self,
        id: &str,
        channel: C,
        options: PeerOptions,
    ) -> Result<()> {
        let lease = self.join(id).await?;
        lease.room().serve_with(channel, options).await
    }

    /// The open room `id`, if there is one.
    pub fn room(&self, id: &str) -> Option<Room> {
        let rooms = self.inner.rooms();
        rooms.get(id).and_then(|slot| slot.cell.get().cloned())
    }

    /// Ids of the rooms open or opening now.
    pub fn room_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.inner.rooms().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Number of rooms open or opening now.
    pub fn room_count(&self) -> usize {
        self.inner.rooms().len()
    }

    /// True once [`RoomManager::shutdown`] has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// The settings this manager was made with.
    pub fn config(&self) -> &ManagerConfig {
        &self.inner.config
    }

    /// Closes every room (peers are told "going away", hooks flush) and waits for all
    /// of it. New joins fail with [`Error::RoomClosing`]. Idempotent.
    ///
    /// # Errors
    ///
    /// [`Error::CloseFailed`] when the closing hook of a room failed (a file not
    /// flushed, say): every other room was still closed, and the caller learns what
    /// may be lost (a server binary exits non-zero). A second call reports nothing.
    pub async fn shutdown(&self) -> Result<()> {
        self.inner.shutdown.cancel();
        let closing: Vec<(String, Arc<OnceCell<Room>>, CancellationToken)> = {
            let mut rooms = self.inner.rooms();
            rooms
                .iter_mut()
                .filter(|(_, slot)| slot.closed.is_none())
                .map(|(id, slot)| {
                    let done = CancellationToken::new();
                    slot.closed = Some(done.clone());
                    (id.clone(), slot.cell.clone(), done)
                })
                .collect()
        };
        for (id, room, done) in closing {
            let inner = self.inner.clone();
            self.inner.tasks.spawn(async move {
                finish_close(&inner, &id, room, done).await;
            });
        }
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        let mut failures = std::mem::take(&mut *crate::lock_unpoisoned(&self.inner.close_failures));
        if failures.is_empty() {
            return Ok(());
        }
        failures.sort_by(|a, b| a.0.cmp(&b.0));
        Err(Error::CloseFailed { failures })
    }
}

/// Undoes one join; the last one out schedules the room's close.
fn release(inner: &Arc<ManagerInner>, id: &str) {
    let epoch = {
        let mut rooms = inner.rooms();
        let Some(slot) = rooms.get_mut(id) else {
            return;
        };
        slot.peers = slot.peers.saturating_sub(1);
        if slot.peers > 0 || slot.closed.is_some() {
            return;
        }
        slot.epoch
    };
    // Without a runtime (a lease dropped at process exit) there is nothing to close
    // asynchronously; shutdown() is the orderly path.
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let task_inner = inner.clone();
    let id = id.to_owned();
    inner.tasks.spawn_on(
        async move { close_when_idle(task_inner, id, epoch).await },
        &runtime,
    );
}

async fn close_when_idle(inner: Arc<ManagerInner>, id: String, epoch: u64) {
    let grace = inner.config.close_grace;
    if grace == Duration::MAX && keeps_its_document(&inner, &id) {
        // Kept until shutdown, which closes every room itself.
        return;
    }
    if !grace.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep(grace) => {}
            // shutdown() closes every room itself.
            _ = inner.shutdown.cancelled() => return,
        }
    }
    let (room, done) = {
        let mut rooms = inner.rooms();
        let Some(slot) = rooms.get_mut(&id) else {
            return;
        };
        if slot.peers > 0 || slot.epoch != epoch || slot.closed.is_some() {
            return;
        }
        let done = CancellationToken::new();
        slot.closed = Some(done.clone());
        (slot.cell.clone(), done)
    };
    finish_close(&inner, &id, room, done).await;
}

/// Whether the idle room `id` holds a document worth keeping: it opened, and its
/// storage has not failed. A room that failed to open, or whose storage failed
/// (refusing every edit until it reopens), is closed even when rooms are kept.
fn keeps_its_document(inner: &ManagerInner, id: &str) -> bool {
    let rooms = inner.rooms();
    rooms
        .get(id)
        .and_then(|slot| slot.cell.get())
        .is_some_and(|room| room.storage_failure().is_none())
}

/// Closes the room in `cell` and runs its closing hooks. A hook's error is logged,
/// and kept for [`RoomManager::shutdown`] to report once shutdown has begun.
async fn finish_close(
    inner: &ManagerInner,
    id: &str,
    cell: Arc<OnceCell<Room>>,
    done: CancellationToken,
) {
    // A room still opening (its hooks loading a file) is waited for, then closed like
    // any other: returning early would leave it open with nobody to close it. If it is
    // not opening, this claims the cell so that it never will.
    let room = cell
        .get_or_try_init(|| async { Err::<Room, Error>(Error::RoomClosing) })
        .await
        .ok()
        .cloned();
    if let Some(room) = room {
        room.close().await;
        if let Err(error) = inner.hooks.on_close(&room).await {
            tracing::error!(room = id, %error, "closing hook failed");
            if inner.shutdown.is_cancelled() {
                let mut failures = crate::lock_unpoisoned(&inner.close_failures);
                failures.push((id.to_owned(), error));
            }
        }
        tracing::info!(room = id, "room closed");
        crate::metrics::rooms_open().decrement(1.0);
    }
    inner.rooms().remove(id);
    done.cancel();
}
