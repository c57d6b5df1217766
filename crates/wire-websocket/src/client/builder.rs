//! [`ClientBuilder`]: an [`AsyncWebSocketClient`] with a shared document or options.

use wiredb::yrs::Doc;

use super::{AsyncWebSocketClient, ClientConfig};
use crate::error::Result;

/// Builds an [`AsyncWebSocketClient`]; from [`AsyncWebSocketClient::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `connect().await`"]
pub struct ClientBuilder {
    url: String,
    doc: Option<Doc>,
    config: ClientConfig,
}

impl ClientBuilder {
    pub(super) fn new(url: String) -> Self {
        ClientBuilder {
            url,
            doc: None,
            config: ClientConfig::default(),
        }
    }

    /// Syncs `doc` (shared with other providers: a file client makes a persisted
    /// replica, a room an upstream link) instead of a new document.
    pub fn doc(mut self, doc: Doc) -> Self {
        self.doc = Some(doc);
        self
    }

    /// The client's options (default [`ClientConfig::default`]).
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// Connects: see [`AsyncWebSocketClient::connect`] for the errors.
    pub async fn connect(self) -> Result<AsyncWebSocketClient> {
        AsyncWebSocketClient::start(self.url, self.doc, self.config).await
    }
}
