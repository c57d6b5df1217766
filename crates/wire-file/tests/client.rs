//! AsyncFileClient against real files: replay, append, batching, squash,
//! locking, refusal of foreign files and repair of torn ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{file_text, map, map_of, push_text, records, set, text};
use wire_file::{AsyncFileClient, Durability, Error, FileClientConfig};
use wiredb::MemoryChannel;
use wiredb::yrs::Doc;
use wiredb::{Provider, ProviderConfig, Room, RoomConfig};

const MS: Duration = Duration::from_millis(1);

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("doc_updates.y");
    (dir, path)
}

async fn open(path: &Path) -> AsyncFileClient {
    AsyncFileClient::open(path).await.unwrap()
}

/// One session: open, apply `edit` to the doc, close.
async fn session(path: &Path, config: FileClientConfig, edit: impl FnOnce(&Doc)) {
    let client = AsyncFileClient::builder(path)
        .config(config)
        .open()
        .await
        .unwrap();
    edit(client.doc());
    client.close().await.unwrap();
}

#[tokio::test]
async fn replays_the_file_and_appends_each_change() {
    let (_dir, path) = setup();
    let client = open(&path).await;
    assert_eq!(client.stats().loaded_records, 0);
    push_text(client.doc(), "hello");
    client.close().await.unwrap();
    assert_eq!(records(&path).len(), 1);

    let client = open(&path).await;
    assert_eq!(text(client.doc()), "hello");
    assert_eq!(client.stats().loaded_records, 1);
    push_text(client.doc(), " world");
    set(client.doc(), "a", "1");
    client.close().await.unwrap();
    let stats = client.stats();
    assert_eq!(stats.records_appended, 2, "{stats:?}");
    assert_eq!(stats.records, 3, "{stats:?}");
    assert_eq!(stats.file_len, std::fs::metadata(&path).unwrap().len());

    // Read independently of the client.
    assert_eq!(records(&path).len(), 3);
    assert_eq!(file_text(&path), "hello world");
    let client = open(&path).await;
    assert_eq!(text(client.doc()), "hello world");
    assert_eq!(map(client.doc()), map_of(&[("a", "1")]));
    client.close().await.unwrap();
}

#[tokio::test]
async fn what_was_loaded_is_not_written_again() {
    let (_dir, path) = setup();
    for word in ["a", "b", "c"] {
        session(&path, FileClientConfig::default(), |doc| {
            push_text(doc, word)
        })
        .await;
    }
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(records(&path).len(), 3);

    // A fresh doc, no edits.
    let client = open(&path).await;
    assert_eq!(text(client.doc()), "abc");
    client.close().await.unwrap();
    assert_eq!(client.stats().records_appended, 0);

    // A doc with content of its own; then the same doc again, which by then
    // holds the file's content.
    let doc = Doc::new();
    set(&doc, "x", "1");
    let first = AsyncFileClient::builder(&path)
        .doc(doc.clone())
        .open()
        .await
        .unwrap();
    first.close().await.unwrap();
    assert_eq!(first.stats().records_appended, 1, "its own content, once");
    let bytes_with_x = std::fs::read(&path).unwrap();
    let again = AsyncFileClient::builder(&path)
        .doc(doc.clone())
        .open()
        .await
        .unwrap();
    again.close().await.unwrap();
    assert_eq!(again.stats().records_appended, 0);
    assert_eq!(std::fs::read(&path).unwrap(), bytes_with_x);
    assert!(bytes_with_x.starts_with(&bytes));

    // Loaded later, through pull().
    let client = AsyncFileClient::builder(&path)
        .config(FileClientConfig::default().provider(ProviderConfig::default().auto_pull(false)))
        .open()
        .await
        .unwrap();
    assert_eq!(client.pull().unwrap(), 1);
    assert_eq!(text(client.doc()), "abc");
    assert_eq!(map(client.doc()), map_of(&[("x", "1")]));
    client.close().await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes_with_x);
}

#[tokio::test]
async fn what_the_doc_held_before_is_persisted_once() {
    let (_dir, path) = setup();
    let doc = Doc::new();
    push_text(&doc, "before");
    set(&doc, "k", "v");
    let client = AsyncFileClient::builder(&path)
        .doc(doc)
        .open()
        .await
        .unwrap();
    push_text(client.doc(), " after");
    client.close().await.unwrap();
    // The handshake sends the whole prior state as one update.
    assert_eq!(records(&path).len(), 2);
    let client = open(&path).await;
    assert_eq!(text(client.doc()), "before after");
    assert_eq!(map(client.doc()), map_of(&[("k", "v")]));
    client.close().await.unwrap();
}

/// A file client and a network provider on one doc make a persisted replica:
/// what arrives over the network is written, what the file holds goes out.
#[tokio::test]
async fn changes_from_another_provider_on_the_doc_are_persisted() {
    let (_dir, path) = setup();
    session(&path, FileClientConfig::default(), |doc| {
        push_text(doc, "from the file; ")
    })
    .await;

    let room = Room::new("r", RoomConfig::default());
    let mut providers = Vec::new();
    for name in ["replica", "remote"] {
        let (server_end, client_end) = MemoryChannel::pair("server", name);
        let room = room.clone();
        tokio::spawn(async move { room.serve(server_end).await });
        let doc = Doc::new();
        let provider = Provider::spawn(doc.clone(), client_end, ProviderConfig::default());
        provider.synced().await.unwrap();
        providers.push((doc, provider));
    }
    let (replica_doc, _replica) = &providers[0];
    let (remote_doc, remote) = &providers[1];

    // The file's content reaches the remote peer through the replica's provider.
    let arrived = remote.next_remote_change();
    let file = AsyncFileClient::builder(&path)
        .doc(replica_doc.clone())
        .open()
        .await
        .unwrap();
    arrived.await;
    assert_eq!(text(remote_doc), "from the file; ");

    // The remote peer's edits reach the file through the replica's doc.
    let mut stats = file.watch_stats();
    push_text(remote_doc, "from the network");
    set(remote_doc, "who", "remote");
    stats.wait_for(|s| s.records_appended == 2).await.unwrap();
    file.close().await.unwrap();

    assert_eq!(records(&path).len(), 3);
    let reopened = open(&path).await;
    assert_eq!(text(reopened.doc()), "from the file; from the network");
    assert_eq!(map(reopened.doc()), map_of(&[("who", "remote")]));
    reopened.close().await.unwrap();
}

#[tokio::test]
async fn with_auto_push_off_changes_wait_for_push() {
    let (_dir, path) = setup();
    let config = FileClientConfig::default().provider(ProviderConfig::default().auto_push(false));
    let client = AsyncFileClient::builder(&path)
        .config(config.clone())
        .open()
        .await
        .unwrap();
    push_text(client.doc(), "one ");
    push_text(client.doc(), "two ");
    assert_eq!(client.held_local_count(), 2);
    let mut stats = client.watch_stats();
    assert_eq!(client.push().unwrap(), 2);
    assert_eq!(client.held_local_count(), 0);
    stats.wait_for(|s| s.records_appended == 1).await.unwrap();

    push_text(client.doc(), "never pushed");
    assert_eq!(client.held_local_count(), 1);
    client.close().await.unwrap();
    assert_eq!(
        client.stats().records_appended,
        1,
        "held changes are not written"
    );
    assert_eq!(
        records(&path).len(),
        1,
        "two changes merged into one record"
    );
    assert_eq!(file_text(&path), "one two ");

    // set_auto_push(true) sends what comes next.
    let client = AsyncFileClient::builder(&path)
        .config(config)
        .open()
        .await
        .unwrap();
    client.set_auto_push(true);
    push_text(client.doc(), "three");
    client.close().await.unwrap();
    assert_eq!(file_text(&path), "one two three");
}

#[tokio::test]
async fn with_auto_pull_off_the_file_waits_for_pull() {
    let (_dir, path) = setup();
    session(&path, FileClientConfig::default(), |doc| {
        push_text(doc, "stored")
    })
    .await;
    let client = AsyncFileClient::builder(&path)
        .config(FileClientConfig::default().provider(ProviderConfig::default().auto_pull(false)))
        .open()
        .await
        .unwrap();
    assert_eq!(text(client.doc()), "");
    assert_eq!(client.held_remote_count(), 1);
    assert_eq!(client.pull().unwrap(), 1);
    assert_eq!(text(client.doc()), "stored");
    client.close().await.unwrap();
    assert_eq!(records(&path).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn changes_within_write_delay_land_in_one_append() {
    let (_dir, path) = setup();
    let config = FileClientConfig::default()
        .write_delay(100 * MS)
        .max_write_wait(Duration::from_secs(60));
    let client = AsyncFileClient::builder(&path)
        .config(config)
        .open()
        .await
        .unwrap();
    for word in ["a", "b", "c", "d", "e"] {
        push_text(client.doc(), word);
        // Each change re-arms the delay: 60 ms < 100 ms.
        tokio::time::sleep(60 * MS).await;
        let stats = client.stats();
        assert_eq!(stats.appends, 0, "{stats:?}");
    }
    assert_eq!(client.stats().pending, 5);
    assert_eq!(records(&path).len(), 0);

    // 100 ms after the last change.
    tokio::time::sleep(50 * MS).await;
    let stats = client
        .watch_stats()
        .wait_for(|s| s.appends > 0)
        .await
        .unwrap()
        .clone();
    assert_eq!((stats.appends, stats.records_appended), (1, 5), "{stats:?}");
    assert_eq!(stats.pending, 0);
    assert_eq!(records(&path).len(), 5, "one record per change, one append");
    client.close().await.unwrap();
    assert_eq!(client.stats().appends, 1);
    assert_eq!(file_text(&path), "abcde");
}

#[tokio::test(start_paused = true)]
async fn a_busy_doc_is_still_written_within_max_write_wait() {
    let (_dir, path) = setup();
    let max_wait = 300 * MS;
    let config = FileClientConfig::default()
        .write_delay(100 * MS)
        .max_write_wait(max_wait);
    let client = AsyncFileClient::builder(&path)
        .config(config)
        .open()
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    // When each append landed, and how many records were written by then.
    let mut stats = client.watch_stats();
    let appends = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut last = 0;
        while stats.changed().await.is_ok() {
            let written = stats.borrow_and_update().records_appended;
            if written > last {
                seen.push((started.elapsed(), written));
                last = written;
            }
        }
        seen
    });
    // A change every 50 ms for a second: the delay alone would never expire.
    let mut pushed_at = Vec::new();
    for _ in 0..20 {
        push_text(client.doc(), "x");
        pushed_at.push(started.elapsed());
        tokio::time::sleep(50 * MS).await;
    }
    let before_close = client.stats().appends;
    client.close().await.unwrap();
    drop(client);
    let appends = appends.await.unwrap();
    // Batches were written while the edits went on, not only at close...
    assert!(before_close >= 3, "{appends:?}");
    // ...and no update waited longer than the maximum for its append.
    for (n, pushed) in pushed_at.iter().enumerate() {
        let (landed, _) = appends
            .iter()
            .find(|(_, written)| *written > n as u64)
            .unwrap_or_else(|| panic!("update {n} never appended: {appends:?}"));
        assert!(
            *landed - *pushed <= max_wait,
            "update {n} pushed at {pushed:?} landed at {landed:?}: {appends:?}"
        );
    }
    assert_eq!(records(&path).len(), 20);
}

#[tokio::test]
async fn close_writes_what_write_delay_holds() {
    let (_dir, path) = setup();
    let config = FileClientConfig::default()
        .write_delay(Duration::from_secs(3600))
        .max_write_wait(Duration::from_secs(3600));
    let client = AsyncFileClient::builder(&path)
        .config(config)
        .open()
        .await
        .unwrap();
    push_text(client.doc(), "kept ");
    set(client.doc(), "k", "v");
    push_text(client.doc(), "on close");
    client.close().await.unwrap();
    let stats = client.stats();
    assert_eq!((stats.appends, stats.records_appended), (1, 3), "{stats:?}");
    assert_eq!(file_text(&path), "kept on close");
    // Closing again is a no-op.
    client.close().await.unwrap();
}

/// A close() given up on by its caller (a timeout) does not stop the flush, and
/// the next close() waits for it rather than returning at once.
#[tokio::test]
async fn a_cancelled_close_still_flushes_and_the_next_close_waits_for_it() {
    let (_dir, path) = setup();
    let config = FileClientConfig::default().write_delay(Duration::from_secs(3600));
    let client = AsyncFileClient::builder(&path)
        .config(config)
        .open()
        .await
        .unwrap();
    push_text(client.doc(), "kept");
    // Polled once and dropped, as a caller's timeout would: deterministic, unlike a
    // zero timeout (whose timer may fire only after the close has finished).
    let gave_up = poll_once(client.close()).await;
    assert!(
        gave_up.is_none(),
        "the close was not cancelled: {gave_up:?}"
    );
    client.close().await.unwrap();
    assert_eq!(file_text(&path), "kept");
    client.close().await.unwrap();
}

#[tokio::test]
async fn a_dropped_client_still_writes_its_changes() {
    let (_dir, path) = setup();
    let config = FileClientConfig::default().write_delay(Duration::from_secs(3600));
    let client = AsyncFileClient::builder(&path)
        .config(config)
        .open()
        .await
        .unwrap();
    push_text(client.doc(), "dropped");
    drop(client);
    // The writer finishes in the background and releases the lock.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let reopened = loop {
        match AsyncFileClient::open(&path).await {
            Ok(client) => break client,
            Err(Error::Locked { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(5 * MS).await
            }
            Err(other) => panic!("{other}"),
        }
    };
    assert_eq!(text(reopened.doc()), "dropped");
    reopened.close().await.unwrap();
}

#[tokio::test]
async fn a_second_opener_is_told_the_file_is_locked() {
    let (_dir, path) = setup();
    let first = open(&path).await;
    let err = AsyncFileClient::open(&path).await.unwrap_err();
    assert!(
        matches!(&err, Error::Locked { path: p } if p == &path),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("locked"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    first.close().await.unwrap();
    open(&path).await.close().await.unwrap();
}

#[tokio::test]
async fn a_foreign_version_is_refused_and_left_untouched() {
    let (_dir, path) = setup();
    let mut bytes = b"0.0.2\0".to_vec();
    wire_file::encode_record(b"from another version", &mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    let doc = Doc::new();
    push_text(&doc, "must not be written");
    let err = AsyncFileClient::builder(&path)
        .doc(doc)
        .config(FileClientConfig::default().squash_on_open(true))
        .open()
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, Error::VersionMismatch { found, .. } if found == "0.0.2"),
        "{err:?}"
    );
    assert!(
        message.contains("\"0.0.1\"") && message.contains("\"0.0.2\""),
        "{message}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[tokio::test]
async fn a_record_yrs_rejects_is_refused_and_left_untouched() {
    let (_dir, path) = setup();
    session(&path, FileClientConfig::default(), |doc| {
        push_text(doc, "ok")
    })
    .await;
    let mut bytes = std::fs::read(&path).unwrap();
    wire_file::encode_record(&[0xff, 0xff, 0xff, 0x01], &mut bytes);
    let mut torn_too = bytes.clone();
    // Then a torn tail: the file must not be repaired before it is refused.
    torn_too.extend_from_slice(&[40, 1, 2, 3]);
    for content in [bytes, torn_too] {
        std::fs::write(&path, &content).unwrap();
        for config in [
            FileClientConfig::default(),
            FileClientConfig::default().squash_on_open(true),
        ] {
            let err = AsyncFileClient::builder(&path)
                .config(config)
                .open()
                .await
                .unwrap_err();
            assert!(
                matches!(&err, Error::Decode { index: 1, path: Some(p), .. } if p == &path),
                "{err:?}"
            );
            assert_eq!(std::fs::read(&path).unwrap(), content);
        }
    }
}

/// A crash in the middle of the last append, at every possible byte: the file
/// opens with every record before it, and is cut back to them.
#[tokio::test]
async fn a_file_cut_anywhere_in_its_last_record_opens_with_the_others() {
    let (dir, path) = setup();
    for word in ["one ", "two ", "three ", "four"] {
        session(&path, FileClientConfig::default(), |doc| {
            push_text(doc, word)
        })
        .await;
    }
    let bytes = std::fs::read(&path).unwrap();
    let parsed = wire_file::parse_log(&bytes).unwrap();
    let last = parsed.records.last().unwrap();
    // The last record starts at its length prefix (one byte: it is short).
    assert!(last.len() < 0x80);
    let last_start = bytes.len() - last.len() - 1;

    for cut in last_start..=bytes.len() {
        let torn = dir.path().join(format!("cut-{cut}_updates.y"));
        std::fs::write(&torn, &bytes[..cut]).unwrap();
        let client = AsyncFileClient::open(&torn).await.unwrap();
        let expected = if cut == bytes.len() {
            "one two three four"
        } else {
            "one two three "
        };
        assert_eq!(text(client.doc()), expected, "cut at {cut}");
        client.close().await.unwrap();
        let kept = if cut == bytes.len() { cut } else { last_start };
        assert_eq!(
            std::fs::read(&torn).unwrap(),
            &bytes[..kept],
            "cut at {cut}"
        );
    }
}

#[tokio::test]
async fn squash_on_open_on_close_and_on_request() {
    let (_dir, path) = setup();
    for word in ["a", "b", "c"] {
        session(&path, FileClientConfig::default(), |doc| {
            push_text(doc, word)
        })
        .await;
    }
    assert_eq!(records(&path).len(), 3);

    // On open: one record, same document.
    let client = AsyncFileClient::builder(&path)
        .config(FileClientConfig::default().squash_on_open(true))
        .open()
        .await
        .unwrap();
    assert_eq!(text(client.doc()), "abc");
    assert_eq!(records(&path).len(), 1);
    let stats = client.stats();
    assert_eq!(
        (stats.loaded_records, stats.records, stats.squashes),
        (3, 1, 1)
    );
    push_text(client.doc(), "d");
    client.close().await.unwrap();
    assert_eq!(records(&path).len(), 2);

    // On request, then appends go on.
    let client = open(&path).await;
    let mut stats = client.watch_stats();
    push_text(client.doc(), "e");
    // squash() covers what has reached the writer.
    stats.wait_for(|s| s.records_appended == 1).await.unwrap();
    let squashed = client.squash().await.unwrap();
    assert_eq!(
        squashed.bytes_after,
        std::fs::metadata(&path).unwrap().len()
    );
    assert_eq!(records(&path).len(), 1);
    push_text(client.doc(), "f");
    client.close().await.unwrap();
    assert_eq!(records(&path).len(), 2);
    assert!(matches!(
        client.squash().await,
        Err(Error::Core(wiredb::Error::ChannelClosed))
    ));

    // On close, with deletions: they survive, and the deleted text is gone.
    let client = AsyncFileClient::builder(&path)
        .config(FileClientConfig::default().squash_on_close(true))
        .open()
        .await
        .unwrap();
    {
        use wiredb::yrs::{Text, Transact};
        let text = client.doc().get_or_insert_text("text");
        text.remove_range(&mut client.doc().transact_mut(), 0, 2);
    }
    client.close().await.unwrap();
    assert_eq!(records(&path).len(), 1);
    assert_eq!(file_text(&path), "cdef");
    assert_eq!(client.stats().squashes, 1);
}

#[tokio::test]
async fn durability_settings_all_persist() {
    for durability in [Durability::None, Durability::Flush, Durability::Fsync] {
        let (_dir, path) = setup();
        let config = FileClientConfig::default().durability(durability);
        let client = AsyncFileClient::builder(&path)
            .config(config)
            .open()
            .await
            .unwrap();
        for word in ["x", "y", "z"] {
            let appends = client.stats().appends;
            push_text(client.doc(), word);
            let mut stats = client.watch_stats();
            tokio::time::timeout(
                Duration::from_secs(20),
                stats.wait_for(|s| s.appends > appends),
            )
            .await
            .expect("append in time")
            .unwrap();
        }
        client.close().await.unwrap();
        assert_eq!(file_text(&path), "xyz", "{durability:?}");
        let stats = client.stats();
        assert_eq!(stats.appends, 3, "{durability:?}: {stats:?}");
        // Fsync syncs each append; the others leave it to close().
        let synced = if durability == Durability::Fsync {
            3
        } else {
            0
        };
        assert_eq!(stats.synced_appends, synced, "{durability:?}: {stats:?}");
    }
}

#[tokio::test]
async fn a_missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope").join("doc_updates.y");
    let err = AsyncFileClient::open(&path).await.unwrap_err();
    assert!(
        matches!(&err, Error::Io { path: p, .. } if p == &path),
        "{err:?}"
    );
}

/// Polls `future` once: its output if it was ready at once, else `None` (and the
/// future is dropped, which cancels it).
async fn poll_once<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match future.as_mut().poll(cx) {
            std::task::Poll::Ready(output) => Some(output),
            std::task::Poll::Pending => None,
        })
    })
    .await
}
