//! [`ServerConfig`]: the settings of an [`AsyncWebSocketServer`](crate::AsyncWebSocketServer).

use wiredb::ManagerConfig;

use crate::keepalive::KeepAlive;

/// Settings of an [`AsyncWebSocketServer`].
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
