//! AsyncFileServer as the hooks of an in-memory server (RoomManager + memory
//! channels + providers): rooms survive closing and server restarts, and
//! every room id, however hostile, gets its own file inside the directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{file_text, map, map_of, push_text, records, set, text};
use wire_file::{AsyncFileClient, AsyncFileServer, FileClientConfig};
use wiredb::MemoryChannel;
use wiredb::yrs::Doc;
use wiredb::{ManagerConfig, Provider, ProviderConfig, RoomHooks, RoomManager};

fn server(hooks: &Arc<AsyncFileServer>) -> RoomManager {
    RoomManager::with_shared_hooks(
        hooks.clone() as Arc<dyn RoomHooks>,
        ManagerConfig::default(),
    )
}

/// A client connected to room `id` over an in-memory channel.
async fn connect(server: &RoomManager, id: &str) -> Provider {
    let (server_end, client_end) = MemoryChannel::pair("server", "client");
    let manager = server.clone();
    let id = id.to_owned();
    tokio::spawn(async move { manager.serve(&id, server_end, Default::default()).await });
    let provider = Provider::spawn(Doc::new(), client_end, ProviderConfig::default());
    provider.synced().await.unwrap();
    provider
}

/// Waits until `provider`'s doc has `want` as its text.
async fn wait_text(provider: &Provider, want: &str) {
    loop {
        // Subscribe before looking, so that no change slips in between.
        let change = provider.next_remote_change();
        if text(provider.doc()) == want {
            return;
        }
        change.await;
    }
}

/// Waits until the manager has closed every room (their files flushed).
async fn rooms_closed(server: &RoomManager) {
    // Polling, not timing: the bound only turns a hang into a failure.
    for _ in 0..2_000 {
        if server.room_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("rooms still open: {:?}", server.room_ids());
}

#[tokio::test]
async fn edits_survive_closing_and_reopening_the_room() {
    let dir = tempfile::tempdir().unwrap();
    let files = Arc::new(AsyncFileServer::new(dir.path()));
    let server = server(&files);

    let alice = connect(&server, "notes").await;
    let bob = connect(&server, "notes").await;
    push_text(alice.doc(), "hello");
    set(alice.doc(), "by", "alice");
    // Bob sees it live, through the room.
    wait_text(&bob, "hello").await;
    alice.close().await.unwrap();
    bob.close().await.unwrap();
    rooms_closed(&server).await;

    let path = files.path_for("notes");
    assert_eq!(path, dir.path().join("notes_updates.y"));
    assert_eq!(file_text(&path), "hello");

    // A new room, loaded from the file.
    let carol = connect(&server, "notes").await;
    assert_eq!(text(carol.doc()), "hello");
    assert_eq!(map(carol.doc()), map_of(&[("by", "alice")]));
    let stats = files.stats("notes").unwrap();
    assert_eq!(stats.loaded_records, records(&path).len());
    assert_eq!(
        stats.records_appended, 0,
        "loading wrote nothing: {stats:?}"
    );
    push_text(carol.doc(), " again");
    carol.close().await.unwrap();
    rooms_closed(&server).await;
    assert_eq!(file_text(&path), "hello again");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn edits_survive_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    // A long sync interval: only the shutdown can have synced the file.
    let config = FileClientConfig::default()
        .sync_interval(Duration::from_secs(3600))
        .squash_on_close(true);
    let files = Arc::new(AsyncFileServer::with_config(dir.path(), config));
    let first = server(&files);
    let alice = connect(&first, "doc").await;
    let probe = connect(&first, "doc").await;
    push_text(alice.doc(), "one ");
    push_text(alice.doc(), "two");
    // Wait until the room has the edits, then stop the server under the clients.
    wait_text(&probe, "one two").await;
    // Relayed, so written: each edit is in the file before another client sees it.
    assert_eq!(
        records(&files.path_for("doc")).len(),
        2,
        "written before relayed"
    );
    first.shutdown().await.unwrap();
    assert_eq!(
        records(&files.path_for("doc")).len(),
        1,
        "squashed on close"
    );
    drop((alice, probe));

    let files = Arc::new(AsyncFileServer::new(dir.path()));
    let second = server(&files);
    let bob = connect(&second, "doc").await;
    assert_eq!(text(bob.doc()), "one two");
    bob.close().await.unwrap();
    second.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_room_id_gets_its_own_file_inside_the_directory() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("rooms"); // created by the first room
    let long = "long/".repeat(2_048); // 10 KB
    let ids = [
        "../x",
        "/etc/x",
        "a/b",
        "..",
        ".",
        "",
        "nul\0byte",
        long.as_str(),
        "日本語 ✓",
        "_",
        "%2E",
    ];
    let files = Arc::new(AsyncFileServer::new(&dir));
    let first = server(&files);
    for (n, id) in ids.iter().enumerate() {
        let lease = first.join(id).await.unwrap();
        push_text(lease.room().doc(), &format!("room {n}"));
    }
    first.shutdown().await.unwrap();

    // Nothing outside the directory, one plain file per id inside it.
    let outside: Vec<_> = std::fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, ["rooms"]);
    let mut inside: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let entry = e.unwrap();
            assert!(entry.file_type().unwrap().is_file());
            entry.file_name().into_string().unwrap()
        })
        .collect();
    inside.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| wire_file::room_file_name(id)).collect();
    expected.sort();
    assert_eq!(inside, expected);
    for name in &inside {
        assert!(name.len() < 255 && !name.starts_with('.'), "{name}");
    }

    // Each id reads back its own content after a restart.
    let files = Arc::new(AsyncFileServer::new(&dir));
    let second = server(&files);
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(files.path_for(id).parent(), Some(dir.as_path()));
        let lease = second.join(id).await.unwrap();
        assert_eq!(text(lease.room().doc()), format!("room {n}"), "id {id:?}");
    }
    second.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_room_whose_file_is_locked_fails_to_open_until_it_is_free() {
    let dir = tempfile::tempdir().unwrap();
    let files = Arc::new(AsyncFileServer::new(dir.path()));
    let server = server(&files);
    std::fs::create_dir_all(dir.path()).unwrap();
    let holder = AsyncFileClient::open(files.path_for("busy")).await.unwrap();
    push_text(holder.doc(), "held elsewhere");

    let Err(err) = server.join("busy").await else {
        panic!("a locked file must keep the room closed");
    };
    assert!(err.to_string().contains("locked"), "{err}");
    rooms_closed(&server).await;

    holder.close().await.unwrap();
    let lease = server.join("busy").await.unwrap();
    assert_eq!(text(lease.room().doc()), "held elsewhere");
    drop(lease);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_foreign_file_keeps_its_room_closed_and_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let files = Arc::new(AsyncFileServer::new(dir.path()));
    let server = server(&files);
    let path = files.path_for("old");
    std::fs::write(&path, b"9.9.9\0whatever").unwrap();
    let Err(err) = server.join("old").await else {
        panic!("a foreign file must keep the room closed");
    };
    let message = err.to_string();
    assert!(
        message.contains("9.9.9") && message.contains("0.0.1"),
        "{message}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"9.9.9\0whatever");
    // Other rooms are not affected.
    let lease = server.join("new").await.unwrap();
    push_text(lease.room().doc(), "fine");
    drop(lease);
    server.shutdown().await.unwrap();
    assert_eq!(file_text(Path::new(&files.path_for("new"))), "fine");
}

#[tokio::test]
async fn joining_and_leaving_without_an_edit_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = Arc::new(AsyncFileServer::new(dir.path()));
    let manager = server(&files);
    for n in 0..50 {
        let visitor = connect(&manager, &format!("crawled-{n}")).await;
        visitor.close().await.unwrap();
    }
    let writer = connect(&manager, "kept").await;
    push_text(writer.doc(), "an edit");
    writer.close().await.unwrap();
    manager.shutdown().await.unwrap();
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [wire_file::room_file_name("kept")]);

    // A file that was there before is never removed, even with nothing in it.
    let empty = files.path_for("empty-but-there");
    std::fs::write(&empty, wire_file::encode_header()).unwrap();
    let manager = server(&files);
    let visitor = connect(&manager, "empty-but-there").await;
    visitor.close().await.unwrap();
    manager.shutdown().await.unwrap();
    assert!(empty.exists());
}

/// Fails its first open, as an unreachable upstream would.
struct FailsOnce(std::sync::atomic::AtomicBool);

impl RoomHooks for FailsOnce {
    fn on_open<'a>(&'a self, _room: &'a wiredb::Room) -> wiredb::BoxFuture<'a, wiredb::Result<()>> {
        let first = !self.0.swap(true, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move {
            if first {
                return Err(wiredb::Error::hook("upstream unreachable"));
            }
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_room_whose_open_failed_after_its_file_opened_can_open_again() {
    let dir = tempfile::tempdir().unwrap();
    let manager = RoomManager::new(
        (
            AsyncFileServer::new(dir.path()),
            FailsOnce(std::sync::atomic::AtomicBool::new(false)),
        ),
        ManagerConfig::default(),
    );
    assert!(manager.join("doc").await.is_err(), "the first open fails");
    // The file opened and its group commit started before the other hook failed:
    // neither may keep the file's lock.
    let lease = manager
        .join("doc")
        .await
        .expect("the second open is not Locked");
    push_text(lease.room().doc(), "kept");
    drop(lease);
    manager.shutdown().await.unwrap();
    assert_eq!(file_text(&wire_file::room_path(dir.path(), "doc")), "kept");
}

/// A room opens from a squashed file (one record, applied to the room's doc as it
/// is) as from a log of many records (replayed apart, then applied at once), and a
/// joining client gets the same document from either. A single record yrs rejects
/// keeps the room closed, names the file, and leaves it as it was.
#[tokio::test]
async fn rooms_open_from_squashed_files_and_logs_alike() {
    use wire_file::{Durability, UpdateLog};
    use wiredb::yrs::{ReadTxn, StateVector, Text, Transact};

    let dir = tempfile::tempdir().unwrap();
    let files = Arc::new(AsyncFileServer::new(dir.path()));
    let author = Doc::new();
    let typed = author.get_or_insert_text("text");
    let mut updates = Vec::new();
    for word in ["one ", "two ", "three"] {
        let before = author.transact().state_vector();
        typed.push(&mut author.transact_mut(), word);
        updates.push(author.transact().encode_diff_v1(&before));
    }
    let whole = author
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    for (room, records) in [("log", updates.clone()), ("squashed", vec![whole])] {
        let (mut log, _) = UpdateLog::open(files.path_for(room), Durability::None).unwrap();
        log.append(&records).unwrap();
    }
    let broken = files.path_for("broken");
    {
        let (mut log, _) = UpdateLog::open(&broken, Durability::None).unwrap();
        log.append(&[vec![0xff, 0xff, 0xff]]).unwrap();
    }
    let broken_bytes = std::fs::read(&broken).unwrap();

    let server = server(&files);
    for room in ["log", "squashed"] {
        let client = connect(&server, room).await;
        wait_text(&client, "one two three").await;
        client.close().await.unwrap();
    }
    let Err(err) = server.join("broken").await else {
        panic!("a record yrs rejects must keep the room closed");
    };
    assert!(err.to_string().contains("broken"), "{err}");
    assert_eq!(std::fs::read(&broken).unwrap(), broken_bytes);
    server.shutdown().await.unwrap();
}

/// Group commit syncs every open room's file within the interval, while the rooms
/// stay open; once every room has closed (the committer's task ends) a room opened
/// later is synced again; and with a zero interval every append syncs itself.
#[tokio::test]
async fn group_commit_syncs_every_room_and_restarts_after_all_closed() {
    let dir = tempfile::tempdir().unwrap();
    let config = FileClientConfig::default().sync_interval(Duration::from_millis(20));
    let files = Arc::new(AsyncFileServer::with_config(dir.path(), config));
    let server = server(&files);
    let synced = |id: &str| files.stats(id).map_or(0, |stats| stats.synced_appends);
    let edit_and_wait_synced = |rooms: Vec<&'static str>| {
        let (server, files) = (server.clone(), files.clone());
        async move {
            let mut leases = Vec::new();
            for room in &rooms {
                let lease = server.join(room).await.unwrap();
                push_text(lease.room().doc(), "x");
                leases.push(lease);
            }
            for _ in 0..2_000 {
                if rooms
                    .iter()
                    .all(|room| files.stats(room).is_some_and(|s| s.synced_appends > 0))
                {
                    return leases;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            panic!(
                "not synced: {:?}",
                rooms.iter().map(|r| files.stats(r)).collect::<Vec<_>>()
            );
        }
    };
    let leases = edit_and_wait_synced(vec!["one", "two"]).await;
    assert!(synced("one") > 0 && synced("two") > 0);
    drop(leases);
    rooms_closed(&server).await;
    let leases = edit_and_wait_synced(vec!["three"]).await;
    drop(leases);
    server.shutdown().await.unwrap();

    let strict = Arc::new(AsyncFileServer::with_config(
        dir.path().join("strict"),
        FileClientConfig::default().sync_interval(Duration::ZERO),
    ));
    let server = self::server(&strict);
    let lease = server.join("each").await.unwrap();
    for _ in 0..3 {
        push_text(lease.room().doc(), "y");
    }
    let stats = strict.stats("each").unwrap();
    assert_eq!((stats.appends, stats.synced_appends), (3, 3), "{stats:?}");
    drop(lease);
    server.shutdown().await.unwrap();
}
