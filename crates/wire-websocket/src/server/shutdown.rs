//! [`GracefulShutdown`]: the shutdown signal to hand `axum::serve`, so that an app
//! embedding the server cannot stop without closing the rooms (and flushing their
//! files) first.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::AsyncWebSocketServer;

/// The future to pass to axum's `with_graceful_shutdown`: it waits for the app's own
/// signal, then shuts the rooms down (close frames to every peer, every room hook's
/// `on_close`: files flushed), and only then lets axum stop. A room that failed to
/// close is logged at error level; call [`AsyncWebSocketServer::shutdown`] yourself
/// (it is idempotent) for the failures as a value.
///
/// From [`AsyncWebSocketServer::router_with_shutdown`] or
/// [`AsyncWebSocketServer::graceful_shutdown`].
#[must_use = "axum::serve must be given this future, or the rooms are not flushed when the app stops"]
pub struct GracefulShutdown {
    future: Pin<Box<dyn Future<Output = ()> + Send>>,
}

impl std::fmt::Debug for GracefulShutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GracefulShutdown").finish_non_exhaustive()
    }
}

impl GracefulShutdown {
    pub(super) fn new(
        server: AsyncWebSocketServer,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        GracefulShutdown {
            future: Box::pin(async move {
                tokio::select! {
                    () = signal => {}
                    // Shut down some other way (a `ServerHandle`, a second router):
                    // axum must stop too.
                    () = server.shared.shutdown.cancelled() => {}
                }
                if let Err(error) = server.shutdown().await {
                    tracing::error!(%error, "rooms did not close cleanly");
                }
            }),
        }
    }
}

impl Future for GracefulShutdown {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.future.as_mut().poll(cx)
    }
}
