//! The client side: a [`Provider`] binds a `Doc` to a [`Channel`].
//!
//! Several providers may share one `Doc` (a WebSocket client and a file client make a
//! persisted replica). Each tags what it applies with its own transaction origin, and
//! each forwards every doc change whose origin is not its own: an update that arrives
//! through one provider therefore goes out through all the others, and never back
//! through the one it came from.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use yrs::sync::Awareness;
use yrs::{ClientID, Doc, Origin, Transact};

use crate::channel::{Channel, CloseReason};
use crate::error::{Error, Result};
use crate::lock::lock_unpoisoned;
use crate::origin::unique_origin;
use crate::protocol::{
    Connection, Event, ProtocolError, encode_awareness, encode_update, observe_changes,
    unobserve_changes,
};

/// An awareness shared between a provider and the application (and possibly other
/// providers). Never hold its lock across an `.await`.
pub type SharedAwareness = Arc<Mutex<Awareness>>;

/// How long [`Provider::close`] waits for the frames already queued to be sent.
const CLOSE_FLUSH_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long [`Provider::close`] waits for the peer to answer its close.
const CLOSE_HANDSHAKE_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Settings of a [`Provider`]: the options every client shares. The WebSocket client
/// and the file client embed this struct (their `provider` field) rather than
/// re-declaring its fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// Send local document changes as they happen (default `true`). When `false`,
    /// they are held until [`Provider::push`].
    pub auto_push: bool,
    /// Apply remote document changes as they arrive (default `true`). When `false`,
    /// they are held until [`Provider::pull`].
    pub auto_pull: bool,
    /// The awareness to use; by default the provider makes its own over the doc.
    pub awareness: Option<SharedAwareness>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        ProviderConfig {
            auto_push: true,
            auto_pull: true,
            awareness: None,
        }
    }
}

impl ProviderConfig {
    /// Sets [`ProviderConfig::auto_push`].
    pub fn auto_push(mut self, auto_push: bool) -> Self {
        self.auto_push = auto_push;
        self
    }

    /// Sets [`ProviderConfig::auto_pull`].
    pub fn auto_pull(mut self, auto_pull: bool) -> Self {
        self.auto_pull = auto_pull;
        self
    }

    /// Sets [`ProviderConfig::awareness`].
    pub fn awareness(mut self, awareness: SharedAwareness) -> Self {
        self.awareness = Some(awareness);
        self
    }
}

enum Outgoing {
    Frame(Bytes),
    Close(oneshot::Sender<()>),
}

/// What the doc's update observer needs; kept apart from the provider so the observer
/// does not keep the whole provider alive.
struct PushState {
    origin: Origin,
    auto_push: AtomicBool,
    held: Mutex<Vec<Vec<u8>>>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
}

impl PushState {
    fn held(&self) -> MutexGuard<'_, Vec<Vec<u8>>> {
        lock_unpoisoned(&self.held)
    }
}

/// Where a provider's connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// Handshake under way.
    Syncing,
    /// The peer's SyncStep2 has been applied.
    Synced,
    /// The connection has ended.
    Closed,
}

struct Shared {
    doc: Doc,
    awareness: SharedAwareness,
    connection: Mutex<Connection>,
    push: Arc<PushState>,
    state: watch::Sender<SyncState>,
    /// Why the connection ended, if it failed: kept, whole, for every later
    /// `synced()`/`wait()`.
    failure: Mutex<Option<Arc<Error>>>,
}

impl Shared {
    fn awareness(&self) -> MutexGuard<'_, Awareness> {
        lock_unpoisoned(&self.awareness)
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        lock_unpoisoned(&self.connection)
    }

    fn failure(&self) -> Option<Arc<Error>> {
        lock_unpoisoned(&self.failure).clone()
    }
}

/// A document kept in sync with a peer over a channel.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wiredb::Result<()> {
/// use wiredb::{MemoryChannel, Provider, ProviderConfig, Room, RoomConfig};
/// use yrs::{Doc, GetString, Text, Transact};
///
/// let room = Room::new("r", RoomConfig::default());
/// let (a_server, a_client) = MemoryChannel::pair("server", "a");
/// let (b_server, b_client) = MemoryChannel::pair("server", "b");
/// for end in [a_server, b_server] {
///     let room = room.clone();
///     tokio::spawn(async move { room.serve(end).await });
/// }
/// let (doc_a, doc_b) = (Doc::new(), Doc::new());
/// let a = Provider::spawn(doc_a.clone(), a_client, ProviderConfig::default());
/// let b = Provider::spawn(doc_b.clone(), b_client, ProviderConfig::default());
/// a.synced().await?;
/// b.synced().await?;
///
/// let text_b = doc_b.get_or_insert_text("t");
/// let changed = b.next_remote_change();
/// doc_a.get_or_insert_text("t").push(&mut doc_a.transact_mut(), "hi b");
/// changed.await;
/// assert_eq!(text_b.get_string(&doc_b.transact()), "hi b");
/// # Ok(()) }
/// ```
pub struct Provider {
    shared: Arc<Shared>,
    task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<Result<()>>>>,
    stop: CancellationToken,
    remote_change: watch::Sender<u64>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("state", &*self.shared.state.borrow())
            .finish()
    }
}

impl Provider {
    /// Binds `doc` to `channel` and starts syncing in a background task.
    pub fn spawn<C: Channel>(doc: Doc, channel: C, config: ProviderConfig) -> Provider {
        let origin = unique_origin("provider");
        let (outgoing, queue) = mpsc::unbounded_channel();
        let push = Arc::new(PushState {
            origin: origin.clone(),
            auto_push: AtomicBool::new(config.auto_push),
            held: Mutex::new(Vec::new()),
            outgoing,
        });
        let awareness = config
            .awareness
            .unwrap_or_else(|| Arc::new(Mutex::new(Awareness::new(doc.clone()))));
        let mut connection = Connection::client(origin.clone());
        connection.set_hold_remote_updates(!config.auto_pull);
        let remote_change = watch::Sender::new(0u64);

        let observer = push.clone();
        let notify = remote_change.clone();
        // Not yrs's `observe_update_v1`: its encoding costs time in proportion to the
        // document when a text grows at its end (see `observe_changes`), and remote
        // changes are not encoded at all.
        observe_changes(&mut doc.transact_mut(), origin.clone(), move |txn| {
            if txn.origin() == Some(&observer.origin) {
                notify.send_modify(|n| *n = n.wrapping_add(1));
                return;
            }
            let update = txn.encode_update_v1();
            if observer.auto_push.load(Ordering::Acquire) {
                let _ = observer
                    .outgoing
                    .send(Outgoing::Frame(encode_update(&update)));
            } else {
                observer.held().push(update);
            }
        });
        {
            let observer = push.clone();
            let mut awareness = lock_unpoisoned(&awareness);
            awareness.on_update(origin.clone(), move |awareness, event, from| {
                if from == Some(&observer.origin) {
                    return;
                }
                if let Ok(update) = awareness.update_with_clients(event.all_changes()) {
                    let _ = observer
                        .outgoing
                        .send(Outgoing::Frame(encode_awareness(&update)));
                }
            });
        }

        let shared = Arc::new(Shared {
            doc,
            awareness,
            connection: Mutex::new(connection),
            push,
            state: watch::Sender::new(SyncState::Syncing),
            failure: Mutex::new(None),
        });
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(shared.clone(), channel, queue, stop.clone()));
        Provider {
            shared,
            task: tokio::sync::Mutex::new(Some(task)),
            stop,
            remote_change,
        }
    }

    /// The document this provider syncs.
    pub fn doc(&self) -> &Doc {
        &self.shared.doc
    }

    /// The awareness this provider announces and updates.
    pub fn awareness(&self) -> &SharedAwareness {
        &self.shared.awareness
    }

    /// Sets this client's awareness state (a JSON document) and announces it.
    pub fn set_local_awareness(&self, json: impl Into<Arc<str>>) {
        self.shared.awareness().set_local_state_raw(json);
    }

    /// The awareness states currently known, as JSON, by client id (cleared states
    /// are left out).
    pub fn awareness_states(&self) -> Vec<(ClientID, String)> {
        let awareness = self.shared.awareness();
        let mut states: Vec<(ClientID, String)> = awareness
            .iter()
            .filter_map(|(id, state)| state.data.map(|json| (id, json.to_string())))
            .collect();
        states.sort_by_key(|(id, _)| id.get());
        states
    }

    /// The connection's current state.
    pub fn state(&self) -> SyncState {
        *self.shared.state.borrow()
    }

    /// Waits until the provider has applied the peer's SyncStep2. Fails if the
    /// connection ends first: with the error that ended it (as [`Error::Shared`];
    /// [`Error::permission_denied`] tells a refusal), else [`Error::ChannelClosed`].
    pub async fn synced(&self) -> Result<()> {
        let mut state = self.shared.state.subscribe();
        let reached = state
            .wait_for(|s| *s != SyncState::Syncing)
            .await
            .map(|s| *s);
        match reached {
            Ok(SyncState::Synced) => Ok(()),
            _ => Err(self.ended_error()),
        }
    }

    fn ended_error(&self) -> Error {
        self.shared
            .failure()
            .map_or(Error::ChannelClosed, Error::Shared)
    }

    /// A future that completes at the next change applied to the doc by this
    /// provider's peer (useful to wait for a remote edit in tests and tools). Create it
    /// before triggering the change.
    pub fn next_remote_change(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        // Subscribing marks the current count as seen, so only a later change counts.
        let mut changes = self.remote_change.subscribe();
        async move {
            let _ = changes.changed().await;
        }
    }

    /// Turns auto-push on or off. Turning it on does not send what is held; call
    /// [`Provider::push`].
    pub fn set_auto_push(&self, auto_push: bool) {
        self.shared
            .push
            .auto_push
            .store(auto_push, Ordering::Release);
    }

    /// Sends the local changes held while auto-push was off, merged into one update.
    /// Returns how many updates were merged.
    pub fn push(&self) -> Result<usize> {
        let held = std::mem::take(&mut *self.shared.push.held());
        if held.is_empty() {
            return Ok(0);
        }
        let merged = yrs::merge_updates_v1(&held).map_err(ProtocolError::Decode)?;
        self.shared
            .push
            .outgoing
            .send(Outgoing::Frame(encode_update(&merged)))
            .map_err(|_| Error::ChannelClosed)?;
        Ok(held.len())
    }

    /// Applies the remote changes held while auto-pull was off. Returns how many.
    pub fn pull(&self) -> Result<usize> {
        let awareness = self.shared.awareness();
        Ok(self.shared.connection().release_held(&awareness)?)
    }

    /// Local updates waiting for [`Provider::push`].
    pub fn held_local_count(&self) -> usize {
        self.shared.push.held().len()
    }

    /// Remote updates waiting for [`Provider::pull`].
    pub fn held_remote_count(&self) -> usize {
        self.shared.connection().held_count()
    }

    /// Sends every frame already queued (waiting at most 5 s for a peer that does
    /// not take them), closes the channel and waits for the background task. Changes held by `auto_push = false` stay held (they are in
    /// the doc; the next connection's handshake carries them).
    pub async fn close(&self) -> Result<()> {
        let (ack, acked) = oneshot::channel();
        if self.shared.push.outgoing.send(Outgoing::Close(ack)).is_ok()
            && tokio::time::timeout(CLOSE_FLUSH_LIMIT, acked)
                .await
                .is_err()
        {
            // The peer is not taking what we send (it stopped reading, or the link
            // stalled): closing must not wait for it forever.
            tracing::warn!(
                "queued frames not sent within {CLOSE_FLUSH_LIMIT:?}; closing without them"
            );
            self.stop.cancel();
        }
        self.wait().await
    }

    /// Waits for the connection to end and returns how it ended.
    pub async fn wait(&self) -> Result<()> {
        let task = self.task.lock().await.take();
        match task {
            Some(task) => match task.await {
                Ok(result) => result,
                Err(join_error) => Err(Error::transport(join_error)),
            },
            None => self
                .shared
                .failure()
                .map_or(Ok(()), |e| Err(Error::Shared(e))),
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn run<C: Channel>(
    shared: Arc<Shared>,
    channel: C,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
    stop: CancellationToken,
) -> Result<()> {
    let (result, orderly) = tokio::select! {
        result = converse(&shared, &channel, &mut queue) => {
            let orderly = result.is_ok();
            (result, orderly)
        }
        _ = stop.cancelled() => (Ok(()), false),
    };
    let _ = channel.close(CloseReason::for_result(&result)).await;
    if orderly {
        await_peer_close(&channel).await;
    }
    {
        let txn = shared.doc.transact_mut();
        unobserve_changes(&txn, shared.push.origin.clone());
    }
    shared
        .awareness()
        .unobserve_update(shared.push.origin.clone());
    let result = result.map_err(|error| {
        tracing::warn!(peer = channel.id(), %error, "provider connection ended");
        let error = error.shared();
        *lock_unpoisoned(&shared.failure) = Some(error.clone());
        Error::Shared(error)
    });
    shared.state.send_replace(SyncState::Closed);
    result
}

/// The closing handshake: after our close, waits (at most [`CLOSE_HANDSHAKE_LIMIT`])
/// for the peer to close too. A peer answers a close only once it has read every
/// frame before it, so when this returns the peer has applied (and a server has
/// handed to its room's file) everything this provider sent: `close()` returning
/// means delivered, not merely written to a socket. What the peer still sends
/// meanwhile is not applied: this side is leaving.
async fn await_peer_close<C: Channel>(channel: &C) {
    let closed = async { while let Some(Ok(_)) = channel.recv().await {} };
    if tokio::time::timeout(CLOSE_HANDSHAKE_LIMIT, closed)
        .await
        .is_err()
    {
        tracing::debug!(
            peer = channel.id(),
            "peer did not answer the close within {CLOSE_HANDSHAKE_LIMIT:?}"
        );
    }
}

async fn converse<C: Channel>(
    shared: &Shared,
    channel: &C,
    queue: &mut mpsc::UnboundedReceiver<Outgoing>,
) -> Result<()> {
    let hello = shared.connection().open(&shared.awareness())?;
    channel.send_batch(hello).await?;
    loop {
        tokio::select! {
            incoming = channel.recv() => {
                let Some(frame) = incoming else { return Ok(()) };
                let outcome = {
                    let mut awareness = shared.awareness();
                    shared.connection().receive(&mut awareness, &frame?)?
                };
                if outcome.events.contains(&Event::Synced) {
                    shared.state.send_replace(SyncState::Synced);
                }
                if !outcome.replies.is_empty() {
                    channel.send_batch(outcome.replies).await?;
                }
            }
            outgoing = queue.recv() => match outgoing {
                Some(Outgoing::Frame(frame)) => {
                    let mut batch = vec![frame];
                    let mut close = None;
                    while let Ok(next) = queue.try_recv() {
                        match next {
                            Outgoing::Frame(frame) => batch.push(frame),
                            Outgoing::Close(ack) => { close = Some(ack); break; }
                        }
                    }
                    channel.send_batch(batch).await?;
                    if let Some(ack) = close {
                        let _ = ack.send(());
                        return Ok(());
                    }
                }
                Some(Outgoing::Close(ack)) => {
                    let _ = ack.send(());
                    return Ok(());
                }
                None => return Ok(()),
            },
        }
    }
}
