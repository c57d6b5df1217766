//! A room: one document, its awareness, and the peers connected to it.
//!
//! Data path of one update: a peer's frame is decoded by its [`Connection`], applied to
//! the doc in a transaction tagged with the peer's origin; the doc's update observer
//! encodes the update once as a frame and the peer set (`fanout`) offers it to every other peer's
//! bounded queue. In a quiet room the frame goes out from there when the peer's
//! socket has room; in a busy one it waits a moment (`RoomConfig::linger`) and the
//! room's flush task writes what gathered for each peer at once. Each peer's writer
//! task drains what neither could write, batching what has piled up. Awareness takes
//! the same path through an awareness observer.

mod fanout;
mod pace;
mod queue;
mod write_ahead;

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use yrs::sync::Awareness;
use yrs::{ClientID, Doc, Origin, Transact};

use crate::channel::{Channel, CloseReason};
use crate::error::{Error, Result};
use crate::origin::unique_origin;
use crate::protocol::{
    AwarenessLimits, Connection, Event, encode_awareness, encode_update, observe_changes,
};
use fanout::{PeerSlot, Peers};
use queue::PeerQueue;
pub use write_ahead::UpdateSink;
use write_ahead::{SharedWriteAhead, Verdict};

/// Settings of a room.
///
/// Like every config of the workspace: public fields to read, a setter for each,
/// `#[non_exhaustive]` so that new settings are not breaking; a value out of range is
/// taken at the nearest valid one where it is used, never rejected by a setter.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RoomConfig {
    /// Frames that may wait for one peer before it is disconnected as too slow.
    /// Default 1024: enough to absorb a burst of edits, small enough that a stalled
    /// peer costs at most a few MiB. Values below 4 count as 4.
    pub peer_queue_capacity: usize,
    /// Largest frame accepted from a peer, in bytes (default 16 MiB). Larger frames
    /// close that peer's connection with [`Error::FrameTooLarge`].
    pub max_frame_size: usize,
    /// Frames written to a channel at once when several are queued (default 64).
    pub max_batch: usize,
    /// In a busy room (see [`RoomConfig::linger_above`]), how long the frames for a
    /// peer wait after the first of them before they are written, so that the
    /// frames arriving meanwhile go out in the same write (default 1 ms; zero writes
    /// at once). A write costs the kernel about as much for one small frame as for
    /// ten: in a room of 200 peers and 10 writers this halves the writes
    /// (docs/performance.md). One flush task per room writes them all.
    pub linger: Duration,
    /// Updates and awareness changes relayed per second above which a room is busy
    /// and its frames linger (default 100, measured over 100 ms windows; 0 never).
    /// Below it every frame is written as soon as it is relayed: a quiet room pays
    /// no delay.
    pub linger_above: u32,
    /// Bytes that may wait for one peer, updates to it and replies to its own
    /// requests alike, before it is disconnected as too slow (default 8 MiB). One
    /// frame larger than this (the first sync of a larger document) still goes to a
    /// peer with nothing waiting: a peer costs at most this plus one frame.
    pub peer_queue_bytes: usize,
    /// Awareness states one peer may introduce, and the size of one (default 256
    /// states of at most 8 KiB): over them, the peer is closed with 1008.
    pub awareness_limits: AwarenessLimits,
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            peer_queue_capacity: 1024,
            max_frame_size: 16 * 1024 * 1024,
            max_batch: 64,
            linger: Duration::from_millis(1),
            linger_above: 100,
            peer_queue_bytes: 8 * 1024 * 1024,
            awareness_limits: AwarenessLimits::default(),
        }
    }
}

impl RoomConfig {
    /// Sets [`RoomConfig::peer_queue_capacity`].
    pub fn peer_queue_capacity(mut self, frames: usize) -> Self {
        self.peer_queue_capacity = frames;
        self
    }

    /// Sets [`RoomConfig::peer_queue_bytes`].
    pub fn peer_queue_bytes(mut self, bytes: usize) -> Self {
        self.peer_queue_bytes = bytes;
        self
    }

    /// Sets [`RoomConfig::awareness_limits`].
    pub fn awareness_limits(mut self, limits: AwarenessLimits) -> Self {
        self.awareness_limits = limits;
        self
    }

    /// Sets [`RoomConfig::max_batch`].
    pub fn max_batch(mut self, frames: usize) -> Self {
        self.max_batch = frames;
        self
    }

    /// Sets [`RoomConfig::linger`].
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Sets [`RoomConfig::linger_above`].
    pub fn linger_above(mut self, per_second: u32) -> Self {
        self.linger_above = per_second;
        self
    }

    /// Sets [`RoomConfig::max_frame_size`].
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }
}

/// Per-connection options for [`Room::serve_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PeerOptions {
    /// Drop this peer's document updates; it still receives everything.
    pub read_only: bool,
}

impl PeerOptions {
    /// Sets [`PeerOptions::read_only`].
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }
}

/// How long a closing room reads what a peer sent before it saw the close.
const CLOSE_DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The smallest per-peer queue: room for a handshake's replies and a little more.
const MIN_PEER_QUEUE: usize = 4;

struct RoomInner {
    id: String,
    doc: Doc,
    awareness: Mutex<Awareness>,
    peers: Arc<Peers>,
    write_ahead: SharedWriteAhead,
    config: RoomConfig,
    cancel: CancellationToken,
    tasks: TaskTracker,
    /// The busy room's flush task is running (started with the first peer).
    flushing: AtomicBool,
    /// One token per peer being served, closing handshake included: a room is closed
    /// (and its hooks flush) only once every peer's last frames are applied.
    serving: TaskTracker,
}

/// A shared document and the peers editing it. Cheap to clone: clones are handles to
/// the same room.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use wiredb::{MemoryChannel, Provider, ProviderConfig, Room, RoomConfig};
/// use yrs::{Doc, GetString, Text, Transact};
///
/// let room = Room::new("notes", RoomConfig::default());
/// let (server_end, client_end) = MemoryChannel::pair("server", "client");
/// let serving = tokio::spawn({
///     let room = room.clone();
///     async move { room.serve(server_end).await }
/// });
///
/// let doc = Doc::new();
/// let provider = Provider::spawn(doc.clone(), client_end, ProviderConfig::default());
/// provider.synced().await.unwrap();
/// doc.get_or_insert_text("t").push(&mut doc.transact_mut(), "hello");
/// provider.close().await.unwrap();
/// serving.await.unwrap().unwrap();
///
/// let text = room.doc().get_or_insert_text("t");
/// assert_eq!(text.get_string(&room.doc().transact()), "hello");
/// # }
/// ```
#[derive(Clone)]
pub struct Room {
    inner: Arc<RoomInner>,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("id", &self.inner.id)
            .field("peers", &self.peer_count())
            .finish()
    }
}

impl Room {
    /// A new, empty room named `id`.
    pub fn new(id: impl Into<String>, config: RoomConfig) -> Self {
        Self::with_doc(id, crate::new_doc(), config)
    }

    /// A room over an existing document.
    pub fn with_doc(id: impl Into<String>, doc: Doc, config: RoomConfig) -> Self {
        let peers = Arc::new(Peers::new(config.linger_above, config.max_batch));
        let write_ahead = SharedWriteAhead::default();
        let cancel = CancellationToken::new();
        let updates = peers.clone();
        let (written, stop) = (write_ahead.clone(), cancel.clone());
        let (applied, applied_bytes) = crate::metrics::updates_applied();
        let refused = crate::metrics::updates_refused();
        // Not yrs's `observe_update_v1`: its encoding costs time in proportion to the
        // document when a text grows at its end (see `observe_changes`).
        observe_changes(&mut doc.transact_mut(), "wiredb-room", move |txn| {
            // An update half-applied by a transaction that yrs panicked in (its
            // commit still runs while unwinding) is neither written nor relayed,
            // and the room stops, as for a failed write. Not even encoded: yrs
            // may panic again doing so, which would abort the process.
            let panicking = std::thread::panicking();
            if !panicking && !written.has_sink() && updates.len() == 0 {
                // Nobody to write it for or to tell (a hook loading the room's file):
                // not even encoded. A peer that joins later asks for it.
                return;
            }
            let (verdict, update) = if panicking {
                (
                    written.fail("yrs panicked while applying an update"),
                    Vec::new(),
                )
            } else {
                let update = txn.encode_update_v1();
                (written.write(&update), update)
            };
            match verdict {
                Verdict::Relay => {
                    applied.increment(1);
                    applied_bytes.increment(update.len() as u64);
                    updates.broadcast(&encode_update(&update), txn.origin())
                }
                Verdict::Withhold { stop: true } => {
                    refused.increment(1);
                    tracing::error!(
                        error = written.failure().unwrap_or_default(),
                        "room storage failed: edits are refused until the room reopens"
                    );
                    // Every peer is kicked (and told why): the room closes.
                    stop.cancel();
                }
                Verdict::Withhold { stop: false } => refused.increment(1),
            }
        });
        let mut awareness = Awareness::new(doc.clone());
        let states = peers.clone();
        awareness.on_update(
            "wiredb-room",
            // Sent to every peer, the sender included, as the y-websocket server
            // does: a y-websocket client alone in a room hears nothing else, and it
            // reconnects after 30 s without a message; its own state coming back
            // every 15 s (the awareness renewal) keeps it connected.
            move |awareness, event, _origin| match awareness
                .update_with_clients(event.all_changes())
            {
                Ok(update) => states.broadcast(&encode_awareness(&update), None),
                Err(error) => tracing::warn!(%error, "awareness change not relayed"),
            },
        );
        Room {
            inner: Arc::new(RoomInner {
                id: id.into(),
                doc,
                awareness: Mutex::new(awareness),
                peers,
                write_ahead,
                config,
                cancel,
                tasks: TaskTracker::new(),
                flushing: AtomicBool::new(false),
                serving: TaskTracker::new(),
            }),
        }
    }

    /// The room's id.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The room's document. Changes made to it directly (by a hook loading a file,
    /// by an upstream provider) are sent to every peer.
    pub fn doc(&self) -> &Doc {
        &self.inner.doc
    }

    /// Runs `f` with the room's awareness. Do not start a document transaction on the
    /// room's doc while a transaction is already open inside `f`.
    pub fn with_awareness<R>(&self, f: impl FnOnce(&mut Awareness) -> R) -> R {
        f(&mut self.lock_awareness())
    }

    fn lock_awareness(&self) -> MutexGuard<'_, Awareness> {
        // A panic while the lock was held leaves the awareness usable (its state is a
        // map of independent entries), so a poisoned lock is recovered, not fatal.
        crate::lock_unpoisoned(&self.inner.awareness)
    }

    /// Writes every later update of the room to `sink` before it is relayed (see
    /// [`UpdateSink`]). For a persistence hook's `on_open`, once it has loaded the
    /// stored state into [`Room::doc`] (what was loaded is not written again). One
    /// sink per room: false if the room has one already.
    pub fn write_ahead_to(&self, sink: Arc<dyn UpdateSink>) -> bool {
        self.inner.write_ahead.install(sink)
    }

    /// Why the room's [`UpdateSink`] failed, once it has: the room then refuses
    /// every edit and closes its peers until it is reopened.
    pub fn storage_failure(&self) -> Option<&str> {
        self.inner.write_ahead.failure()
    }

    /// The error a peer is closed with once storage has failed.
    fn storage_error(&self) -> Option<Error> {
        self.storage_failure()
            .map(|reason| Error::StorageFailed(reason.to_owned()))
    }

    /// Number of peers being served right now.
    pub fn peer_count(&self) -> usize {
        self.inner.peers.len()
    }

    /// A token cancelled when the room starts closing. Background work tied to the
    /// room watches it.
    pub fn closing(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }

    /// True once [`Room::close`] has begun.
    pub fn is_closing(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Runs `task` in the background for as long as the room lives: [`Room::close`]
    /// cancels [`Room::closing`] and then waits for it to finish. This is where a
    /// persistence hook runs its writer, or an upstream provider its connection (as
    /// Python wiredb's `Room.task_group`).
    pub fn spawn<F>(&self, task: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.inner.tasks.spawn(task)
    }

    /// Closes the room: every peer is disconnected ("going away", and what it sent
    /// before it saw the close is still applied), then background tasks are awaited.
    /// Idempotent.
    pub async fn close(&self) {
        self.inner.cancel.cancel();
        self.inner.serving.close();
        self.inner.serving.wait().await;
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    /// Serves one peer until it disconnects, misbehaves or the room closes. See
    /// [`Room::serve_with`].
    pub async fn serve<C: Channel>(&self, channel: C) -> Result<()> {
        self.serve_with(channel, PeerOptions::default()).await
    }

    /// Serves one peer over `channel`: handshake (SyncStep1 and the room's awareness
    /// states), then its updates are applied and fanned out to the other peers, and
    /// theirs are sent to it.
    ///
    /// Returns `Ok` when the peer closed the channel, and the error otherwise (bad
    /// input, too slow, room closing). Either way the channel is closed with a fitting
    /// [`CloseReason`], the peer's awareness states are removed and announced as
    /// removed, and nothing else in the room is affected.
    pub async fn serve_with<C: Channel>(&self, channel: C, options: PeerOptions) -> Result<()> {
        self.serve_shared(Arc::new(channel), options).await
    }

    /// [`Room::serve_with`] for a channel already behind an `Arc` (the reader and the
    /// writer of the peer share it).
    ///
    /// A server holding many idle connections should build the `Arc` right after
    /// the channel and call this: a channel passed by value is stored in every
    /// future it travels through (the caller's, then this one's) for the whole
    /// connection, which for a WebSocket is a few hundred bytes each.
    pub async fn serve_shared<C: Channel>(
        &self,
        channel: Arc<C>,
        options: PeerOptions,
    ) -> Result<()> {
        let _serving = self.inner.serving.token();
        // A room whose storage failed answers nobody: its doc may hold an edit that
        // was never written.
        if let Some(error) = self.storage_error() {
            let refused = Err(error);
            let _ = channel.close(CloseReason::for_result(&refused)).await;
            return refused;
        }
        let origin = unique_origin("peer");
        let mut connection = Connection::server(origin.clone());
        connection.set_read_only(options.read_only);
        connection.set_awareness_limits(self.inner.config.awareness_limits);
        let capacity = self.inner.config.peer_queue_capacity.max(MIN_PEER_QUEUE);
        let byte_budget = self.inner.config.peer_queue_bytes;
        let kick = self.inner.cancel.child_token();
        let slot = Arc::new(PeerSlot::new(
            PeerQueue::new(capacity, byte_budget),
            kick.clone(),
            channel.clone(),
        ));
        let queue = &slot.queue;

        let hello = connection.open(&self.lock_awareness())?;
        for frame in hello {
            // The queue is new and empty, so this only fails if capacity < hello.len().
            queue.try_push(frame).map_err(|_| Error::SlowPeer {
                capacity,
                byte_budget,
            })?;
        }
        self.inner.peers.insert(origin.clone(), slot.clone());
        tracing::debug!(room = %self.id(), peer = channel.id(), "peer joined");

        // The writer is a task of its own rather than a branch of the select below: a
        // select polls every branch whenever any of them is woken, so each frame sent
        // would also re-poll the idle reader down to the socket. Fan-out wakes writers
        // far more often than peers send.
        self.start_flushing();
        let max_batch = self.inner.peers.max_batch();
        let mut writer = tokio::spawn({
            let channel = channel.clone();
            let slot = slot.clone();
            async move { write_peer(&*channel, &slot.queue, max_batch).await }
        });
        // If this future is dropped before the end (a caller's timeout or select), the
        // guard still takes the peer out of the fan-out and stops its writer.
        let _registration = Registration {
            peers: &self.inner.peers,
            origin: origin.clone(),
            slot: slot.clone(),
            writer: writer.abort_handle(),
        };
        let mut awareness_ids = HashSet::new();
        let mut writer_done = false;
        let result = tokio::select! {
            _ = kick.cancelled() => Err(if let Some(error) = self.storage_error() {
                error
            } else if self.is_closing() {
                Error::RoomClosing
            } else {
                Error::SlowPeer {
                    capacity,
                    byte_budget,
                }
            }),
            result = self.read_peer(&*channel, &mut connection, Some(queue), &mut awareness_ids) => result,
            joined = &mut writer => {
                writer_done = true;
                joined.unwrap_or_else(|join_error| Err(Error::transport(join_error)))
            }
        };
        queue.close();
        if !writer_done {
            // Stop the writer before closing, so the close frame is the last frame.
            writer.abort();
            let _ = writer.await;
        }

        self.inner.peers.remove(&origin);
        // Boxed: closing happens once, and its future would otherwise be reserved in
        // every peer's task for the connection's whole life.
        let closing = channel.close(CloseReason::for_result(&result));
        // Bounded here too: a channel whose close never returns must not hold up the
        // room's close (which waits for every peer) and so a server's shutdown.
        if tokio::time::timeout(CLOSE_DRAIN_LIMIT, Box::pin(closing))
            .await
            .is_err()
        {
            tracing::debug!(room = %self.id(), peer = channel.id(), "channel close did not finish in time");
        }
        if matches!(result, Err(Error::RoomClosing | Error::StorageFailed(_))) {
            // The closing handshake: what the peer sent before it saw our close is
            // still in flight, and an edit it has made is an edit the room's hooks
            // must persist. Read (and apply) until its close, within a bound.
            let drain = self.read_peer(&*channel, &mut connection, None, &mut awareness_ids);
            if tokio::time::timeout(CLOSE_DRAIN_LIMIT, Box::pin(drain))
                .await
                .is_err()
            {
                tracing::debug!(room = %self.id(), peer = channel.id(), "peer did not answer the close in time");
            }
        }
        self.forget_awareness(&awareness_ids);
        crate::metrics::peer_closed(&result);
        match &result {
            Ok(()) => tracing::debug!(room = %self.id(), peer = channel.id(), "peer left"),
            Err(Error::RoomClosing) => {}
            Err(error @ Error::StorageFailed(_)) => {
                tracing::info!(room = %self.id(), peer = channel.id(), %error, "peer closed: storage failed");
            }
            Err(error) => {
                tracing::warn!(room = %self.id(), peer = channel.id(), %error, "peer dropped")
            }
        }
        result
    }

    /// Starts the task that writes a busy room's lingering frames (see
    /// [`RoomConfig::linger`]), once per room, with its first peer: a room no peer
    /// ever joins costs no task.
    fn start_flushing(&self) {
        if self.inner.flushing.swap(true, Ordering::AcqRel) {
            return;
        }
        let peers = self.inner.peers.clone();
        let linger = self.inner.config.linger;
        let closing = self.inner.cancel.clone();
        self.inner.tasks.spawn(async move {
            loop {
                tokio::select! {
                    _ = closing.cancelled() => return,
                    _ = peers.flush_wanted() => {}
                }
                if !linger.is_zero() {
                    tokio::time::sleep(linger).await;
                }
                peers.flush_gathered();
            }
        });
    }

    /// Reads the peer's frames and applies them until it closes. Replies go to
    /// `queue`; with none (the room is closing and the writer gone) they are dropped.
    async fn read_peer<C: Channel>(
        &self,
        channel: &C,
        connection: &mut Connection,
        queue: Option<&PeerQueue>,
        awareness_ids: &mut HashSet<ClientID>,
    ) -> Result<()> {
        let limit = self.inner.config.max_frame_size;
        while let Some(frame) = channel.recv().await {
            let frame = frame?;
            if frame.len() > limit {
                return Err(Error::FrameTooLarge {
                    size: frame.len(),
                    limit,
                });
            }
            // Each reply is queued as soon as it is built, so that the work done for
            // this peer stops where its budget does: a frame of thousands of
            // SyncStep1s (each answered with the whole document) costs at most the
            // budget and one reply, not every answer built before any is refused.
            let events = connection.receive_with(&mut self.lock_awareness(), &frame, |reply| {
                // Nothing is answered from a doc that may hold an unwritten
                // edit: the failure is recorded inside the commit that applied
                // it, so before any answer that could contain it is built.
                if let Some(error) = self.storage_error() {
                    return Err(error);
                }
                match queue {
                    Some(queue) => queue.try_push(reply).map_err(|_| Error::SlowPeer {
                        capacity: queue.capacity(),
                        byte_budget: queue.byte_budget(),
                    }),
                    None => Ok(()),
                }
            })?;
            for event in events {
                track_awareness(awareness_ids, &event);
            }
        }
        Ok(())
    }

    /// Removes the awareness states a departed peer introduced; the awareness
    /// observer announces the removal to the remaining peers.
    fn forget_awareness(&self, ids: &HashSet<ClientID>) {
        if ids.is_empty() {
            return;
        }
        let mut awareness = self.lock_awareness();
        for id in ids {
            awareness.remove_state(*id);
        }
    }
}

impl Drop for RoomInner {
    /// A room dropped without [`Room::close`] still ends its own tasks (the flush
    /// task holds the peer set, which would otherwise outlive the room).
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A peer's place in the room, given up when dropped: out of the fan-out, queue
/// closed, writer stopped. Idempotent with the orderly teardown of `serve_with`.
struct Registration<'a> {
    peers: &'a Peers,
    origin: Origin,
    slot: Arc<PeerSlot>,
    writer: tokio::task::AbortHandle,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.peers.remove(&self.origin);
        self.slot.queue.close();
        self.writer.abort();
    }
}

fn track_awareness(ids: &mut HashSet<ClientID>, event: &Event) {
    if let Event::Awareness(summary) = event {
        ids.extend(summary.added.iter().chain(&summary.updated).copied());
        for removed in &summary.removed {
            ids.remove(removed);
        }
    }
}

/// Drains a peer's queue onto its channel. Whatever has piled up while the previous
/// write was in flight goes out as one batch, so a busy room costs one flush per
/// batch rather than per frame.
async fn write_peer<C: Channel>(channel: &C, outgoing: &PeerQueue, max_batch: usize) -> Result<()> {
    // Not `with_capacity(max_batch)`: 2 KiB per idle peer. A batch is handed over
    // whole to `send_batch`, so this stays small unless frames pile up.
    let mut batch = Vec::new();
    loop {
        if outgoing.pop_batch(&mut batch, max_batch).await.is_none() {
            return Ok(());
        }
        let sent = outgoing.measure(&batch);
        if batch.len() == 1 {
            let frame = batch.pop().unwrap_or_default();
            channel.send(frame).await?;
        } else {
            // Also with no frames: the rest of one sent at once is written then.
            channel.send_batch(std::mem::take(&mut batch)).await?;
        }
        outgoing.written(sent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryChannel;

    /// A room that served a peer and is dropped without a close ends its flush task,
    /// which gives up the peer set.
    #[tokio::test]
    async fn a_dropped_room_ends_its_flush_task() {
        let room = Room::new("dropped", RoomConfig::default());
        let (server_end, client_end) = MemoryChannel::pair("server", "client");
        drop(client_end);
        let _ = room.serve(server_end).await;
        let peers = Arc::downgrade(&room.inner.peers);
        assert!(
            room.inner.flushing.load(Ordering::Acquire),
            "no flush task to end"
        );
        drop(room);
        for _ in 0..100 {
            if peers.upgrade().is_none() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the flush task still holds the peer set");
    }
}
