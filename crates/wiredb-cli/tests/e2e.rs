//! The real `wiredb` binary end to end: `serve` on port 0 and a temp dir, edits from
//! our client and from a y-websocket client under Node, SIGTERM, the room file read
//! back with `inspect --json`, a restart that finds the document intact (`dump`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use wire_websocket::{AsyncWebSocketClient, ClientConfig};
use wiredb_tests::{PATIENCE, Peer, eventually, run_to_end, text_of};
use yrs::{Map, Text, Transact};

const WIREDB: &str = env!("CARGO_BIN_EXE_wiredb");

/// A `wiredb serve` process and the port it printed.
struct Server {
    child: tokio::process::Child,
    port: u16,
}

impl Server {
    async fn start(dir: &Path) -> Server {
        let mut child = tokio::process::Command::new(WIREDB)
            .args(["serve", "--port", "0", "--dir"])
            .arg(dir)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start wiredb serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(PATIENCE, stdout.next_line())
            .await
            .expect("wiredb serve printed nothing")
            .unwrap()
            .expect("wiredb serve exited");
        // "wiredb serving on ws://127.0.0.1:PORT/ROOM (rooms in DIR)"
        let port = line
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Server { child, port }
    }

    fn url(&self, room: &str) -> String {
        format!("ws://127.0.0.1:{}/{room}", self.port)
    }

    /// SIGTERM, then the exit status (which must be success).
    async fn terminate(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("wiredb serve did not stop on SIGTERM")
            .unwrap();
        assert!(status.success(), "wiredb serve exited with {status}");
    }
}

fn wiredb(args: &[&str]) -> Output {
    Command::new(WIREDB)
        .args(args)
        .output()
        .expect("run wiredb")
}

#[tokio::test]
async fn serve_persist_stop_inspect_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;

    let ours = AsyncWebSocketClient::connect(&server.url("e2e"), None, ClientConfig::default())
        .await
        .unwrap();
    ours.synced().await.unwrap();
    {
        let text = ours.doc().get_or_insert_text("text");
        text.push(&mut ours.doc().transact_mut(), "from rust;");
        let map = ours.doc().get_or_insert_map("map");
        map.insert(&mut ours.doc().transact_mut(), "lang", "rust");
    }
    let url = format!("ws://127.0.0.1:{}", server.port);
    let js = Peer::node(
        "js_client.js",
        &[
            "--url",
            &url,
            "--room",
            "e2e",
            "--text",
            "from js;",
            "--wait-text",
            "from rust;",
            "--hold",
            "0.3",
        ],
    );
    let last = run_to_end(js).await;
    assert!(
        last["text"].as_str().unwrap().contains("from rust;"),
        "{last}"
    );
    eventually("our client gets the js edit", || {
        text_of(ours.doc()).contains("from js;")
    })
    .await;
    ours.close().await.unwrap();
    server.terminate().await;

    let file = dir.path().join("e2e_updates.y");
    let inspected = wiredb(&["inspect", "--json", file.to_str().unwrap()]);
    assert!(
        inspected.status.success(),
        "{}",
        String::from_utf8_lossy(&inspected.stderr)
    );
    let report: Value = serde_json::from_slice(&inspected.stdout).unwrap();
    let text = report["roots"]["text"]["value"].as_str().unwrap();
    assert!(
        text.contains("from rust;") && text.contains("from js;"),
        "{report}"
    );
    assert_eq!(report["roots"]["text"]["type"], "Y.Text");
    assert_eq!(report["roots"]["map"]["value"]["lang"], "rust");
    assert_eq!(report["version"], "0.0.1");
    assert!(report["records"].as_u64().unwrap() >= 1);
    assert_eq!(report["clients"].as_array().unwrap().len(), 2, "{report}");

    // A restart finds the document as it was.
    let server = Server::start(dir.path()).await;
    let dumped = tokio::task::spawn_blocking({
        let url = server.url("e2e");
        move || wiredb(&["dump", "--json", &url])
    })
    .await
    .unwrap();
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let dump: Value = serde_json::from_slice(&dumped.stdout).unwrap();
    assert_eq!(dump["roots"]["text"]["value"], text, "{dump}");
    server.terminate().await;
}

/// One `wiredb: error: ...` line on stderr, exit code 1, no panic.
fn assert_clean_failure(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("wiredb: error: "), "{stderr}");
    assert!(stderr.contains(expected), "{stderr:?} lacks {expected:?}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    // The default panic hook's output ("panicked at", a backtrace) must never show.
    assert!(
        !stderr.contains("panicked at") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
fn a_port_in_use_is_one_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(WIREDB)
        .args(["serve", "--port", &port, "--dir"])
        .arg(dir.path())
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_clean_failure(&output, &format!("cannot listen on 127.0.0.1:{port}"));
}

#[test]
fn an_unusable_dir_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, b"").unwrap();
    let output = Command::new(WIREDB)
        .args(["serve", "--port", "0", "--dir"])
        .arg(not_a_dir.join("rooms"))
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_clean_failure(&output, "cannot create");
}

#[test]
fn inspect_names_foreign_versions_and_torn_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("foreign_updates.y");
    std::fs::write(&foreign, b"0.0.2\0\x01\x00").unwrap();
    let output = wiredb(&["inspect", foreign.to_str().unwrap()]);
    assert_clean_failure(&output, "0.0.2");
    assert!(String::from_utf8_lossy(&output.stderr).contains("0.0.1"));
    assert_eq!(
        std::fs::read(&foreign).unwrap(),
        b"0.0.2\0\x01\x00",
        "inspect wrote"
    );

    // A client id over 2^53: yrs panics decoding it; inspect must say which record.
    let bad_id = dir.path().join("bad_updates.y");
    std::fs::write(
        &bad_id,
        b"0.0.1\0\x0a\x01\x01\xff\xff\xff\xff\xff\xff\xff\x7f",
    )
    .unwrap();
    assert_clean_failure(&wiredb(&["inspect", bad_id.to_str().unwrap()]), "record 0");

    let torn = dir.path().join("torn_updates.y");
    std::fs::write(&torn, b"0.0.1\0\x09abc").unwrap();
    assert_clean_failure(&wiredb(&["inspect", torn.to_str().unwrap()]), "offset 6");
}

#[test]
fn squash_reports_sizes_and_keeps_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc_updates.y");
    // Three sessions of edits through the storage layer: three records.
    for word in ["one ", "two ", "three"] {
        let doc = yrs::Doc::new();
        let (mut log, records) =
            wire_file::UpdateLog::open(&file, wire_file::Durability::Fsync).unwrap();
        {
            let mut txn = doc.transact_mut();
            for record in &records {
                use yrs::updates::decoder::Decode;
                txn.apply_update(yrs::Update::decode_v1(record).unwrap())
                    .unwrap();
            }
        }
        let before = doc.transact().state_vector();
        let text = doc.get_or_insert_text("text");
        {
            let mut txn = doc.transact_mut();
            let len = text.len(&txn);
            text.insert(&mut txn, len, word);
        }
        use yrs::ReadTxn;
        let update = doc.transact().encode_state_as_update_v1(&before);
        log.append([&update]).unwrap();
    }
    let squashed = wiredb(&["squash", file.to_str().unwrap()]);
    assert!(
        squashed.status.success(),
        "{}",
        String::from_utf8_lossy(&squashed.stderr)
    );
    assert!(String::from_utf8_lossy(&squashed.stdout).contains("3 records"));
    let inspected = wiredb(&["inspect", "--json", file.to_str().unwrap()]);
    let report: Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(report["records"], 1);
    assert_eq!(report["roots"]["text"]["value"], "one two three");
}
