//! [`AsyncWebSocketClient`]: a document kept in sync with a room of any y-protocols
//! WebSocket server (ours, y-websocket, Python wiredb, pycrdt-websocket), reconnecting
//! after network failures.

mod backoff;
mod builder;
mod config;
mod connect;
mod stream;
mod supervisor;
#[cfg(feature = "tls")]
mod tls;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wiredb::yrs::Doc;
use wiredb::yrs::sync::Awareness;
use wiredb::{Provider, SharedAwareness, SyncState, lock_unpoisoned};

pub use backoff::Backoff;
pub use builder::ClientBuilder;
pub use config::ClientConfig;
pub use connect::room_url;

use connect::open_socket;
pub(crate) use stream::ClientStream;

use crate::close::PeerClosed;
use crate::error::{Error, Result};

/// Where the client's connection stands; the supervisor publishes it.
#[derive(Clone)]
enum Link {
    /// Between connections: the first one, or after a drop, waiting out the backoff.
    Connecting,
    /// A connection is open; its provider syncs the doc.
    Connected(Arc<Provider>),
    /// No more connections: closed by the user, a drop with reconnect off, or a final
    /// refusal (HTTP 4xx, close 1009).
    Closed(Option<Arc<Error>>),
}

struct Inner {
    url: String,
    doc: Doc,
    awareness: SharedAwareness,
    config: ClientConfig,
    auto_push: AtomicBool,
    link: watch::Sender<Link>,
    /// Set by `close()`: the supervisor does not reconnect once it is.
    closing: AtomicBool,
    stop: CancellationToken,
}

/// A document synced with one room of a WebSocket server.
///
/// The client connects on [`AsyncWebSocketClient::connect`] (an unreachable server,
/// a bad URL or a refused token is an error right there), then keeps the doc in sync
/// in the background. If the connection drops, it reconnects with exponential backoff
/// and jitter ([`Backoff`]); edits made meanwhile stay in the doc and go out in the
/// next handshake. [`AsyncWebSocketClient::synced`] always refers to the current
/// connection. The client gives up, and `synced()` returns the error, when the server
/// refuses a reconnection with an HTTP 4xx other than 408/429, or closes with 1009.
///
/// See the [crate example](crate) for two clients through a server.
pub struct AsyncWebSocketClient {
    inner: Arc<Inner>,
    supervisor: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for AsyncWebSocketClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncWebSocketClient")
            .field("url", &self.inner.url)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl AsyncWebSocketClient {
    /// Connects a new document to the room at `url` (`ws://host:port/ROOM`, with a
    /// query string if the server wants one), with the default [`ClientConfig`]; see
    /// [`builder`](Self::builder) for a shared document or other options.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`], [`Error::Connect`] (unreachable, handshake failed,
    /// timeout) or [`Error::Rejected`] (an HTTP refusal: a bad token, say).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url).connect().await
    }

    /// A builder for a client with a document of the application's or options other
    /// than the defaults:
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), wire_websocket::Error> {
    /// use wire_websocket::{AsyncWebSocketClient, ClientConfig};
    /// use wiredb::yrs::Doc;
    ///
    /// let doc = Doc::new();
    /// let client = AsyncWebSocketClient::builder("ws://127.0.0.1:8000/notes")
    ///     .doc(doc.clone())
    ///     .config(ClientConfig::default().header("authorization", "Bearer 42"))
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(url: &str) -> ClientBuilder {
        ClientBuilder::new(url.to_owned())
    }

    /// A builder for room `id` of the server at `host` and `port`, as Python wiredb's
    /// `AsyncWebSocketClient(id=..., host=..., port=...)`. `host` may carry a scheme
    /// (`http://`, `ws://`); `http` becomes `ws`.
    pub fn builder_for_room(host: &str, port: u16, id: &str) -> ClientBuilder {
        Self::builder(&room_url(host, port, id))
    }

    /// What [`ClientBuilder::connect`] does.
    async fn start(url: String, doc: Option<Doc>, config: ClientConfig) -> Result<Self> {
        let doc = doc.unwrap_or_else(wiredb::new_doc);
        let awareness = config
            .provider
            .awareness
            .clone()
            .unwrap_or_else(|| Arc::new(Mutex::new(Awareness::new(doc.clone()))));
        let inner = Arc::new(Inner {
            url,
            doc,
            awareness,
            auto_push: AtomicBool::new(config.provider.auto_push),
            config,
            link: watch::Sender::new(Link::Connecting),
            closing: AtomicBool::new(false),
            stop: CancellationToken::new(),
        });
        let first = open_socket(&inner.url, &inner.config).await?;
        let supervisor = tokio::spawn(supervisor::run(inner.clone(), first));
        Ok(AsyncWebSocketClient {
            inner,
            supervisor: tokio::sync::Mutex::new(Some(supervisor)),
        })
    }

    /// The URL this client connects to.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The synced document.
    pub fn doc(&self) -> &Doc {
        &self.inner.doc
    }

    /// The awareness this client announces; it outlives reconnections.
    pub fn awareness(&self) -> &SharedAwareness {
        &self.inner.awareness
    }

    /// Sets this client's awareness state (JSON) and announces it. The state is
    /// renewed every 15 s while connected, as y-protocols peers expect (they drop
    /// states not renewed within 30 s).
    pub fn set_local_awareness(&self, json: &str) {
        lock(&self.inner.awareness).set_local_state_raw(json);
    }

    /// Withdraws this client's awareness state (others see it removed).
    pub fn clear_local_awareness(&self) {
        lock(&self.inner.awareness).clean_local_state();
    }

    /// The awareness states known now (own included), as JSON by client id.
    pub fn awareness_states(&self) -> Vec<(u64, String)> {
        let awareness = lock(&self.inner.awareness);
        let mut states: Vec<(u64, String)> = awareness
            .iter()
            .filter_map(|(id, state)| state.data.map(|json| (id.get(), json.to_string())))
            .collect();
        states.sort_by_key(|(id, _)| *id);
        states
    }

    /// The current connection's state: `Syncing` while (re)connecting, `Synced`, or
    /// `Closed` once the client gave up or was closed.
    pub fn state(&self) -> SyncState {
        match &*self.inner.link.borrow() {
            Link::Connecting => SyncState::Syncing,
            Link::Connected(provider) => provider.state(),
            Link::Closed(_) => SyncState::Closed,
        }
    }

    /// Waits until the current connection is synced (the server's state applied). If
    /// the connection drops first, waits for the next one; fails once the client is
    /// closed or gives up, or if the server denied access.
    pub async fn synced(&self) -> Result<()> {
        let mut link = self.inner.link.subscribe();
        loop {
            let current = link.borrow_and_update().clone();
            match current {
                Link::Connected(provider) => match provider.synced().await {
                    Ok(()) => return Ok(()),
                    Err(error) if error.permission_denied().is_some() => return Err(error.into()),
                    // This connection ended before syncing; the next one may sync.
                    Err(_) => {}
                },
                Link::Closed(Some(error)) => return Err(Error::Shared(error)),
                Link::Closed(None) => return Err(wiredb::Error::ChannelClosed.into()),
                Link::Connecting => {}
            }
            if link.changed().await.is_err() {
                return Err(Error::NotConnected);
            }
        }
    }

    /// A future that completes at the next change the server sends to the doc (over
    /// the current connection). Create it before triggering the change.
    pub fn next_remote_change(&self) -> impl Future<Output = ()> + Send + use<> {
        let mut link = self.inner.link.subscribe();
        let current = link.borrow_and_update().clone();
        let current = match current {
            Link::Connected(provider) => Some(provider.next_remote_change()),
            _ => None,
        };
        async move {
            match current {
                Some(change) => change.await,
                // Not connected: the next connection's handshake is the next change.
                None => {
                    let _ = link.changed().await;
                }
            }
        }
    }

    /// Turns auto-push on or off (also for later connections).
    pub fn set_auto_push(&self, auto_push: bool) {
        self.inner.auto_push.store(auto_push, Ordering::Release);
        if let Link::Connected(provider) = &*self.inner.link.borrow() {
            provider.set_auto_push(auto_push);
        }
    }

    /// Sends the local changes held while auto-push was off. Returns how many updates
    /// were merged; [`Error::NotConnected`] while disconnected (the changes are in the
    /// doc and go out with the next handshake).
    pub fn push(&self) -> Result<usize> {
        Ok(self.provider()?.push()?)
    }

    /// Applies the remote changes held while auto-pull was off. Returns how many.
    pub fn pull(&self) -> Result<usize> {
        Ok(self.provider()?.pull()?)
    }

    fn provider(&self) -> Result<Arc<Provider>> {
        match &*self.inner.link.borrow() {
            Link::Connected(provider) => Ok(provider.clone()),
            _ => Err(Error::NotConnected),
        }
    }

    /// Sends what is pending, closes the connection with a close frame, stops
    /// reconnecting and waits for the background task. Idempotent.
    pub async fn close(&self) -> Result<()> {
        self.inner.closing.store(true, Ordering::Release);
        let current = self.inner.link.borrow().clone();
        let closed = match current {
            Link::Connected(provider) => provider.close().await,
            _ => Ok(()),
        };
        self.inner.stop.cancel();
        if let Some(supervisor) = self.supervisor.lock().await.take() {
            let _ = supervisor.await;
        }
        match closed {
            // Closed already, by us or by the server (whatever code it gave): what
            // close() asked for.
            Ok(()) => Ok(()),
            Err(error) if matches!(error.root(), wiredb::Error::ChannelClosed) => Ok(()),
            Err(error) if PeerClosed::of(&error).is_some() => Ok(()),
            Err(error) => Err(error.into()),
        }
    }
}

impl Drop for AsyncWebSocketClient {
    fn drop(&mut self) {
        self.inner.closing.store(true, Ordering::Release);
        self.inner.stop.cancel();
    }
}

/// Removes every awareness state but this client's: after a disconnect they are
/// stale, and the next handshake brings the current ones (as y-websocket does).
fn forget_remote_awareness(awareness: &SharedAwareness) {
    let mut awareness = lock(awareness);
    let own = awareness.client_id();
    let remote: Vec<_> = awareness
        .iter()
        .map(|(id, _)| id)
        .filter(|id| *id != own)
        .collect();
    for id in remote {
        awareness.remove_state(id);
    }
}

/// Re-announces the local awareness state with a new clock, so peers that expire
/// states after 30 s keep it.
fn renew_local_awareness(awareness: &SharedAwareness) {
    let mut awareness = lock(awareness);
    if let Some(state) = awareness.local_state_raw() {
        awareness.set_local_state_raw(state);
    }
}

fn lock(awareness: &SharedAwareness) -> std::sync::MutexGuard<'_, Awareness> {
    lock_unpoisoned(awareness)
}
