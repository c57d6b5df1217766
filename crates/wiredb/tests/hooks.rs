//! Rooms, hooks and providers at the edges: a room still opening when shutdown
//! begins, a list of hooks of which one fails to open, a peer whose serving future is
//! dropped, a provider closing while its peer takes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wiredb::MemoryChannel;
use wiredb::{
    BoxFuture, Error, ManagerConfig, Provider, ProviderConfig, Room, RoomConfig, RoomHooks,
    RoomManager,
};
use yrs::{Doc, Text, Transact};

#[derive(Default)]
struct Counts {
    opened: AtomicUsize,
    closed: AtomicUsize,
}

/// Counts opens and closes; opening takes `open_delay` and fails if `fail` is set.
struct Hook {
    counts: Arc<Counts>,
    open_delay: Duration,
    fail: bool,
}

impl Hook {
    fn counted(open_delay: Duration, fail: bool) -> (Arc<Counts>, Arc<dyn RoomHooks>) {
        let counts = Arc::new(Counts::default());
        let hook = Hook {
            counts: counts.clone(),
            open_delay,
            fail,
        };
        (counts, Arc::new(hook))
    }
}

impl RoomHooks for Hook {
    fn on_open<'a>(&'a self, _room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        Box::pin(async move {
            tokio::time::sleep(self.open_delay).await;
            if self.fail {
                return Err(Error::hook("upstream unreachable"));
            }
            self.counts.opened.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    }

    fn on_close<'a>(&'a self, _room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        self.counts.closed.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_while_a_room_opens_still_closes_it() {
    let (counts, hook) = Hook::counted(Duration::from_secs(1), false);
    let manager = RoomManager::with_shared_hooks(hook, ManagerConfig::default());
    let joining = {
        let manager = manager.clone();
        tokio::spawn(async move { manager.join("slow").await })
    };
    // Let the join reach the hook, then shut down while it is still opening.
    tokio::time::sleep(Duration::from_millis(100)).await;
    manager.shutdown().await.unwrap();
    assert_eq!(counts.opened.load(Ordering::SeqCst), 1);
    assert_eq!(
        counts.closed.load(Ordering::SeqCst),
        1,
        "the opening room was never closed"
    );
    // The joiner got the room, already closing (or was refused): either way no
    // room is left behind.
    let lease = joining.await.unwrap();
    if let Ok(lease) = lease {
        assert!(lease.room().is_closing());
    }
    assert_eq!(manager.room_count(), 0);
    assert!(matches!(
        manager.join("late").await,
        Err(Error::RoomClosing)
    ));
}

#[tokio::test(start_paused = true)]
async fn a_failing_hook_undoes_the_hooks_opened_before_it() {
    let (first, first_hook) = Hook::counted(Duration::ZERO, false);
    let (second, second_hook) = Hook::counted(Duration::ZERO, false);
    let (_, failing) = Hook::counted(Duration::ZERO, true);
    let hooks: Vec<Arc<dyn RoomHooks>> = vec![first_hook, second_hook, failing];
    let manager = RoomManager::new(hooks, ManagerConfig::default());
    let joined = manager.join("doomed").await;
    assert!(
        matches!(joined, Err(Error::Hook(_))),
        "the failing hook's error is returned"
    );
    for counts in [&first, &second] {
        assert_eq!(counts.opened.load(Ordering::SeqCst), 1);
        assert_eq!(
            counts.closed.load(Ordering::SeqCst),
            1,
            "an opened hook was not undone"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_peer_whose_serving_is_cancelled_leaves_the_room() {
    let room = Room::new("r", RoomConfig::default());
    let (server_end, _client_end) = MemoryChannel::pair("server", "client");
    // A caller's timeout drops the serving future mid-way.
    let served = tokio::time::timeout(Duration::from_millis(50), room.serve(server_end)).await;
    assert!(
        served.is_err(),
        "the peer never sent anything, so serving cannot end by itself"
    );
    assert_eq!(
        room.peer_count(),
        0,
        "the cancelled peer is still in the fan-out"
    );
}

#[tokio::test(start_paused = true)]
async fn closing_a_provider_whose_peer_takes_nothing_still_ends() {
    // Room for one frame, and the other end is never read.
    let (client_end, _stalled_peer) = MemoryChannel::pair_with_capacity("client", "peer", 1);
    let doc = Doc::new();
    let provider = Provider::spawn(doc.clone(), client_end, ProviderConfig::default());
    let text = doc.get_or_insert_text("text");
    for _ in 0..10 {
        text.push(&mut doc.transact_mut(), "x");
    }
    let closed = tokio::time::timeout(Duration::from_secs(60), provider.close()).await;
    assert!(
        closed.is_ok(),
        "close waited forever for a peer that does not read"
    );
}

/// Fails to close the rooms whose id starts with "bad".
struct FailingClose;

impl RoomHooks for FailingClose {
    fn on_close<'a>(&'a self, room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        Box::pin(async move {
            if room.id().starts_with("bad") {
                return Err(Error::hook("disk full"));
            }
            Ok(())
        })
    }
}

#[tokio::test]
async fn shutdown_reports_the_rooms_whose_close_failed_and_closes_the_rest() {
    let manager = RoomManager::new(FailingClose, ManagerConfig::default());
    let leases = [
        manager.join("bad-1").await.unwrap(),
        manager.join("good").await.unwrap(),
        manager.join("bad-2").await.unwrap(),
    ];
    let shut = manager.shutdown().await;
    match &shut {
        Err(Error::CloseFailed { failures }) => {
            let rooms: Vec<&str> = failures.iter().map(|(id, _)| id.as_str()).collect();
            assert_eq!(rooms, ["bad-1", "bad-2"]);
        }
        other => panic!("expected CloseFailed, got {other:?}"),
    }
    let message = shut.unwrap_err().to_string();
    assert!(
        message.contains("disk full") && message.contains("bad-2"),
        "{message}"
    );
    assert_eq!(manager.room_count(), 0);
    drop(leases);
    // Idempotent: nothing left to report.
    manager.shutdown().await.unwrap();
}

/// Records the order in which hooks open and close.
struct Ordered {
    name: &'static str,
    log: Arc<std::sync::Mutex<Vec<String>>>,
    fail: bool,
}

impl RoomHooks for Ordered {
    fn on_open<'a>(&'a self, _room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        Box::pin(async move {
            self.log.lock().unwrap().push(format!("open {}", self.name));
            if self.fail {
                return Err(Error::hook("refused"));
            }
            Ok(())
        })
    }

    fn on_close<'a>(&'a self, _room: &'a Room) -> BoxFuture<'a, wiredb::Result<()>> {
        Box::pin(async move {
            self.log
                .lock()
                .unwrap()
                .push(format!("close {}", self.name));
            Ok(())
        })
    }
}

#[tokio::test]
async fn hooks_compose_as_a_tuple_in_order_and_undo_a_failed_open() {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook = |name, fail| Ordered {
        name,
        log: log.clone(),
        fail,
    };
    let manager = RoomManager::new(
        (hook("files", false), hook("upstream", false)),
        ManagerConfig::default(),
    );
    let lease = manager.join("r").await.unwrap();
    drop(lease);
    manager.shutdown().await.unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [
            "open files",
            "open upstream",
            "close upstream",
            "close files"
        ]
    );

    log.lock().unwrap().clear();
    let manager = RoomManager::new(
        (hook("a", false), hook("b", false), hook("c", true)),
        ManagerConfig::default(),
    );
    assert!(manager.join("r").await.is_err());
    assert_eq!(
        *log.lock().unwrap(),
        ["open a", "open b", "open c", "close b", "close a"],
        "the failed open undoes the ones before it, in reverse"
    );
    manager.shutdown().await.unwrap();
}
