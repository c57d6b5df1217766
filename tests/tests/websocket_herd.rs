//! The herd: many real WebSocket clients join one new room at the same moment.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wire_websocket::{AsyncWebSocketClient, AsyncWebSocketServer};
use wiredb::{BoxFuture, Room, RoomHooks};
use wiredb_tests::{PATIENCE, eventually, push_text, text_of, within};

const CLIENTS: usize = 500;

struct CountOpens(Arc<AtomicUsize>);

impl RoomHooks for CountOpens {
    fn on_open<'a>(&'a self, _room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        // Slow open: every joiner arrives while the room is still opening.
        Box::pin(async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_clients_join_one_new_room_at_once() {
    let opens = Arc::new(AtomicUsize::new(0));
    let server = AsyncWebSocketServer::with_hooks(CountOpens(opens.clone()))
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let url = format!("{}/herd", server.url());
    let joins = (0..CLIENTS).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let client = AsyncWebSocketClient::connect(&url).await.unwrap();
            client.synced().await.unwrap();
            client
        })
    });
    let mut clients = Vec::new();
    for join in joins {
        clients.push(within(join).await.unwrap());
    }
    assert_eq!(opens.load(Ordering::SeqCst), 1, "the room was opened once");
    assert_eq!(server.server().manager().room_count(), 1);
    let room = server.server().manager().room("herd").unwrap();
    assert_eq!(room.peer_count(), CLIENTS);

    // And the room works for all of them.
    push_text(clients[0].doc(), "to everyone");
    eventually("every client has the edit", || {
        clients.iter().all(|c| text_of(c.doc()) == "to everyone")
    })
    .await;
    for (i, client) in clients.iter().enumerate() {
        tokio::time::timeout(PATIENCE, client.close())
            .await
            .unwrap_or_else(|_| panic!("client {i} did not close"))
            .unwrap();
    }
    tokio::time::timeout(PATIENCE, server.shutdown())
        .await
        .expect("server shutdown hung")
        .unwrap();
}
