//! [`RoomClients`]: the bookkeeping of room hooks that attach one client to each room.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::lock::lock_unpoisoned;
use crate::room::Room;

/// One client per open room, by room id: what room hooks that attach a client to
/// every room they open (a file client, an upstream connection) keep between
/// `on_open` and `on_close`.
///
/// ```
/// use wiredb::{BoxFuture, Room, RoomClients, RoomHooks};
///
/// /// Counts the edits of every open room (a stand-in for a file client).
/// #[derive(Default)]
/// struct Counters(RoomClients<std::sync::Arc<std::sync::atomic::AtomicU64>>);
///
/// impl RoomHooks for Counters {
///     fn on_open<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
///         Box::pin(async move {
///             self.0.attach(room, Default::default());
///             Ok(())
///         })
///     }
///
///     fn on_close<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
///         Box::pin(async move {
///             drop(self.0.detach(room)); // a real client would be closed here
///             Ok(())
///         })
///     }
/// }
/// ```
pub struct RoomClients<C> {
    clients: Mutex<HashMap<String, C>>,
}

impl<C> Default for RoomClients<C> {
    fn default() -> Self {
        RoomClients {
            clients: Mutex::new(HashMap::new()),
        }
    }
}

impl<C> std::fmt::Debug for RoomClients<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomClients")
            .field("rooms", &self.len())
            .finish()
    }
}

impl<C> RoomClients<C> {
    /// No clients yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Attaches `client` to `room`. The manager opens a room only once the previous
    /// room of that id has closed, so there is no earlier client to replace; were
    /// there one, it is returned for the caller to close.
    pub fn attach(&self, room: &Room, client: C) -> Option<C> {
        lock_unpoisoned(&self.clients).insert(room.id().to_owned(), client)
    }

    /// Takes `room`'s client back, to close it (`None` when its open failed).
    pub fn detach(&self, room: &Room) -> Option<C> {
        lock_unpoisoned(&self.clients).remove(room.id())
    }

    /// Runs `f` with the client of room `id`, while that room is open.
    pub fn with<R>(&self, id: &str, f: impl FnOnce(&C) -> R) -> Option<R> {
        lock_unpoisoned(&self.clients).get(id).map(f)
    }

    /// Rooms with a client.
    pub fn len(&self) -> usize {
        lock_unpoisoned(&self.clients).len()
    }

    /// True when no room has a client.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
