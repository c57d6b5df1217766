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

/// How long a connection may stay plain HTTP (requests and keep-alive alike) before it
/// is closed: far longer than a page, a scrape or a health check takes.
const PLAIN_HTTP_LIMIT: Duration = Duration::from_secs(60);

/// How long a shutdown waits for a plain HTTP answer in progress.
const SHUTDOWN_DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Accepts on `listener` until `stop` is cancelled, then waits for every HTTP
/// connection (requests in progress, a connect hook answering) to finish.
pub(super) async fn run(
    listener: TcpListener,
    app: Routes,
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
    let over_limit = crate::metrics::connection_over_limit();
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
            over_limit.increment(1);
            drop(tcp);
            continue;
        }
        no_delay(&tcp);
        in_request.fetch_add(1, Ordering::Relaxed);
        let counted = Counted(in_request.clone());
        let app = app.clone();
        let stop = stop.clone();
        #[cfg(feature = "tls")]
        let tls = shared.config.tls.clone();
        http.spawn(async move {
            let _counted = counted;
            #[cfg(feature = "tls")]
            if let Some(tls) = tls {
                // The handshake counts against the same bound as the request head: a
                // socket that never finishes it must not be held for ever.
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.0);
                let handshake = tokio::time::timeout(limits.0, acceptor.accept(tcp));
                let shaken = tokio::select! {
                    shaken = handshake => shaken,
                    // A shutdown does not wait for handshakes.
                    () = stop.cancelled() => return,
                };
                match shaken {
                    Ok(Ok(stream)) => serve_http(stream, remote, app, limits.0, stop).await,
                    Ok(Err(error)) => tracing::debug!(%remote, %error, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                }
                return;
            }
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

/// What the accept loop serves: WebSocket upgrades go to the rooms, other requests
/// to the plain-HTTP routes (health, the app's page and `/metrics`).
#[derive(Clone)]
pub(super) struct Routes {
    pub(super) websocket: Router,
    pub(super) http: Router,
}

impl Routes {
    fn for_request<B>(&self, request: &hyper::Request<B>) -> Router {
        if super::upgrade::asks_for_websocket(request.headers()) {
            self.websocket.clone()
        } else {
            self.http.clone()
        }
    }
}

/// One HTTP/1 connection: requests go to `app` with the peer address as axum's
/// `ConnectInfo`; an upgrade hands the socket over and ends this.
async fn serve_http<S>(
    stream: S,
    remote: SocketAddr,
    app: Routes,
    header_read_timeout: Duration,
    stop: CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut router = app.for_request(&request);
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(remote));
        async move { Ok::<_, Infallible>(unwrap_infallible(router.call(request).await)) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let mut connection = pin!(
        builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades()
    );
    // The connection's HTTP part ends when it upgrades (the socket is then the
    // room's), so this bounds only plain requests: a client that never reads the
    // page's bytes must not hold its slot, nor a shutdown, for ever.
    let limited = tokio::time::timeout(PLAIN_HTTP_LIMIT, connection.as_mut());
    let served = tokio::select! {
        served = limited => served.unwrap_or_else(|_| {
            tracing::debug!(%remote, "plain HTTP connection over its time limit; closed");
            Ok(())
        }),
        () = stop.cancelled() => {
            // Answer what is in progress (a connect hook, which sees the shutdown and
            // refuses with 503), accept nothing more on this connection, and give up
            // on it after a bound.
            connection.as_mut().graceful_shutdown();
            tokio::time::timeout(SHUTDOWN_DRAIN_LIMIT, connection)
                .await
                .unwrap_or(Ok(()))
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
