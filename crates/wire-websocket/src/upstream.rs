//! [`Upstream`]: room hooks that make every room of a server a client of the same room
//! on another server, so that clients of several edge servers share one hub.

use wiredb::{BoxFuture, Room, RoomClients, RoomHooks};

use crate::client::{AsyncWebSocketClient, ClientConfig};

/// Room hooks connecting each room to the room of the same id at an upstream server
/// (`{base_url}/{room id}`), as Python wiredb's `test_multiple_servers`. The room's
/// document is the client's document: edits from local peers go up, edits from the
/// hub come down to the local peers.
///
/// Opening a room waits until the upstream room is synced, so the first local client
/// already gets the hub's content; a hub that is unreachable, or not synced within the
/// client's `connect_timeout`, fails the open (the joining client is disconnected with
/// the error). Later drops reconnect with the client's backoff; a 4xx refusal of a
/// reconnection or a 1009 close ends the upstream link for good. Combine with other hooks as a tuple: `(AsyncFileServer::new(dir), Upstream::new(..))`.
///
/// ```
/// use wire_websocket::{AsyncWebSocketServer, ClientConfig, Upstream};
///
/// let edge = AsyncWebSocketServer::with_hooks(Upstream::new("ws://hub.example:8000", ClientConfig::default()));
/// # drop(edge);
/// ```
pub struct Upstream {
    base_url: String,
    config: ClientConfig,
    clients: RoomClients<AsyncWebSocketClient>,
}

impl Upstream {
    /// Upstream rooms at `base_url` (`ws://host:port`, or with a path prefix), joined
    /// with `config`.
    pub fn new(base_url: &str, config: ClientConfig) -> Self {
        Upstream {
            base_url: base_url.trim_end_matches('/').to_owned(),
            config,
            clients: RoomClients::new(),
        }
    }

    /// The URL of the upstream room for room `id`.
    pub fn room_url(&self, id: &str) -> String {
        format!("{}/{id}", self.base_url)
    }
}

impl RoomHooks for Upstream {
    fn on_open<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        Box::pin(async move {
            let url = self.room_url(room.id());
            let client = AsyncWebSocketClient::builder(&url)
                .doc(room.doc().clone())
                .config(self.config.clone())
                .connect()
                .await
                .map_err(wiredb::Error::hook)?;
            // The client retries a hub that accepts and then drops it; the open must
            // not wait for it forever (every joiner of the room waits on the open).
            let limit = self.config.connect_timeout;
            let closing = room.closing();
            let synced = tokio::select! {
                synced = tokio::time::timeout(limit, client.synced()) => match synced {
                    Ok(synced) => synced.map_err(wiredb::Error::hook),
                    Err(_) => Err(wiredb::Error::hook(format!("{url}: not synced within {limit:?}"))),
                },
                () = closing.cancelled() => Err(wiredb::Error::RoomClosing),
            };
            if let Err(error) = synced {
                let _ = client.close().await;
                return Err(error);
            }
            tracing::info!(room = room.id(), %url, "room connected upstream");
            self.clients.attach(room, client);
            Ok(())
        })
    }

    fn on_close<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        Box::pin(async move {
            if let Some(client) = self.clients.detach(room) {
                client.close().await.map_err(wiredb::Error::hook)?;
            }
            Ok(())
        })
    }
}
