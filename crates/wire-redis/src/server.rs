//! [`AsyncRedisServer`]: room hooks attaching every room of a server to its room in
//! Redis, as `AsyncFileServer` attaches it to a file.

use wiredb::{BoxFuture, Room, RoomClients, RoomHooks};

use crate::config::RedisConfig;
use crate::error::Result;
use crate::link::{Link, Redis};

/// Room hooks sharing every room through Redis: each `wiredb serve --redis` process
/// (or any server with these hooks) on the same Redis serves the same rooms, so that
/// clients behind a load balancer meet whichever process they reach.
///
/// Opening a room loads its snapshot and the stream after it; later edits of the
/// room's clients are appended to the stream, and what other servers append is
/// applied, awareness included. When Redis is unreachable, the room goes on serving
/// its local clients; the link reconnects with backoff and resyncs.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use wire_redis::{AsyncRedisServer, RedisConfig};
/// use wire_websocket::AsyncWebSocketServer;
///
/// let redis = AsyncRedisServer::connect("redis://127.0.0.1:6379", RedisConfig::default()).await?;
/// let server = AsyncWebSocketServer::with_hooks(redis).start("127.0.0.1", 8000).await?;
/// # server.shutdown().await?; Ok(()) }
/// ```
///
/// With files as well, the file hook first: `(AsyncFileServer::new(dir), redis)` —
/// a room then opens from its file, and what the file holds that Redis lacks is
/// appended.
pub struct AsyncRedisServer {
    redis: Redis,
    config: RedisConfig,
    links: RoomClients<Link<Room>>,
}

impl std::fmt::Debug for AsyncRedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncRedisServer")
            .field("redis", &self.redis.shown)
            .field("rooms", &self.links.len())
            .finish_non_exhaustive()
    }
}

impl AsyncRedisServer {
    /// Connects to the Redis at `url` (`redis://[user:password@]host[:port][/db]`)
    /// and checks that it answers.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`](crate::Error::InvalidUrl) for a URL that is not one,
    /// [`Error::Redis`](crate::Error::Redis) when Redis is unreachable or refuses
    /// the credentials.
    pub async fn connect(url: &str, config: RedisConfig) -> Result<Self> {
        Ok(AsyncRedisServer {
            redis: Redis::connect(url, &config).await?,
            config,
            links: RoomClients::new(),
        })
    }

    /// Rooms attached to Redis now.
    pub fn room_count(&self) -> usize {
        self.links.len()
    }
}

impl RoomHooks for AsyncRedisServer {
    fn on_open<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        Box::pin(async move {
            let spawner = room.clone();
            let stop = room.closing().child_token();
            let link = Link::open(&self.redis, room.clone(), &self.config, stop, move |task| {
                spawner.spawn(task);
            })
            .await
            .map_err(wiredb::Error::hook)?;
            tracing::info!(room = room.id(), redis = %self.redis.shown, "room attached to Redis");
            if let Some(previous) = self.links.attach(room, link) {
                previous.close().await;
            }
            Ok(())
        })
    }

    fn on_close<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        Box::pin(async move {
            // After the room's close: its peers' last edits are in, and they go to
            // Redis before the link ends.
            if let Some(link) = self.links.detach(room) {
                link.close().await;
            }
            Ok(())
        })
    }
}
