//! A full disk, for real: a room's file on a small tmpfs. An update that cannot be
//! written is not relayed; the room closes its writers with the reason; they keep
//! their edits, and once the disk has room again they reconnect and everything
//! anyone saw, and everything anyone wrote, is in the file.
//!
//! Needs root (it mounts a tmpfs), as the test command runs in CI; it fails, loudly,
//! if the mount is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use wire_file::{AsyncFileServer, FileClientConfig};
use wire_websocket::{AsyncWebSocketServer, Backoff, ClientConfig};
use wiredb::yrs::updates::decoder::Decode;
use wiredb::yrs::{ReadTxn, StateVector, Transact};
use wiredb_tests::{connect_synced, eventually, push_text, text_of};

/// A tmpfs of `size` mounted on a temp dir, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "cannot mount a tmpfs (this test needs root): {status}"
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// The document a room file holds.
fn file_doc(dir: &Path, room: &str) -> wiredb::yrs::Doc {
    let bytes = std::fs::read(wire_file::room_path(dir, room)).unwrap();
    let parsed = wire_file::parse_log(&bytes).unwrap();
    wire_file::replay(&parsed.records).unwrap()
}

/// True when `doc` has everything `other` has.
fn covers(doc: &wiredb::yrs::Doc, other: &wiredb::yrs::Doc) -> bool {
    let theirs = other.transact().state_vector();
    let ours = doc.transact().state_vector();
    theirs
        .iter()
        .all(|(client, clock)| ours.get(client) >= *clock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_edits_relays_none_unwritten_and_resumes() {
    let disk = Tmpfs::mount("512k");
    let data: PathBuf = disk.path().join("rooms");
    // Fill the disk but for about 64 KiB.
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![0u8; 448 * 1024]).unwrap();
    let files = AsyncFileServer::with_config(&data, FileClientConfig::default());
    let server = AsyncWebSocketServer::with_hooks(files)
        .start("127.0.0.1", 0)
        .await
        .unwrap();
    let url = format!("{}/doc", server.url());
    let fast = ClientConfig::default().reconnect(Some(Backoff::default())); // 100 ms .. 2.5 s
    let writer = wire_websocket::AsyncWebSocketClient::builder(&url)
        .config(fast)
        .connect()
        .await
        .unwrap();
    writer.synced().await.unwrap();
    let observer = connect_synced(&url).await;

    // 40 edits of 4 KiB: about 160 KiB, more than the disk has left.
    for n in 0..40 {
        push_text(writer.doc(), &format!("{n:04}{}", "w".repeat(4092)));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eventually("the room's storage fails", || {
        server
            .server()
            .manager()
            .room("doc")
            .is_none_or(|room| room.storage_failure().is_some())
    })
    .await;
    // Whatever the observer saw is in the file: nothing unwritten was relayed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = wiredb::yrs::Doc::new();
    {
        let update = observer
            .doc()
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let update = wiredb::yrs::Update::decode_v1(&update).unwrap();
        seen.transact_mut().apply_update(update).unwrap();
    }
    assert!(
        text_of(&seen).len() < text_of(writer.doc()).len(),
        "the observer saw everything: the disk never filled"
    );

    // Room again on the disk: the writer, reconnecting, sends what it kept.
    std::fs::remove_file(&filler).unwrap();
    let want = text_of(writer.doc());
    eventually(
        "the observer gets every edit after the disk has room",
        || text_of(observer.doc()) == want,
    )
    .await;
    writer.close().await.unwrap();
    observer.close().await.unwrap();
    server.shutdown().await.unwrap();
    let stored = file_doc(&data, "doc");
    assert_eq!(text_of(&stored), want, "everything written is in the file");
    assert!(covers(&stored, &seen));
}
