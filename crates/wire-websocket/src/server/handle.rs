//! [`ServerHandle`]: a server running in the background.

use std::net::SocketAddr;

use tokio::task::JoinHandle;

use super::AsyncWebSocketServer;
use crate::error::{Error, Result};

/// A server running in the background, from [`AsyncWebSocketServer::start`].
#[derive(Debug)]
pub struct ServerHandle {
    pub(super) local_addr: SocketAddr,
    pub(super) server: AsyncWebSocketServer,
    pub(super) task: JoinHandle<Result<()>>,
}

impl ServerHandle {
    /// The address the server listens on (with the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://ADDRESS` (`wss://` with [`ServerConfig::tls`](super::ServerConfig::tls))
    /// — append `/ROOM` for a client.
    pub fn url(&self) -> String {
        #[cfg(feature = "tls")]
        if self.server.shared.config.tls.is_some() {
            return format!("wss://{}", self.local_addr);
        }
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
