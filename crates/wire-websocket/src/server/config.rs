//! [`ServerConfig`]: the settings of an [`AsyncWebSocketServer`](crate::AsyncWebSocketServer).

use std::time::Duration;

use wiredb::ManagerConfig;

use crate::keepalive::KeepAlive;

/// Settings of an [`AsyncWebSocketServer`](crate::AsyncWebSocketServer).
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// How long a new connection has to send its whole HTTP request head (default
    /// 10 s); a socket that sends nothing is dropped then, not held for ever.
    pub header_read_timeout: Duration,
    /// Connections served at once, upgraded or still in their request (default
    /// 8192); a connection over it is closed as soon as it is accepted. Keep it
    /// under the process's open-files limit, with room for the rooms' files.
    pub max_connections: usize,
    /// TLS for the standalone server: `wss://` instead of `ws://` (default none; an
    /// app embedding the routes, or a proxy in front, does its own TLS).
    #[cfg(feature = "tls")]
    pub tls: Option<super::ServerTls>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            manager: ManagerConfig::default(),
            keepalive: Some(KeepAlive::default()),
            read_buffer_size: 512,
            write_buffer_size: 8 * 1024,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 8192,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ServerConfig {
    /// Sets [`ServerConfig::tls`]: serve `wss://` with this certificate.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: super::ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

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

    /// Sets [`ServerConfig::header_read_timeout`].
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`ServerConfig::max_connections`].
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// Sets [`ServerConfig::write_buffer_size`].
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }
}
