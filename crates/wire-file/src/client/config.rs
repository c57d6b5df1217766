//! [`FileClientConfig`]: the options of an [`AsyncFileClient`](crate::AsyncFileClient).

use std::time::Duration;

use crate::Durability;

/// Options of an [`AsyncFileClient`](crate::AsyncFileClient). The names follow
/// Python `wire_file.AsyncFileClient` (`write_delay`, `squash`, `auto_push`,
/// `auto_pull`); the rest is what Python lacks.
///
/// ```
/// use std::time::Duration;
/// use wire_file::{Durability, FileClientConfig};
///
/// let config = FileClientConfig::default()
///     .write_delay(Duration::from_millis(200))
///     .max_write_wait(Duration::from_secs(2))
///     .squash(true)
///     .durability(Durability::Flush);
/// assert!(config.auto_push && config.auto_pull);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FileClientConfig {
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
    pub squash: bool,
    /// Squash the file when the client closes (default `false`).
    pub squash_on_close: bool,
    /// Persist the document's changes as they happen (default `true`). When
    /// `false`, they are held until
    /// [`AsyncFileClient::push`](crate::AsyncFileClient::push); what is still
    /// held at close is not written.
    pub auto_push: bool,
    /// Load the file's content into the document when it opens (default
    /// `true`). When `false`, it is held until
    /// [`AsyncFileClient::pull`](crate::AsyncFileClient::pull).
    pub auto_pull: bool,
    /// How hard each append works to survive a crash (default
    /// [`Durability::Fsync`]: on stable storage before it counts as written;
    /// see [`Durability`] for why that is the default). Whatever this says,
    /// closing the client syncs the file.
    pub durability: Durability,
}

impl Default for FileClientConfig {
    fn default() -> Self {
        FileClientConfig {
            write_delay: Duration::ZERO,
            max_write_wait: Duration::from_secs(1),
            squash: false,
            squash_on_close: false,
            auto_push: true,
            auto_pull: true,
            durability: Durability::default(),
        }
    }
}

impl FileClientConfig {
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

    /// Sets [`squash`](FileClientConfig::squash) (squash on open).
    pub fn squash(mut self, squash: bool) -> Self {
        self.squash = squash;
        self
    }

    /// Sets [`squash_on_close`](FileClientConfig::squash_on_close).
    pub fn squash_on_close(mut self, squash: bool) -> Self {
        self.squash_on_close = squash;
        self
    }

    /// Sets [`auto_push`](FileClientConfig::auto_push).
    pub fn auto_push(mut self, auto_push: bool) -> Self {
        self.auto_push = auto_push;
        self
    }

    /// Sets [`auto_pull`](FileClientConfig::auto_pull).
    pub fn auto_pull(mut self, auto_pull: bool) -> Self {
        self.auto_pull = auto_pull;
        self
    }

    /// Sets [`durability`](FileClientConfig::durability).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }
}
