//! [`FileClientConfig`]: the options of an [`AsyncFileClient`](crate::AsyncFileClient).

use std::time::Duration;

use wiredb::ProviderConfig;

use crate::Durability;

/// Options of an [`AsyncFileClient`](crate::AsyncFileClient), also those of every
/// room's client under an [`AsyncFileServer`](crate::AsyncFileServer). The names
/// follow Python `wire_file.AsyncFileClient` where it has the option (`write_delay`,
/// `auto_push`, `auto_pull`; its `squash` is [`squash_on_open`](Self::squash_on_open)).
///
/// ```
/// use std::time::Duration;
/// use wire_file::{Durability, FileClientConfig};
/// use wiredb::ProviderConfig;
///
/// let config = FileClientConfig::default()
///     .write_delay(Duration::from_millis(200))
///     .max_write_wait(Duration::from_secs(2))
///     .squash_on_open(true)
///     .durability(Durability::Flush)
///     .provider(ProviderConfig::default().auto_pull(false));
/// assert!(config.provider.auto_push && !config.provider.auto_pull);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FileClientConfig {
    /// The options every client shares, from the core:
    /// [`auto_push`](ProviderConfig::auto_push) persists the document's changes as
    /// they happen (else they are held until
    /// [`AsyncFileClient::push`](crate::AsyncFileClient::push), and what is still
    /// held at close is not written); [`auto_pull`](ProviderConfig::auto_pull) loads
    /// the file's content into the document when it opens (else it is held until
    /// [`AsyncFileClient::pull`](crate::AsyncFileClient::pull)).
    pub provider: ProviderConfig,
    /// How long to wait for more updates before appending (default zero:
    /// append as soon as possible).
    ///
    /// Every update re-arms the delay, so a burst of edits becomes one append
    /// (one write, one sync) of several records, as in Python `wire_file`.
    /// Even at zero, updates that arrive while an append is in progress are
    /// appended together by the next one.
    pub write_delay: Duration,
    /// The longest an update waits for its append, however busy the document
    /// (default 1 s; never shorter than `write_delay`).
    ///
    /// Python `wire_file` has none: a document edited more often than
    /// `write_delay` is not persisted at all until it goes quiet.
    pub max_write_wait: Duration,
    /// Squash the file when opening it: rewrite it atomically as one record
    /// holding the whole document (default `false`). Python's `squash`
    /// option, which also squashes at every write; here later updates are
    /// appended, and [`squash_on_close`](FileClientConfig::squash_on_close)
    /// or [`AsyncFileClient::squash`](crate::AsyncFileClient::squash) squash
    /// again.
    pub squash_on_open: bool,
    /// Squash the file when the client closes (default `false`): for a server's
    /// rooms, one rewrite per close keeps files small at the cost of a full write
    /// of the document each time a room empties.
    pub squash_on_close: bool,
    /// How hard each append works to survive a crash (default
    /// [`Durability::Fsync`]: on stable storage before it counts as written;
    /// see [`Durability`] for why that is the default). Whatever this says,
    /// closing the client syncs the file.
    pub durability: Durability,
    /// Group commit, for the rooms of an [`AsyncFileServer`](crate::AsyncFileServer)
    /// with [`Durability::Fsync`] (default 1 s, Redis's `everysec`): each update is written (handed
    /// to the kernel) before it is relayed, and the room's file is synced at most
    /// once per interval, as Redis's `appendfsync everysec` and PostgreSQL's group
    /// commit do. A process crash loses nothing; a power loss at most this long.
    /// `Duration::ZERO` syncs every update before it is relayed (the strictest and
    /// slowest). A file client syncs each batch instead (`write_delay` batches).
    pub sync_interval: Duration,
}

impl Default for FileClientConfig {
    fn default() -> Self {
        FileClientConfig {
            provider: ProviderConfig::default(),
            write_delay: Duration::ZERO,
            max_write_wait: Duration::from_secs(1),
            squash_on_open: false,
            squash_on_close: false,
            durability: Durability::default(),
            sync_interval: Duration::from_secs(1),
        }
    }
}

impl FileClientConfig {
    /// Sets [`provider`](FileClientConfig::provider): `auto_push`, `auto_pull`.
    pub fn provider(mut self, provider: ProviderConfig) -> Self {
        self.provider = provider;
        self
    }

    /// Sets [`write_delay`](FileClientConfig::write_delay).
    pub fn write_delay(mut self, delay: Duration) -> Self {
        self.write_delay = delay;
        self
    }

    /// Sets [`max_write_wait`](FileClientConfig::max_write_wait).
    pub fn max_write_wait(mut self, wait: Duration) -> Self {
        self.max_write_wait = wait;
        self
    }

    /// Sets [`squash_on_open`](FileClientConfig::squash_on_open).
    pub fn squash_on_open(mut self, squash: bool) -> Self {
        self.squash_on_open = squash;
        self
    }

    /// Sets [`squash_on_close`](FileClientConfig::squash_on_close).
    pub fn squash_on_close(mut self, squash: bool) -> Self {
        self.squash_on_close = squash;
        self
    }

    /// Sets [`sync_interval`](FileClientConfig::sync_interval).
    pub fn sync_interval(mut self, interval: Duration) -> Self {
        self.sync_interval = interval;
        self
    }

    /// Sets [`durability`](FileClientConfig::durability).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }
}
