//! [`AsyncRedisClient`]: a document kept in sync with a room through Redis alone.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wiredb::SharedAwareness;
use wiredb::yrs::Doc;
use wiredb::yrs::sync::Awareness;

use crate::config::RedisConfig;
use crate::error::Result;
use crate::link::{Link, Redis};
use crate::target::Standalone;

/// A `Doc` kept in sync with room `room` through Redis, with no WebSocket: for a
/// backend job that edits documents (an importer, a bot, a migration) while the
/// servers on the same Redis serve the room's clients.
///
/// ```no_run
/// # async fn run() -> Result<(), wire_redis::Error> {
/// use wire_redis::{AsyncRedisClient, RedisConfig};
/// use wiredb::yrs::{Text, Transact};
///
/// let client = AsyncRedisClient::connect("redis://127.0.0.1:6379", "notes", RedisConfig::default()).await?;
/// let text = client.doc().get_or_insert_text("text");
/// text.push(&mut client.doc().transact_mut(), "from a backend job");
/// client.close().await;
/// # Ok(()) }
/// ```
pub struct AsyncRedisClient {
    target: Arc<Standalone>,
    link: Link<Arc<Standalone>>,
    tasks: TaskTracker,
}

impl std::fmt::Debug for AsyncRedisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncRedisClient")
            .field("room", &self.target.name)
            .finish_non_exhaustive()
    }
}

impl AsyncRedisClient {
    /// Connects to the Redis at `url` and loads room `room` into a new `Doc`.
    ///
    /// # Errors
    ///
    /// Those of [`AsyncRedisServer::connect`](crate::AsyncRedisServer::connect), and
    /// [`Error::BadData`](crate::Error::BadData) for a snapshot that does not apply.
    pub async fn connect(url: &str, room: &str, config: RedisConfig) -> Result<Self> {
        Self::connect_doc(url, room, wiredb::new_doc(), config).await
    }

    /// As [`AsyncRedisClient::connect`], syncing `doc` (what it holds already that
    /// Redis lacks is appended).
    ///
    /// # Errors
    ///
    /// As [`AsyncRedisClient::connect`].
    pub async fn connect_doc(url: &str, room: &str, doc: Doc, config: RedisConfig) -> Result<Self> {
        let redis = Redis::connect(url, &config).await?;
        let awareness: SharedAwareness = Arc::new(Mutex::new(Awareness::new(doc.clone())));
        let target = Arc::new(Standalone {
            name: room.to_owned(),
            doc,
            awareness,
        });
        let tasks = TaskTracker::new();
        let spawner = tasks.clone();
        let link = Link::open(
            &redis,
            target.clone(),
            &config,
            CancellationToken::new(),
            move |task| {
                spawner.spawn(task);
            },
        )
        .await?;
        Ok(AsyncRedisClient {
            target,
            link,
            tasks,
        })
    }

    /// The synced document.
    pub fn doc(&self) -> &Doc {
        &self.target.doc
    }

    /// The client's awareness (set a local state to be seen by the room's clients).
    pub fn awareness(&self) -> &SharedAwareness {
        &self.target.awareness
    }

    /// Completes once every edit made so far has been appended to Redis.
    pub async fn flushed(&self) {
        self.link.flushed().await;
    }

    /// Stops syncing: the edits made so far are appended first (within 5 s; an
    /// unreachable Redis gets a warning, and they stay in the document only).
    pub async fn close(self) {
        self.link.close().await;
        self.tasks.close();
        self.tasks.wait().await;
    }
}
