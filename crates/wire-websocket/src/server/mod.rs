//! [`AsyncWebSocketServer`]: rooms served over WebSocket by axum, standalone or nested
//! in an application's own router.

mod connect;
mod upgrade;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::serve::ListenerExt;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wiredb::{Channel, CloseReason, ManagerConfig, PeerOptions, RoomHooks, RoomManager};

pub use connect::{Access, ConnectHook, ConnectRequest, Rejection};

use crate::channel::{KeepAlive, ServerChannel};
use crate::error::{Error, Result};
use crate::progress::{Progress, Tracked};

/// Settings of an [`AsyncWebSocketServer`].
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Rooms: queue capacity per peer, frame size limit, close grace period.
    pub manager: ManagerConfig,
    /// Keepalive pings; `None` turns them off. Default: [`KeepAlive::default`].
    pub keepalive: Option<KeepAlive>,
    /// Bytes read from a socket at once (default 512). The buffer is allocated per
    /// connection: tungstenite's default of 128 KiB would cost ~1.3 GB at 10k idle
    /// connections. y-protocols frames are mostly tiny (a keystroke is ~30 bytes, an
    /// awareness state ~100); a big one (a client's first SyncStep2) is still read
    /// whole, in more system calls.
    pub read_buffer_size: usize,
    /// Bytes of outgoing frames gathered before a write (default 8 KiB): a burst is
    /// written in few system calls, and an idle connection holds no large buffer.
    pub write_buffer_size: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            manager: ManagerConfig::default(),
            keepalive: Some(KeepAlive::default()),
            read_buffer_size: 512,
            write_buffer_size: 8 * 1024,
        }
    }
}

impl ServerConfig {
    /// Sets [`ServerConfig::manager`].
    pub fn manager(mut self, manager: ManagerConfig) -> Self {
        self.manager = manager;
        self
    }

    /// Sets [`ServerConfig::keepalive`].
    pub fn keepalive(mut self, keepalive: Option<KeepAlive>) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// Sets the largest frame (WebSocket message) a peer may send, in bytes; a larger
    /// one closes that peer with code 1009. Default 16 MiB.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.manager.room.max_frame_size = bytes;
        self
    }

    /// Sets [`ServerConfig::read_buffer_size`].
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes;
        self
    }

    /// Sets [`ServerConfig::write_buffer_size`].
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }
}

struct Shared {
    manager: RoomManager,
    config: ServerConfig,
    connect_hook: Option<Arc<dyn ConnectHook>>,
    /// One token per upgraded connection, so shutdown can wait for them all.
    connections: TaskTracker,
    shutdown: CancellationToken,
}

/// Serves rooms over WebSocket, speaking y-protocols as the y-websocket server does:
/// a client connecting to `ws://host:port/ROOM` joins room `ROOM` (the path after the
/// mount point, without the leading `/`; `a/b` is a valid id; the query string is not
/// part of the id).
///
/// Cloning is cheap: clones share the rooms and the shutdown.
///
/// # Standalone
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), wire_websocket::Error> {
/// use wire_websocket::AsyncWebSocketServer;
///
/// let server = AsyncWebSocketServer::new(()); // () = no room hooks (no persistence)
/// let running = server.start("127.0.0.1", 0).await?;
/// println!("serving on ws://{}", running.local_addr());
/// running.shutdown().await?;
/// # Ok(()) }
/// ```
///
/// # Nested in an axum app
///
/// ```
/// use axum::{Router, routing::get};
/// use wire_websocket::AsyncWebSocketServer;
///
/// let server = AsyncWebSocketServer::new(());
/// let app: Router = Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .nest("/collab", server.router()); // ws://host/collab/ROOM
/// ```
///
/// Room hooks ([`RoomHooks`], e.g. `wire_file::AsyncFileServer`) attach storage or an
/// upstream server to each room; a [`ConnectHook`] admits or refuses connections.
#[derive(Clone)]
pub struct AsyncWebSocketServer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AsyncWebSocketServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncWebSocketServer")
            .field("rooms", &self.shared.manager.room_count())
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// Builds an [`AsyncWebSocketServer`]; see [`AsyncWebSocketServer::builder`].
#[must_use]
pub struct ServerBuilder {
    hooks: Option<Arc<dyn RoomHooks>>,
    manager: Option<RoomManager>,
    config: ServerConfig,
    connect_hook: Option<Arc<dyn ConnectHook>>,
}

impl ServerBuilder {
    /// The room hooks (room factory): what happens when a room opens and closes.
    pub fn hooks(mut self, hooks: impl RoomHooks) -> Self {
        self.hooks = Some(Arc::new(hooks));
        self
    }

    /// Serves the rooms of an existing manager, shared with other wires (in-memory
    /// peers, another server). Its own hooks and config apply; [`ServerBuilder::hooks`]
    /// and [`ServerConfig::manager`] are then ignored.
    pub fn manager(mut self, manager: RoomManager) -> Self {
        self.manager = Some(manager);
        self
    }

    /// The server's settings.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Checks every connection request before the upgrade.
    pub fn connect_hook(mut self, hook: impl ConnectHook) -> Self {
        self.connect_hook = Some(Arc::new(hook));
        self
    }

    /// The server.
    pub fn build(self) -> AsyncWebSocketServer {
        let manager = match self.manager {
            Some(manager) => manager,
            None => RoomManager::with_shared_hooks(
                self.hooks.unwrap_or_else(|| Arc::new(())),
                self.config.manager.clone(),
            ),
        };
        AsyncWebSocketServer {
            shared: Arc::new(Shared {
                manager,
                config: self.config,
                connect_hook: self.connect_hook,
                connections: TaskTracker::new(),
                shutdown: CancellationToken::new(),
            }),
        }
    }
}

impl AsyncWebSocketServer {
    /// A server with room `hooks` (`()` for none) and default settings.
    pub fn new(hooks: impl RoomHooks) -> Self {
        Self::builder().hooks(hooks).build()
    }

    /// A builder for hooks, settings and a connect hook.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            hooks: None,
            manager: None,
            config: ServerConfig::default(),
            connect_hook: None,
        }
    }

    /// The rooms this server serves.
    pub fn manager(&self) -> &RoomManager {
        &self.shared.manager
    }

    /// The routes to nest in an application: `/{*room}` and `/` (the empty room id),
    /// any state type `S`.
    ///
    /// For [`ConnectRequest::remote_addr`], serve the app with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        Router::new()
            .route("/", any(accept_root))
            .route("/{*room}", any(accept_room))
            .with_state(self.shared.clone())
    }

    /// Serves on `listener` until `shutdown` completes (or [`Self::shutdown`] is
    /// called), then shuts down gracefully (see [`Self::shutdown`]).
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let app = self
            .router::<()>()
            .into_make_service_with_connect_info::<SocketAddr>();
        let stop = self.shared.shutdown.clone();
        // Frames are small and latency matters: no Nagle delay on accepted sockets.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                tokio::select! {
                    () = shutdown => {}
                    () = stop.cancelled() => {}
                }
                // Whichever fired: requests still in a connect hook answer 503 now
                // (axum's graceful shutdown waits for them), and new ones too.
                stop.cancel();
            })
            .await;
        let closed = self.shutdown().await;
        // The rooms' close is the one that may have lost data: reported first.
        closed.and(served.map_err(|source| Error::Serve { source }))
    }

    /// Binds `host:port` (port 0 picks a free one) and serves in the background.
    pub async fn start(&self, host: &str, port: u16) -> Result<ServerHandle> {
        let listener = TcpListener::bind((host, port))
            .await
            .map_err(|source| Error::Bind {
                address: format!("{host}:{port}"),
                source,
            })?;
        self.start_on(listener)
    }

    /// Binds `address` and serves in the background.
    pub async fn start_at(
        &self,
        address: impl ToSocketAddrs + std::fmt::Display,
    ) -> Result<ServerHandle> {
        let shown = address.to_string();
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| Error::Bind {
                address: shown,
                source,
            })?;
        self.start_on(listener)
    }

    /// Serves an already-bound `listener` in the background.
    pub fn start_on(&self, listener: TcpListener) -> Result<ServerHandle> {
        let local_addr = listener
            .local_addr()
            .map_err(|source| Error::Serve { source })?;
        let server = self.clone();
        let task =
            tokio::spawn(async move { server.serve(listener, std::future::pending()).await });
        tracing::info!(%local_addr, "websocket server listening");
        Ok(ServerHandle {
            local_addr,
            server: self.clone(),
            task,
        })
    }

    /// Graceful shutdown: stops accepting, closes every room (each peer gets a
    /// "going away" close frame, room hooks flush their files), and waits for every
    /// connection task. Idempotent.
    ///
    /// # Errors
    ///
    /// [`wiredb::Error::CloseFailed`] (as [`Error::Core`]) when a room's closing hook
    /// failed, e.g. its file could not be flushed; the rest still shut down.
    pub async fn shutdown(&self) -> Result<()> {
        self.shared.shutdown.cancel();
        let closed = self.shared.manager.shutdown().await;
        self.shared.connections.close();
        self.shared.connections.wait().await;
        Ok(closed?)
    }

    /// Number of WebSocket connections being served, counting upgrade requests still
    /// in the connect hook (shutdown waits for those too).
    pub fn connection_count(&self) -> usize {
        self.shared.connections.len()
    }
}

/// A server running in the background, from [`AsyncWebSocketServer::start`].
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    server: AsyncWebSocketServer,
    task: JoinHandle<Result<()>>,
}

impl ServerHandle {
    /// The address the server listens on (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://ADDRESS` — append `/ROOM` for a client.
    pub fn url(&self) -> String {
        format!("ws://{}", self.local_addr)
    }

    /// The server.
    pub fn server(&self) -> &AsyncWebSocketServer {
        &self.server
    }

    /// Shuts the server down gracefully and waits for it.
    ///
    /// # Errors
    ///
    /// Those of [`AsyncWebSocketServer::shutdown`], or the accept loop's failure.
    pub async fn shutdown(self) -> Result<()> {
        let closed = self.server.shutdown().await;
        let served = match self.task.await {
            Ok(result) => result,
            Err(join) => Err(Error::Serve {
                source: std::io::Error::other(join),
            }),
        };
        // The rooms' close is the one that may have lost data: report it first.
        closed.and(served)
    }
}

/// The HTTP answer to a refused upgrade request.
fn reject(rejection: Rejection) -> Response {
    (rejection.status, rejection.message).into_response()
}

impl Shared {
    /// Whether this server (or the rooms' manager it serves) has begun to shut down.
    fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled() || self.manager.is_shutting_down()
    }
}

async fn accept_root(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    accept(shared, String::new(), request).await
}

async fn accept_room(
    State(shared): State<Arc<Shared>>,
    Path(room): Path<String>,
    request: Request,
) -> Response {
    accept(shared, room, request).await
}

async fn accept(shared: Arc<Shared>, room: String, mut request: Request) -> Response {
    let switching = match upgrade::switching_protocols(&request) {
        Ok(response) => response,
        Err(refusal) => return refusal.into_response(),
    };
    // Taken before the connect hook (which may take its time) so that a shutdown
    // starting meanwhile waits for this request too, and the check below then sees it.
    let connection = shared.connections.token();
    if shared.is_shutting_down() {
        return reject(Rejection::shutting_down());
    }
    let on_upgrade = hyper::upgrade::on(&mut request);
    let (parts, _body) = request.into_parts();
    let connect = ConnectRequest {
        room,
        remote_addr: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr),
        uri: parts.uri,
        headers: parts.headers,
    };
    let access = match &shared.connect_hook {
        None => Access::ReadWrite,
        // A hook that never answers (an auth service down) must not hold up a
        // shutdown, which waits for this request's token.
        Some(hook) => match tokio::select! {
            checked = hook.check(&connect) => checked,
            () = shared.shutdown.cancelled() => Err(Rejection::shutting_down()),
        } {
            Ok(access) => access,
            Err(rejection) => {
                tracing::info!(room = %connect.room, status = %rejection.status, reason = %rejection.message, "connection refused");
                return reject(rejection);
            }
        },
    };
    // Only the room id and the peer's name outlive the upgrade: the request (headers
    // and all) would otherwise stay in memory for the connection's lifetime.
    let peer = match connect.remote_addr {
        Some(addr) => addr.to_string(),
        None => "websocket".to_owned(),
    };
    let room = connect.room;
    // The hook may have awaited while the server began shutting down.
    if shared.is_shutting_down() {
        return reject(Rejection::shutting_down());
    }
    tokio::spawn(async move {
        let _connection = connection;
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "websocket upgrade failed");
                return;
            }
        };
        let config = &shared.config;
        // The rooms' limit (a manager given to the builder has its own config).
        let max_frame = shared.manager.config().room.max_frame_size;
        let socket_config = WebSocketConfig::default()
            .read_buffer_size(config.read_buffer_size)
            .write_buffer_size(config.write_buffer_size)
            .max_message_size(Some(max_frame))
            .max_frame_size(Some(max_frame));
        // Boxed like the rest below: this future (the whole socket, being built) is
        // needed for a moment, and inline it would stay reserved in the task.
        let progress = Progress::new();
        let socket = Box::pin(WebSocketStream::from_raw_socket(
            Tracked::new(TokioIo::new(upgraded), progress.clone()),
            Role::Server,
            Some(socket_config),
        ))
        .await;
        // Into an `Arc` at once, and the rest boxed: this task lives as long as the
        // connection, and what its future holds by value (the channel, the futures
        // of the upgrade) would stay reserved in it all that time.
        let channel =
            Arc::new(ServerChannel::new(peer, socket, config.keepalive).with_progress(progress));
        Box::pin(serve_connection(&shared, &room, channel, access)).await;
    });
    switching
}

async fn serve_connection(
    shared: &Shared,
    room: &str,
    channel: Arc<ServerChannel>,
    access: Access,
) {
    // Boxed: opening a room (hooks loading files) is a large future, needed only
    // until the join; inline, its size would stay reserved in every connection's task.
    let lease = match Box::pin(shared.manager.join(room)).await {
        Ok(lease) => lease,
        Err(error) => {
            tracing::warn!(room, peer = channel.id(), %error, "cannot join room");
            let _ = channel.close(CloseReason::for_result(&Err(error))).await;
            return;
        }
    };
    tracing::info!(room, peer = channel.id(), ?access, "connection opened");
    let options = PeerOptions {
        read_only: access == Access::ReadOnly,
    };
    let peer = channel.id().to_owned();
    let result = lease.room().serve_shared(channel, options).await;
    match result {
        Ok(()) => tracing::info!(room, %peer, "connection closed"),
        Err(error) => tracing::info!(room, %peer, %error, "connection closed"),
    }
}
