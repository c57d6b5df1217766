//! [`FileClientBuilder`]: an [`AsyncFileClient`] with a shared document or options.

use std::path::PathBuf;

use wiredb::yrs::Doc;

use super::{AsyncFileClient, FileClientConfig};
use crate::Error;

/// Builds an [`AsyncFileClient`]; from [`AsyncFileClient::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `open().await`"]
pub struct FileClientBuilder {
    path: PathBuf,
    doc: Option<Doc>,
    config: FileClientConfig,
}

impl FileClientBuilder {
    pub(super) fn new(path: PathBuf) -> Self {
        FileClientBuilder {
            path,
            doc: None,
            config: FileClientConfig::default(),
        }
    }

    /// Persists `doc` (shared with other providers: a WebSocket client, a room)
    /// instead of a new document. What the file holds and `doc` lacks is loaded
    /// into it; what `doc` holds and the file lacks is appended as one record.
    pub fn doc(mut self, doc: Doc) -> Self {
        self.doc = Some(doc);
        self
    }

    /// The client's options (default [`FileClientConfig::default`]).
    pub fn config(mut self, config: FileClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Opens the file: see [`AsyncFileClient::open`] for what happens and the
    /// errors.
    pub async fn open(self) -> Result<AsyncFileClient, Error> {
        AsyncFileClient::start(self.path, self.doc, self.config).await
    }
}
