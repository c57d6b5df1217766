//! [`AsyncWebSocketServer`]: rooms served over WebSocket by axum, standalone or nested
//! in an application's own router.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the server, its builder, serving and shutdown |
//! | `config.rs` | [`ServerConfig`] |
//! | `handle.rs` | [`ServerHandle`], a server running in the background |
//! | `shutdown.rs` | [`GracefulShutdown`], the signal for `axum::serve` |
//! | `extract.rs` | [`RoomUpgrade`], the extractor for an app's own handler |
//! | `connect.rs` | the connect hook: [`ConnectHook`], [`ConnectRequest`], [`Access`] |
//! | `token.rs` | [`TokenKey`]: signed room tokens, checked before the upgrade |
//! | `health.rs` | `/healthz` and `/readyz` |
//! | `prometheus.rs` | [`PrometheusMetrics`]: `/metrics` (feature `prometheus`) |
//! | `tls.rs` | [`ServerTls`]: certificates for `wss://` (feature `tls`) |
//! | `accept.rs` | the standalone accept loop: bounds, TLS, plain HTTP or rooms |
//! | `upgrade/` | the RFC 6455 opening handshake |

mod accept;
mod config;
mod connect;
mod extract;
mod handle;
mod health;
#[cfg(feature = "prometheus")]
mod prometheus;
mod shutdown;
#[cfg(feature = "tls")]
mod tls;
mod token;
mod upgrade;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tokio_util::task::task_tracker::TaskTrackerToken;
use wiredb::{Channel, CloseReason, PeerOptions, RoomHooks, RoomManager};

pub use config::ServerConfig;
pub use connect::{Access, ConnectHook, ConnectRequest, Rejection};
pub use extract::RoomUpgrade;
pub use handle::ServerHandle;
#[cfg(feature = "prometheus")]
pub use prometheus::PrometheusMetrics;
pub use shutdown::GracefulShutdown;
#[cfg(feature = "tls")]
pub use tls::ServerTls;
pub use token::{Grant, MIN_KEY_BYTES, RoomScope, TokenError, TokenKey};

use crate::channel::ServerChannel;
use crate::error::{Error, Result};
use crate::metrics::SocketMetrics;
use crate::shared_socket::SharedSocket;
use crate::socket::{tracked_counted, websocket_config};
use crate::upgraded_io::UpgradedIo;

struct Shared {
    manager: RoomManager,
    /// Where requests that are not WebSocket upgrades go (standalone server only):
    /// health merged with the app's routes, set once by the builder.
    http: std::sync::OnceLock<Router>,
    config: ServerConfig,
    connect_hook: Option<Arc<dyn ConnectHook>>,
    /// One token per upgraded connection, so shutdown can wait for them all.
    connections: TaskTracker,
    shutdown: CancellationToken,
    metrics: SocketMetrics,
}

/// Serves rooms over WebSocket, speaking y-protocols as the y-websocket server does:
/// a client connecting to `ws://host:port/ROOM` joins room `ROOM` (the path after the
/// mount point, without the leading `/`; `a/b` is a valid id; the query string is not
/// part of the id; an empty id is refused with 400).
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
/// let running = AsyncWebSocketServer::new().start("127.0.0.1", 0).await?;
/// println!("serving on ws://{}", running.local_addr());
/// running.shutdown().await?;
/// # Ok(()) }
/// ```
///
/// # Nested in an axum app
///
/// The routes come with the shutdown signal to give axum: stopping the app then
/// closes every room (and flushes its file) before `axum::serve` returns.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, routing::get};
/// use wire_websocket::AsyncWebSocketServer;
///
/// let server = AsyncWebSocketServer::new();
/// let (collab, shutdown) = server.router_with_shutdown("/collab", async {
///     let _ = tokio::signal::ctrl_c().await;
/// });
/// let app: Router = Router::new()
///     .route("/health", get(|| async { "ok" }))
///     .merge(collab); // ws://host/collab/ROOM
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
/// # Ok(()) }
/// ```
///
/// An app that takes the room id from its own route or auth uses the [`RoomUpgrade`]
/// extractor and [`AsyncWebSocketServer::accept`] instead, with
/// [`AsyncWebSocketServer::graceful_shutdown`] as the signal.
///
/// Room hooks ([`RoomHooks`], e.g. `wire_file::AsyncFileServer`; a tuple of hooks for
/// several) attach storage or an upstream server to each room; a [`ConnectHook`]
/// admits or refuses connections.
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

impl Default for AsyncWebSocketServer {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds an [`AsyncWebSocketServer`]; see [`AsyncWebSocketServer::builder`].
#[must_use]
pub struct ServerBuilder {
    http: Option<Router>,
    hooks: Option<Arc<dyn RoomHooks>>,
    manager: Option<RoomManager>,
    config: ServerConfig,
    connect_hook: Option<Arc<dyn ConnectHook>>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// The room hooks (room factory): what happens when a room opens and closes. A
    /// tuple composes several: `(AsyncFileServer::new(dir), Upstream::new(hub))`.
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

    /// Checks every connection request to the server's own routes before the
    /// upgrade (an app's own handler decides for itself: see
    /// [`AsyncWebSocketServer::accept`]).
    pub fn connect_hook(mut self, hook: impl ConnectHook) -> Self {
        self.connect_hook = Some(Arc::new(hook));
        self
    }

    /// Where the standalone server ([`AsyncWebSocketServer::serve`],
    /// [`AsyncWebSocketServer::start`]) sends requests that are not WebSocket upgrades
    /// (no `Upgrade: websocket` header): a page, `/metrics`. They are told apart from
    /// room connections by that header alone, so `GET /metrics` is the app's while a
    /// WebSocket to `/metrics` still joins room `metrics`.
    ///
    /// The standalone server answers `GET /healthz` and `GET /readyz` itself
    /// ([`AsyncWebSocketServer::health_routes`]): `router` must not route them
    /// (axum panics on a route given twice). Other plain requests get `router`'s
    /// answer (its fallback, or 404), and without a router 426 "upgrade required".
    /// (An app embedding the rooms' routes routes its own requests.)
    pub fn http(mut self, router: Router) -> Self {
        self.http = Some(router);
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
        let server = AsyncWebSocketServer {
            shared: Arc::new(Shared {
                manager,
                http: std::sync::OnceLock::new(),
                config: self.config,
                connect_hook: self.connect_hook,
                connections: TaskTracker::new(),
                shutdown: CancellationToken::new(),
                metrics: SocketMetrics::server(),
            }),
        };
        if let Some(app) = self.http {
            // Merged here rather than when serving: a router that routes `/healthz`
            // too makes axum panic, and that must happen in the caller, not in a
            // serving task after `start` has said it is up.
            let _ = server.shared.http.set(server.health_routes().merge(app));
        }
        server
    }
}

impl AsyncWebSocketServer {
    /// A server whose rooms live in memory, with default settings.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A server with room `hooks` (persistence, an upstream hub, a tuple of both) and
    /// default settings.
    pub fn with_hooks(hooks: impl RoomHooks) -> Self {
        Self::builder().hooks(hooks).build()
    }

    /// A builder for hooks, settings and a connect hook.
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            http: None,
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

    /// The routes to merge into an application, mounted at `mount` (`"/collab"`:
    /// `ws://host/collab/ROOM`; `""` for the root), any state type `S`, with the
    /// signal to hand `axum::serve(...).with_graceful_shutdown(...)`: it waits for
    /// `signal`, then closes the rooms (see [`GracefulShutdown`]).
    ///
    /// `mount/{*room}` joins room `room`; `mount` and `mount/` name no room and are
    /// refused with 400. (Merged rather than nested: axum's `nest` leaves `mount/`
    /// to the app's fallback.) For [`ConnectRequest::remote_addr`], serve the app with
    /// `into_make_service_with_connect_info::<SocketAddr>()`.
    pub fn router_with_shutdown<S>(
        &self,
        mount: &str,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> (Router<S>, GracefulShutdown)
    where
        S: Clone + Send + Sync + 'static,
    {
        (self.routes(mount), self.graceful_shutdown(signal))
    }

    /// The signal to hand `axum::serve(...).with_graceful_shutdown(...)` when the app
    /// routes connections itself ([`RoomUpgrade`]): it waits for `signal`, then closes
    /// the rooms.
    pub fn graceful_shutdown(
        &self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> GracefulShutdown {
        GracefulShutdown::new(self.clone(), signal)
    }

    fn routes<S>(&self, mount: &str) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let mount = mount.trim_end_matches('/');
        let mut router = Router::new()
            .route(&format!("{mount}/"), any(accept_root))
            .route(&format!("{mount}/{{*room}}"), any(accept_room));
        if !mount.is_empty() {
            router = router.route(mount, any(accept_root));
        }
        router.with_state(self.shared.clone())
    }

    /// Hands an upgraded connection to room `room` with `access`, and returns the
    /// response that completes the upgrade: the handler for apps that pick the room
    /// and the access themselves (see [`RoomUpgrade`]). The server's connect hook
    /// does not run here: the app's handler has decided.
    ///
    /// An empty `room` is refused with 400, and every request once the server is
    /// shutting down with 503.
    pub fn accept(
        &self,
        upgrade: RoomUpgrade,
        room: impl Into<String>,
        access: Access,
    ) -> Response {
        let connection = self.shared.connections.token();
        accept(&self.shared, connection, upgrade, room.into(), access)
    }

    /// Serves on `listener` until `shutdown` completes (or [`Self::shutdown`] is
    /// called), then shuts down gracefully (see [`Self::shutdown`]).
    ///
    /// Connections are bounded as [`ServerConfig::header_read_timeout`] and
    /// [`ServerConfig::max_connections`] say (an app embedding the routes in its own
    /// `axum::serve` sets its own bounds, or runs behind a proxy that does).
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let stop = self.shared.shutdown.clone();
        let websocket = self.routes::<()>("");
        // Without app routes, any plain request but health gets the rooms' answer
        // (426 "upgrade required").
        let http = match self.shared.http.get() {
            Some(app) => app.clone(),
            None => self.health_routes().fallback_service(websocket.clone()),
        };
        let routes = accept::Routes { websocket, http };
        let accepting = accept::run(listener, routes, self.shared.clone(), stop.clone());
        let signal = async move {
            tokio::select! {
                () = shutdown => {}
                () = stop.cancelled() => {}
            }
            // Whichever fired: requests still in a connect hook answer 503 now, and
            // new ones too.
            stop.cancel();
        };
        let ((), served) = tokio::join!(signal, accepting);
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

/// The HTTP answer to a refused upgrade request.
fn reject(rejection: Rejection) -> Response {
    crate::metrics::connection_refused(rejection.status);
    (rejection.status, rejection.message).into_response()
}

impl Shared {
    /// Whether this server (or the rooms' manager it serves) has begun to shut down.
    fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled() || self.manager.is_shutting_down()
    }
}

/// `/` under the mount point: `/collab` and `/collab/` alike name no room.
async fn accept_root(upgrade: std::result::Result<RoomUpgrade, Response>) -> Response {
    match upgrade {
        Ok(_) => reject(missing_room()),
        Err(refusal) => refusal,
    }
}

async fn accept_room(
    State(shared): State<Arc<Shared>>,
    Path(room): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: RoomUpgrade,
) -> Response {
    // Taken before the connect hook (which may take its time) so that a shutdown
    // starting meanwhile waits for this request too, and the check below then sees it.
    let connection = shared.connections.token();
    if shared.is_shutting_down() {
        return reject(Rejection::shutting_down());
    }
    if room.is_empty() {
        return reject(missing_room());
    }
    let access = match &shared.connect_hook {
        None => Access::ReadWrite,
        Some(hook) => {
            let request = ConnectRequest {
                room,
                uri,
                headers,
                remote_addr: upgrade.remote_addr,
            };
            // A hook that never answers (an auth service down) must not hold up a
            // shutdown, which waits for this request's token.
            let checked = tokio::select! {
                checked = hook.check(&request) => checked,
                () = shared.shutdown.cancelled() => Err(Rejection::shutting_down()),
            };
            match checked {
                Ok(access) => return accept(&shared, connection, upgrade, request.room, access),
                Err(rejection) => {
                    tracing::info!(room = %request.room, status = %rejection.status, reason = %rejection.message, "connection refused");
                    return reject(rejection);
                }
            }
        }
    };
    accept(&shared, connection, upgrade, room, access)
}

fn missing_room() -> Rejection {
    Rejection::new(
        StatusCode::BAD_REQUEST,
        "no room id: connect to ws://host:port/ROOM",
    )
}

/// Starts serving an upgraded connection in room `room`. Only the room id and the
/// peer's name outlive the upgrade: the request (headers and all) would otherwise stay
/// in memory for the connection's lifetime.
fn accept(
    shared: &Arc<Shared>,
    connection: TaskTrackerToken,
    upgrade: RoomUpgrade,
    room: String,
    access: Access,
) -> Response {
    if room.is_empty() {
        return reject(missing_room());
    }
    // The hook may have awaited while the server began shutting down.
    if shared.is_shutting_down() {
        return reject(Rejection::shutting_down());
    }
    let RoomUpgrade {
        switching,
        on_upgrade,
        remote_addr,
    } = upgrade;
    let peer = match remote_addr {
        Some(addr) => addr.to_string(),
        None => "websocket".to_owned(),
    };
    let shared = shared.clone();
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
        let socket_config = websocket_config(
            config.read_buffer_size,
            Some(config.write_buffer_size),
            max_frame,
        );
        let (io, progress) = tracked_counted(UpgradedIo::new(upgraded), &shared.metrics);
        // tungstenite reads and answers pings through one handle, the channel writes
        // its binary frames through the other.
        let io = SharedSocket::new(io);
        let frame_writer = io.frame_writer();
        // Boxed like the rest below: this future (the whole socket, being built) is
        // needed for a moment, and inline it would stay reserved in the task.
        let socket = Box::pin(WebSocketStream::from_raw_socket(
            io,
            Role::Server,
            Some(socket_config),
        ))
        .await;
        // Into an `Arc` at once, and the rest boxed: this task lives as long as the
        // connection, and what its future holds by value (the channel, the futures
        // of the upgrade) would stay reserved in it all that time.
        let channel = Arc::new(
            ServerChannel::new(peer, socket, config.keepalive)
                .with_progress(progress)
                .with_metrics(&shared.metrics)
                .with_frame_writer(frame_writer),
        );
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
    // Decremented when dropped: a connection task aborted or panicking still counts out.
    let _open = crate::metrics::OpenConnection::new(access);
    let options = PeerOptions::default().read_only(access == Access::ReadOnly);
    let peer = channel.id().to_owned();
    let result = lease.room().serve_shared(channel, options).await;
    match result {
        Ok(()) => tracing::info!(room, %peer, "connection closed"),
        Err(error) => tracing::info!(room, %peer, %error, "connection closed"),
    }
}
