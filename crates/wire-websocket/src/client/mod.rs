//! [`AsyncWebSocketClient`]: a document kept in sync with a room of any y-protocols
//! WebSocket server (ours, y-websocket, Python wiredb, pycrdt-websocket), reconnecting
//! after network failures.

mod backoff;
mod config;
mod supervisor;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;
use wiredb::yrs::Doc;
use wiredb::yrs::sync::Awareness;
use wiredb::{Provider, SharedAwareness, SyncState};

pub use backoff::Backoff;
pub use config::ClientConfig;

use crate::channel::{ClientChannel, PeerClosed};
use crate::error::{Error, Result};
use crate::progress::{Progress, Tracked};

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
    /// Connects `doc` (a new one if `None`) to the room at `url`
    /// (`ws://host:port/ROOM`, with a query string if the server wants one).
    pub async fn connect(url: &str, doc: Option<Doc>, config: ClientConfig) -> Result<Self> {
        let doc = doc.unwrap_or_default();
        let awareness = config
            .awareness
            .clone()
            .unwrap_or_else(|| Arc::new(Mutex::new(Awareness::new(doc.clone()))));
        let inner = Arc::new(Inner {
            url: url.to_owned(),
            doc,
            awareness,
            auto_push: AtomicBool::new(config.auto_push),
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

    /// Connects to room `id` of the server at `host` and `port`, as Python wiredb's
    /// `AsyncWebSocketClient(id=..., host=..., port=...)`. `host` may carry a scheme
    /// (`http://`, `ws://`); `http` becomes `ws`.
    pub async fn connect_room(
        host: &str,
        port: u16,
        id: &str,
        doc: Option<Doc>,
        config: ClientConfig,
    ) -> Result<Self> {
        Self::connect(&room_url(host, port, id), doc, config).await
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
                    Err(error @ wiredb::Error::PermissionDenied { .. }) => return Err(error.into()),
                    // This connection ended before syncing; the next one may sync.
                    Err(_) => {}
                },
                Link::Closed(Some(error)) => return Err(clone_error(&error)),
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
            Ok(()) | Err(wiredb::Error::ChannelClosed) => Ok(()),
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

/// `ws://host:port/id` from Python wiredb's `host`, `port`, `id`.
pub fn room_url(host: &str, port: u16, id: &str) -> String {
    let (scheme, bare) = match host.split_once("://") {
        Some(("https" | "wss", rest)) => ("wss", rest),
        Some((_, rest)) => ("ws", rest),
        None => ("ws", host),
    };
    let bare = bare.trim_end_matches('/');
    format!("{scheme}://{bare}:{port}/{}", id.trim_start_matches('/'))
}

/// Opens one WebSocket to `url` with the client's headers and limits.
async fn open_socket(url: &str, config: &ClientConfig) -> Result<ClientChannel> {
    let mut request = url
        .into_client_request()
        .map_err(|error| Error::InvalidUrl {
            url: url.to_owned(),
            reason: error.to_string(),
        })?;
    let invalid = |reason: &str| Error::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    match request.uri().scheme_str() {
        Some("ws") => {}
        Some("wss") => {
            return Err(invalid(
                "wss:// (TLS) is not supported by this build; put a TLS proxy in front or use ws://",
            ));
        }
        _ => return Err(invalid("the scheme must be ws://")),
    }
    // `http::Uri` takes any digits as a port and then reports none, which would mean
    // port 80: a typo must be an error instead.
    let authority = request
        .uri()
        .authority()
        .map(|a| a.as_str())
        .unwrap_or_default();
    if let Some((_, port)) = authority.rsplit_once(':')
        && !port.contains(']')
        && port.parse::<u16>().is_err()
    {
        return Err(invalid("the port is not a number from 0 to 65535"));
    }
    for (name, value) in &config.headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    let ws_config = tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(config.read_buffer_size)
        .max_message_size(Some(config.max_frame_size))
        .max_frame_size(Some(config.max_frame_size));
    let progress = Progress::new();
    // TCP first, by hand, so that the socket under the WebSocket is `Tracked` (the
    // channel bounds writes by the time the server takes no bytes).
    let connecting = async {
        let tcp = connect_tcp(request.uri()).await?;
        let tracked = Tracked::new(tcp, progress.clone());
        tokio_tungstenite::client_async_with_config(request, tracked, Some(ws_config)).await
    };
    let connected = tokio::time::timeout(config.connect_timeout, connecting)
        .await
        .map_err(|_| Error::Connect {
            url: url.to_owned(),
            source: Box::new(tungstenite::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {:?}", config.connect_timeout),
            ))),
        })?;
    match connected {
        Ok((stream, _response)) => {
            Ok(ClientChannel::new(url, stream, config.keepalive).with_progress(progress))
        }
        Err(tungstenite::Error::Http(response)) => Err(Error::Rejected {
            url: url.to_owned(),
            status: response.status().as_u16(),
            body: String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned(),
        }),
        Err(error) => Err(Error::Connect {
            url: url.to_owned(),
            source: Box::new(error),
        }),
    }
}

/// The TCP connection for a `ws://` URI, without Nagle's delay (frames are small and
/// latency matters).
async fn connect_tcp(uri: &http::Uri) -> std::result::Result<TcpStream, tungstenite::Error> {
    let host = uri.host().unwrap_or_default();
    // `[::1]` in a URI is `::1` to the resolver.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(80);
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Errors are not `Clone`; a stored one is handed out again as its message.
fn clone_error(error: &Error) -> Error {
    match error {
        Error::Rejected { url, status, body } => Error::Rejected {
            url: url.clone(),
            status: *status,
            body: body.clone(),
        },
        Error::NotConnected => Error::NotConnected,
        other => Error::Core(wiredb::Error::transport(other.to_string())),
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
    // Awareness state is a map of independent entries; a panic elsewhere leaves it
    // usable.
    awareness
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_style_addresses_become_ws_urls() {
        assert_eq!(
            room_url("http://127.0.0.1", 8000, "doc"),
            "ws://127.0.0.1:8000/doc"
        );
        assert_eq!(room_url("localhost", 1, "/a/b"), "ws://localhost:1/a/b");
        assert_eq!(
            room_url("https://example.com/", 443, "x"),
            "wss://example.com:443/x"
        );
    }
}
