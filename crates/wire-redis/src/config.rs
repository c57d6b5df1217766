//! [`RedisConfig`]: how rooms use Redis.

use std::time::Duration;

/// Settings of [`AsyncRedisServer`](crate::AsyncRedisServer) and
/// [`AsyncRedisClient`](crate::AsyncRedisClient).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// Prefix of every key (default `wiredb:`), so that several deployments share a
    /// Redis, or a database of it.
    pub prefix: String,
    /// How long a blocking read waits before it is issued again (default 5 s): a
    /// bound on how late a room notices that its connection died silently.
    pub block: Duration,
    /// Compaction is tried this often by every process with the room open (default
    /// 5 s); the one holding the room's lease does it.
    pub compact_interval: Duration,
    /// A stream is compacted once it holds at least this many entries (default 500).
    pub compact_min_entries: usize,
    /// Entries younger than this stay in the stream when it is compacted (default
    /// 30 s), so that a reader a little behind still finds every entry after the one
    /// it read last; a reader cut off for longer reloads the snapshot anyway.
    pub retain: Duration,
    /// How long a compaction lease lasts without renewal (default 15 s): a process
    /// killed while holding it gives it up after that.
    pub lease_ttl: Duration,
    /// A remote client's awareness state (a cursor) is dropped when it has not been
    /// renewed for this long (default 30 s, as y-protocols): the client's server died
    /// without saying that it left.
    pub awareness_timeout: Duration,
    /// The first pause before reconnecting to Redis, doubled up to
    /// [`RedisConfig::max_backoff`] (default 100 ms).
    pub min_backoff: Duration,
    /// The longest pause between reconnection attempts (default 5 s).
    pub max_backoff: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            prefix: "wiredb:".into(),
            block: Duration::from_secs(5),
            compact_interval: Duration::from_secs(5),
            compact_min_entries: 500,
            retain: Duration::from_secs(30),
            lease_ttl: Duration::from_secs(15),
            awareness_timeout: Duration::from_secs(30),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RedisConfig {
    /// Sets [`RedisConfig::prefix`].
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Sets [`RedisConfig::compact_interval`], [`RedisConfig::compact_min_entries`]
    /// and [`RedisConfig::retain`].
    pub fn compaction(mut self, interval: Duration, min_entries: usize, retain: Duration) -> Self {
        self.compact_interval = interval;
        self.compact_min_entries = min_entries;
        self.retain = retain;
        self
    }

    /// Sets [`RedisConfig::awareness_timeout`].
    pub fn awareness_timeout(mut self, timeout: Duration) -> Self {
        self.awareness_timeout = timeout;
        self
    }

    /// Sets [`RedisConfig::min_backoff`] and [`RedisConfig::max_backoff`].
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }

    /// Sets [`RedisConfig::lease_ttl`].
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl;
        self
    }
}
