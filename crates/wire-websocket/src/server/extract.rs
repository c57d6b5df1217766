//! [`RoomUpgrade`]: the extractor that lets an app's own handler hand a WebSocket to
//! the rooms, with the room id and access it decided itself.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use hyper::upgrade::OnUpgrade;

use super::upgrade::{self, Refusal};

/// A valid WebSocket upgrade request, taken by an axum handler so that the app picks
/// the room (from its own route, path parameters, a JWT claim) and the [`Access`], and
/// then hands the socket to [`AsyncWebSocketServer::accept`].
///
/// Extracting it answers a request that is not a WebSocket upgrade as the spec wants:
/// 426 with `Upgrade: websocket` for a plain HTTP request, 405 for another method,
/// 400 for a bad `Sec-WebSocket-Key`.
///
/// ```
/// use axum::extract::{Path, State};
/// use axum::response::Response;
/// use axum::{Router, routing::get};
/// use wire_websocket::{Access, AsyncWebSocketServer, RoomUpgrade};
///
/// async fn collab(
///     State(rooms): State<AsyncWebSocketServer>,
///     Path(doc_id): Path<String>,
///     upgrade: RoomUpgrade,
/// ) -> Response {
///     // The app's own auth would pick the access here.
///     rooms.accept(upgrade, format!("docs/{doc_id}"), Access::ReadOnly)
/// }
///
/// let rooms = AsyncWebSocketServer::new();
/// let app: Router = Router::new()
///     .route("/docs/{doc_id}/ws", get(collab))
///     .with_state(rooms);
/// ```
///
/// [`Access`]: crate::Access
/// [`AsyncWebSocketServer::accept`]: crate::AsyncWebSocketServer::accept
pub struct RoomUpgrade {
    /// The `101 Switching Protocols` answer, ready to send.
    pub(super) switching: Response,
    pub(super) on_upgrade: OnUpgrade,
    pub(super) remote_addr: Option<SocketAddr>,
}

impl std::fmt::Debug for RoomUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomUpgrade")
            .field("remote_addr", &self.remote_addr)
            .finish_non_exhaustive()
    }
}

impl RoomUpgrade {
    /// The peer address, when the app is served with connect info (axum's
    /// `into_make_service_with_connect_info::<SocketAddr>()`).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RoomUpgrade {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        let switching = upgrade::switching_protocols(&parts.method, &parts.headers)
            .map_err(Refusal::into_response)?;
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            // Served by something that cannot upgrade (a test calling the router
            // as a plain service): nothing to hand the socket to.
            return Err(upgrade::plain(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "this server cannot upgrade connections",
            )
            .into_response());
        };
        let remote_addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr);
        Ok(RoomUpgrade {
            switching,
            on_upgrade,
            remote_addr,
        })
    }
}
