//! The socket under every WebSocket of this crate, set up in one place for the server
//! and the client: tungstenite's limits and buffers, byte counting ([`Tracked`]) and
//! no Nagle delay.

use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::progress::{Progress, Tracked};

/// tungstenite's settings for one socket: `max_frame` bounds a whole message as well
/// as a single frame (a message of many small frames is no way round the limit).
pub(crate) fn websocket_config(
    read_buffer_size: usize,
    write_buffer_size: Option<usize>,
    max_frame: usize,
) -> WebSocketConfig {
    let config = WebSocketConfig::default()
        .read_buffer_size(read_buffer_size)
        .max_message_size(Some(max_frame))
        .max_frame_size(Some(max_frame));
    match write_buffer_size {
        Some(bytes) => config.write_buffer_size(bytes),
        None => config,
    }
}

/// `io` with its bytes counted, and the counts: what the channel watches to bound
/// writes and to see a large frame arriving as a sign of life.
#[cfg(feature = "client")]
pub(crate) fn tracked<T>(io: T) -> (Tracked<T>, Arc<Progress>) {
    let progress = Progress::new();
    (Tracked::new(io, progress.clone()), progress)
}

/// [`tracked`], its bytes also counted in `metrics`.
#[cfg(feature = "server")]
pub(crate) fn tracked_counted<T>(
    io: T,
    metrics: &crate::metrics::SocketMetrics,
) -> (Tracked<T>, Arc<Progress>) {
    let progress = Progress::counted(metrics);
    (Tracked::new(io, progress.clone()), progress)
}

/// Frames are small and latency matters: no Nagle delay. Best effort (a socket that
/// refuses still works, only later).
pub(crate) fn no_delay(tcp: &TcpStream) {
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "cannot turn off Nagle's algorithm");
    }
}
