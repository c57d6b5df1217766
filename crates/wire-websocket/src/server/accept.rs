//! The standalone server's accept loop: HTTP/1 over hyper, with the bounds axum's own
//! `serve` does not set. A connection that does not finish its request headers
//! within `header_read_timeout` is dropped, and beyond `max_connections` (upgraded
//! ones and those still in their request alike) a new connection is closed at once:
//! thousands of silent sockets cannot hold the server's file descriptors.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use super::Shared;
use crate::socket::no_delay;

/// How long the loop waits after an accept error (out of file descriptors, say):
/// retrying at once would spin while nothing can be accepted.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Accepts on `listener` until `stop` is cancelled, then waits for every HTTP
/// connection (requests in progress, a connect hook answering) to finish.
pub(super) async fn run(
    listener: TcpListener,
    app: Router,
    shared: Arc<Shared>,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let http = TaskTracker::new();
    // Connections before or during their HTTP request; the upgraded ones are in
    // `shared.connections`.
    let in_request = Arc::new(AtomicUsize::new(0));
    let limits = (
        shared.config.header_read_timeout,
        shared.config.max_connections,
    );
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let (tcp, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed; pausing");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let open = in_request.load(Ordering::Relaxed) + shared.connections.len();
        if open >= limits.1 {
            tracing::warn!(%remote, open, limit = limits.1, "connection limit reached; closing a new connection");
            drop(tcp);
            continue;
        }
        no_delay(&tcp);
        in_request.fetch_add(1, Ordering::Relaxed);
        let counted = Counted(in_request.clone());
        let app = app.clone();
        let stop = stop.clone();
        http.spawn(async move {
            let _counted = counted;
            serve_http(tcp, remote, app, limits.0, stop).await;
        });
    }
    http.close();
    http.wait().await;
    Ok(())
}

/// Decrements the in-request count when a connection's HTTP part ends.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One HTTP/1 connection: requests go to `app` with the peer address as axum's
/// `ConnectInfo`; an upgrade hands the socket over and ends this.
async fn serve_http(
    tcp: tokio::net::TcpStream,
    remote: SocketAddr,
    app: Router,
    header_read_timeout: Duration,
    stop: CancellationToken,
) {
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(remote));
        let mut app = app.clone();
        async move { Ok::<_, Infallible>(unwrap_infallible(app.call(request).await)) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let mut connection = pin!(
        builder
            .serve_connection(TokioIo::new(tcp), service)
            .with_upgrades()
    );
    let served = tokio::select! {
        served = connection.as_mut() => served,
        () = stop.cancelled() => {
            // Answer what is in progress (a connect hook, which sees the shutdown and
            // refuses with 503), accept nothing more on this connection.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = served {
        tracing::debug!(%remote, %error, "HTTP connection ended");
    }
}

fn unwrap_infallible<T>(result: Result<T, Infallible>) -> T {
    match result {
        Ok(value) => value,
        Err(never) => match never {},
    }
}
