//! `/healthz` and `/readyz`: what a load balancer or an orchestrator asks a server.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AsyncWebSocketServer;

impl AsyncWebSocketServer {
    /// `GET /healthz` and `GET /readyz`, to mount beside the rooms (with
    /// [`ServerBuilder::http`](super::ServerBuilder::http) on the standalone server,
    /// or merged into an app's own router):
    ///
    /// - `/healthz` (liveness): 200 with `{"status":"ok","rooms":N,"connections":N}`
    ///   while the process serves, `"status":"shutting down"` (still 200: it is
    ///   alive, finishing its work) once shutdown has begun;
    /// - `/readyz` (readiness): 200 `ready`, or 503 `shutting down` from the moment
    ///   shutdown begins, so that a load balancer sends new clients elsewhere while
    ///   the rooms flush their files.
    ///
    /// ```
    /// use axum::Router;
    /// use wire_websocket::AsyncWebSocketServer;
    ///
    /// let server = AsyncWebSocketServer::new();
    /// let app: Router = Router::new().nest("/ops", server.health_routes());
    /// ```
    pub fn health_routes<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let live = self.clone();
        let ready = self.clone();
        Router::new()
            .route("/healthz", get(move || async move { live.liveness() }))
            .route("/readyz", get(move || async move { ready.readiness() }))
    }

    fn liveness(&self) -> Response {
        let status = if self.shared.is_shutting_down() {
            "shutting down"
        } else {
            "ok"
        };
        let body = format!(
            "{{\"status\":\"{status}\",\"rooms\":{},\"connections\":{}}}\n",
            self.shared.manager.room_count(),
            self.connection_count()
        );
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    }

    fn readiness(&self) -> Response {
        if self.shared.is_shutting_down() {
            (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
        } else {
            (StatusCode::OK, "ready\n").into_response()
        }
    }
}
