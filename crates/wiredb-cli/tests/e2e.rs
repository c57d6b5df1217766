//! The real `wiredb` binary end to end: `serve` on port 0 and a temp dir, edits from
//! our client and from a y-websocket client under Node, SIGTERM while both are still
//! connected, the room file read back with `inspect --json`, a restart that finds the
//! document intact (`dump`); `dump` against the y-websocket reference server and Python
//! wiredb's server; the error paths of every command.
//!
//! The Node and Python peers come from `tests/interop/install-peers.sh`; a missing one
//! fails the test with that command in the message (`wiredb_tests`), never skips it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use wire_websocket::AsyncWebSocketClient;
use wiredb_tests::{PATIENCE, Peer, eventually, map_json, set_map, text_of};
use yrs::{Array, Doc, Map, ReadTxn, Text, Transact, XmlElementPrelim, XmlFragment, XmlTextPrelim};

mod common;

use common::{Server, WIREDB, assert_clean_failure, send, synced_client, wiredb, wiredb_async};

/// Asserts success; returns stdout parsed as one JSON document.
fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {:?}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn inspect_json(file: &Path) -> Value {
    json_of(&wiredb(&["inspect", "--json", file.to_str().unwrap()]))
}

/// Our client in `url`, synced.

#[tokio::test]
async fn serve_persist_stop_inspect_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;

    let ours = synced_client(&server.url("e2e")).await;
    {
        let text = ours.doc().get_or_insert_text("text");
        text.push(&mut ours.doc().transact_mut(), "from rust;");
    }
    set_map(ours.doc(), "lang", "rust");
    let url = format!("ws://127.0.0.1:{}", server.port);
    // `--stdin`: the Node client stays connected until we close its stdin, so that the
    // server is stopped with it (and ours) still in the room.
    let mut js = Peer::node(
        "js_client.js",
        &[
            "--url",
            &url,
            "--room",
            "e2e",
            "--stdin",
            "--quiet",
            "--text",
            "from js;",
            "--map",
            "js=yes",
            "--timeout",
            "60",
        ],
    );
    js.expect_event("synced").await;
    js.command(
        json!({"cmd": "wait", "text": ["from rust;"], "map": {"lang": "rust"}, "timeout": 20}),
    )
    .await;
    js.expect_event("waited").await;
    eventually("our client gets the js edits", || {
        text_of(ours.doc()).contains("from js;") && map_json(ours.doc())["js"] == "yes"
    })
    .await;

    // Both clients are still connected: the shutdown itself closes their connections
    // and the room, and flushes its file.
    let stderr = server.terminate().await;
    for logged in [
        "room opened",
        "connection opened",
        "connection closed",
        "room closed",
    ] {
        assert!(
            stderr.contains(logged),
            "no {logged:?} in the log: {stderr}"
        );
    }
    assert_eq!(
        stderr.matches("connection opened").count(),
        2,
        "one per client: {stderr}"
    );
    assert!(!stderr.contains("panic"), "{stderr}");
    // Only the room file: the writability probe did not stay behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["e2e_updates.y"], "{names:?}");

    let file = dir.path().join("e2e_updates.y");
    let report = inspect_json(&file);
    let text = report["roots"]["text"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains("from rust;") && text.contains("from js;"),
        "{report}"
    );
    assert_eq!(report["roots"]["text"]["type"], "Y.Text");
    assert_eq!(report["roots"]["map"]["type"], "Y.Map");
    assert_eq!(
        report["roots"]["map"]["value"],
        json!({"lang": "rust", "js": "yes"})
    );
    assert_eq!(report["version"], "0.0.1");
    assert!(report["records"].as_u64().unwrap() >= 1);
    assert_eq!(report["clients"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(
        report["bytes"].as_u64().unwrap(),
        std::fs::metadata(&file).unwrap().len()
    );

    // The peers lost their server; they are done.
    drop(js);
    ours.close().await.ok(); // the connection is gone already: any error is that

    // A restart finds the document as it was.
    let server = Server::start(dir.path()).await;
    let dump =
        json_of(&wiredb_async(vec!["dump".into(), "--json".into(), server.url("e2e")]).await);
    assert_eq!(dump["roots"]["text"]["value"], text.as_str(), "{dump}");
    assert_eq!(
        dump["roots"]["map"]["value"],
        json!({"lang": "rust", "js": "yes"}),
        "{dump}"
    );
    server.terminate().await;
}

/// Scripts wait for the "serving on" line and may signal at once: the handlers must be
/// in place by then, or the signal's default action kills the server (no flush, and a
/// "killed by signal" status instead of exit 0). Each round signals the instant the line
/// arrives; before the handlers were installed first, nearly every round failed.
#[test]
fn a_signal_right_after_the_serving_line_stops_cleanly() {
    use rustix::process::Signal;
    let dir = tempfile::tempdir().unwrap();
    for round in 0..10 {
        let signal = if round % 2 == 0 {
            Signal::INT
        } else {
            Signal::TERM
        };
        let mut child = Command::new(WIREDB)
            .args(["serve", "--port", "0", "--dir"])
            .arg(dir.path())
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("wiredb serving on ws://"), "{line:?}");
        send(child.id(), signal);
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "round {round}, {signal:?}: {}: {stderr}",
            output.status
        );
        let name = if signal == Signal::INT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        assert!(stderr.contains(name), "{stderr}");
    }
}

#[tokio::test]
async fn sigint_stops_a_server_with_a_client_connected() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let ours = synced_client(&server.url("int")).await;
    set_map(ours.doc(), "stopped-by", "SIGINT");
    // The server has the edit once a second client gets it from there.
    let other = synced_client(&server.url("int")).await;
    eventually("the edit reaches the server", || {
        map_json(other.doc())["stopped-by"] == "SIGINT"
    })
    .await;
    server.stop(rustix::process::Signal::INT).await;
    ours.close().await.ok(); // the server closed the connection: any error is that
    other.close().await.ok();
    let report = inspect_json(&dir.path().join("int_updates.y"));
    assert_eq!(
        report["roots"]["map"]["value"],
        json!({"stopped-by": "SIGINT"})
    );
}

#[tokio::test]
async fn memory_mode_writes_no_file() {
    let cwd = tempfile::tempdir().unwrap();
    let server = Server::start_with(&["--memory".as_ref()], Some(cwd.path())).await;
    let ours = synced_client(&server.url("mem")).await;
    set_map(ours.doc(), "k", "v");
    let other = synced_client(&server.url("mem")).await;
    eventually("the room holds the edit", || {
        map_json(other.doc())["k"] == "v"
    })
    .await;
    other.close().await.unwrap();
    ours.close().await.unwrap();
    let stderr = server.terminate().await;
    assert!(stderr.contains("room closed"), "{stderr}");
    // Not even the default `./wiredb-data` directory, nor a probe file.
    let left: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The writability probe is a fresh file of our own: a planted symlink (or a file of
/// the user's) under any fixed name is neither followed nor deleted.
#[cfg(unix)]
#[tokio::test]
async fn the_write_probe_follows_no_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let victim = elsewhere.path().join("victim");
    let planted = dir.path().join(".wiredb-write-test");
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let server = Server::start(dir.path()).await;
    server.terminate().await;
    assert!(!victim.exists(), "the probe wrote through a symlink");
    assert!(
        planted.symlink_metadata().is_ok(),
        "the probe deleted a file not its own"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, [".wiredb-write-test"], "a probe was left: {names:?}");
}

#[test]
fn a_port_in_use_is_one_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(WIREDB)
        .args(["serve", "--port", &port, "--dir"])
        .arg(dir.path())
        .env_remove("RUST_LOG")
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
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_clean_failure(&output, "cannot create");
}

/// A whole record holding the empty update, then a record with a client id over 2^53
/// (yrs panics decoding it), after the 6-byte header: the bad record starts at byte 9.
const BAD_SECOND_RECORD: &[u8] = b"0.0.1\0\x02\x00\x00\x0a\x01\x01\xff\xff\xff\xff\xff\xff\xff\x7f";

#[test]
fn inspect_names_foreign_versions_and_offsets() {
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

    // A record yrs rejects: named by its index and by where it starts in the file.
    let bad = dir.path().join("bad_updates.y");
    std::fs::write(&bad, BAD_SECOND_RECORD).unwrap();
    assert_clean_failure(
        &wiredb(&["inspect", bad.to_str().unwrap()]),
        "record 1 at byte offset 9",
    );

    // A torn tail: the whole records before it are what a server would load, so
    // they are shown, and the tail is a warning with its offset.
    let torn = dir.path().join("torn_updates.y");
    let doc = Doc::with_client_id(7);
    doc.get_or_insert_text("text")
        .push(&mut doc.transact_mut(), "kept");
    write_log(&torn, &doc);
    let whole = std::fs::metadata(&torn).unwrap().len();
    let mut bytes = std::fs::read(&torn).unwrap();
    bytes.extend_from_slice(b"\x09abc");
    std::fs::write(&torn, &bytes).unwrap();
    let shown = wiredb(&["inspect", torn.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(stdout.contains("1 record,"), "{stdout}");
    assert!(stdout.contains("kept"), "{stdout}");
    assert!(
        stdout.contains(&format!("warning: a torn record from byte offset {whole}")),
        "{stdout}"
    );
    let report = inspect_json(&torn);
    assert_eq!(report["torn_tail"]["offset"], whole);
    assert_eq!(report["roots"]["text"]["value"], "kept");
    assert_eq!(std::fs::read(&torn).unwrap(), bytes, "inspect wrote");

    // A torn header (a crash while the file was created): no version, no records.
    let half = dir.path().join("half_updates.y");
    std::fs::write(&half, b"0.0").unwrap();
    let report = inspect_json(&half);
    assert_eq!(report["version"], Value::Null, "{report}");
    assert_eq!(report["torn_tail"]["offset"], 0, "{report}");
    let squashed = wiredb(&["squash", half.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&squashed.stdout);
    assert!(stdout.contains("(a torn tail of 3 bytes cut)"), "{stdout}");

    // An empty file is said to be empty, not "v0.0.1, 0 records".
    let empty = dir.path().join("empty_updates.y");
    std::fs::write(&empty, b"").unwrap();
    let shown = wiredb(&["inspect", empty.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(stdout.contains("empty file (0 bytes"), "{stdout}");
    assert!(!stdout.contains("v0.0.1"), "{stdout}");
}

/// A log file holding `doc`'s whole state as one record.
fn write_log(path: &Path, doc: &Doc) {
    let mut bytes = wire_file::encode_header();
    let update = doc
        .transact()
        .encode_state_as_update_v1(&Default::default());
    wire_file::encode_record(&update, &mut bytes);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn inspect_renders_every_root_type() {
    let doc = Doc::new();
    let array = doc.get_or_insert_array("array");
    let xml = doc.get_or_insert_xml_fragment("xml");
    let map = doc.get_or_insert_map("map");
    let text = doc.get_or_insert_text("text");
    {
        let mut txn = doc.transact_mut();
        array.push_back(&mut txn, 1.5);
        array.push_back(&mut txn, "two");
        array.push_back(&mut txn, true);
        let paragraph = xml.push_back(&mut txn, XmlElementPrelim::empty("p"));
        paragraph.push_back(&mut txn, XmlTextPrelim::new("hello"));
        map.insert(&mut txn, "n", 2.5);
        map.insert(&mut txn, "s", "x");
        text.push(&mut txn, "hi");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("types_updates.y");
    write_log(&file, &doc);

    let report = inspect_json(&file);
    assert_eq!(
        report["roots"],
        json!({
            "array": {"type": "Y.Array", "value": [1.5, "two", true]},
            "xml": {"type": "Y.XmlFragment", "value": "<p>hello</p>"},
            "map": {"type": "Y.Map", "value": {"n": 2.5, "s": "x"}},
            "text": {"type": "Y.Text", "value": "hi"},
        }),
        "{report}"
    );
    assert_eq!(report["records"], 1);

    // The text form shows the same, one root a line.
    let output = wiredb(&["inspect", file.to_str().unwrap()]);
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    for line in [
        r#"array (Y.Array): [1.5,"two",true]"#,
        "xml (Y.XmlFragment): <p>hello</p>",
        r#"map (Y.Map): {"n":2.5,"s":"x"}"#,
        "text (Y.Text): hi",
    ] {
        assert!(stdout.lines().any(|l| l == line), "no {line:?} in {stdout}");
    }
}

/// `wiredb inspect f.y | head -c1`: a reader that leaves early is no error.
#[test]
fn inspect_into_a_closed_pipe_is_not_an_error() {
    let doc = Doc::new();
    let text = doc.get_or_insert_text("text");
    text.push(&mut doc.transact_mut(), &"x".repeat(100_000));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big_updates.y");
    write_log(&file, &doc);
    for json in [false, true] {
        // The read end is closed before wiredb writes: every write fails with EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut args = vec!["inspect", file.to_str().unwrap()];
        if json {
            args.push("--json");
        }
        let output = Command::new(WIREDB)
            .args(&args)
            .env_remove("RUST_LOG")
            .stdout(writer)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
            .wait_with_output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {stderr}", output.status);
        assert!(stderr.is_empty(), "{stderr}");
    }
}

/// Appends one record per word to `file` (through the storage layer, as three
/// sessions of a client would), each inserting it at the end of Y.Text "text".
fn append_words(file: &Path, words: &[&str]) {
    for word in words {
        let doc = Doc::new();
        let (mut log, records) =
            wire_file::UpdateLog::open(file, wire_file::Durability::Fsync).unwrap();
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
        let update = doc.transact().encode_state_as_update_v1(&before);
        log.append([&update]).unwrap();
    }
}

/// `FILE: N records, B bytes -> M record(s), A bytes[ (a torn tail of T bytes cut)]`:
/// (N, B, M, A).
fn squash_numbers(stdout: &[u8]) -> (u64, u64, u64, u64) {
    let stdout = String::from_utf8_lossy(stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let numbers: Vec<u64> = stdout
        .rsplit(": ")
        .next()
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .map(|part| part.parse().unwrap())
        .collect();
    assert!(
        numbers.len() == 4 || stdout.contains("torn tail"),
        "{stdout}"
    );
    (numbers[0], numbers[1], numbers[2], numbers[3])
}

#[test]
fn squash_reports_sizes_and_keeps_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doc_updates.y");
    append_words(&file, &["one ", "two ", "three"]);
    let size_before = std::fs::metadata(&file).unwrap().len();

    let squashed = wiredb(&["squash", file.to_str().unwrap()]);
    assert!(
        squashed.status.success(),
        "{}",
        String::from_utf8_lossy(&squashed.stderr)
    );
    let size_after = std::fs::metadata(&file).unwrap().len();
    assert_eq!(
        squash_numbers(&squashed.stdout),
        (3, size_before, 1, size_after),
        "{}",
        String::from_utf8_lossy(&squashed.stdout)
    );
    assert!(String::from_utf8_lossy(&squashed.stdout).contains("3 records"));
    assert!(String::from_utf8_lossy(&squashed.stdout).contains("-> 1 record,"));
    let report = inspect_json(&file);
    assert_eq!(report["records"], 1);
    assert_eq!(report["roots"]["text"]["value"], "one two three");
}

#[test]
fn squash_of_an_empty_log_writes_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("empty_updates.y");
    std::fs::write(&file, wire_file::encode_header()).unwrap();
    let squashed = wiredb(&["squash", file.to_str().unwrap()]);
    assert!(squashed.status.success());
    let header = wire_file::encode_header().len() as u64;
    assert_eq!(squash_numbers(&squashed.stdout), (0, header, 0, header));
    assert_eq!(inspect_json(&file)["records"], 0);
}

/// The torn-tail warning of wire-file reaches stderr (logging is on for every command);
/// stdout holds only the report.
#[test]
fn squash_warns_on_stderr_when_it_cuts_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("torn_updates.y");
    append_words(&file, &["kept"]);
    let whole = std::fs::metadata(&file).unwrap().len();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(b"\x09abc"); // declares 9 bytes, has 3
    std::fs::write(&file, &bytes).unwrap();

    let squashed = wiredb(&["squash", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&squashed.stderr);
    assert!(squashed.status.success(), "{stderr}");
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(stderr.contains("incomplete record"), "{stderr}");
    assert!(stderr.contains(&format!("offset={whole}")), "{stderr}");
    // The size before is the file's, torn tail included, and the cut is said.
    let size_after = std::fs::metadata(&file).unwrap().len();
    assert_eq!(
        squash_numbers(&squashed.stdout),
        (1, whole + 4, 1, size_after)
    );
    let stdout = String::from_utf8_lossy(&squashed.stdout);
    assert!(stdout.contains("(a torn tail of 4 bytes cut)"), "{stdout}");
    assert!(stdout.contains("1 record,"), "{stdout}");
    assert_eq!(inspect_json(&file)["roots"]["text"]["value"], "kept");
}

/// A file yrs cannot rebuild: the error names the file, and nothing is written (not
/// even the torn tail cut), so a person can still look at it.
#[test]
fn squash_names_the_file_of_a_bad_record_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad_updates.y");
    let mut bytes = BAD_SECOND_RECORD.to_vec();
    bytes.extend_from_slice(b"\x09abc");
    std::fs::write(&file, &bytes).unwrap();
    let output = wiredb(&["squash", file.to_str().unwrap()]);
    assert_clean_failure(
        &output,
        &format!("record 1 of update log {} ", file.display()),
    );
    assert_eq!(std::fs::read(&file).unwrap(), bytes, "squash wrote");
}

/// A room of a foreign server seeded by `seeder` (a peer client that puts "seeded;" in
/// Y.Text "text" and `seeded=yes` in Y.Map "map", then stays connected), read back
/// with `wiredb dump --json`.
async fn dump_a_foreign_room(server_url: &str, seeder: impl FnOnce(Vec<String>) -> Peer) {
    let args = [
        "--url",
        server_url,
        "--room",
        "dumped",
        "--stdin",
        "--quiet",
        "--text",
        "seeded;",
        "--map",
        "seeded=yes",
        "--timeout",
        "60",
    ];
    let mut seeder = seeder(args.iter().map(|s| s.to_string()).collect());
    seeder.expect_event("synced").await;
    // The server has the seed once another client gets it from there.
    let observer = synced_client(&format!("{server_url}/dumped")).await;
    eventually("the seed reaches the server", || {
        text_of(observer.doc()) == "seeded;" && map_json(observer.doc())["seeded"] == "yes"
    })
    .await;

    let url = format!("{server_url}/dumped");
    let dump = json_of(&wiredb_async(vec!["dump".into(), "--json".into(), url.clone()]).await);
    assert_eq!(dump["url"], url.as_str());
    assert_eq!(
        dump["roots"]["text"],
        json!({"type": "Y.Text", "value": "seeded;"}),
        "{dump}"
    );
    assert_eq!(
        dump["roots"]["map"]["value"],
        json!({"seeded": "yes"}),
        "{dump}"
    );
    assert_eq!(dump["clients"].as_array().unwrap().len(), 1, "{dump}");

    // The text form too.
    let text = wiredb_async(vec!["dump".into(), url]).await;
    assert!(text.status.success());
    let stdout = String::from_utf8(text.stdout).unwrap();
    assert!(
        stdout.lines().any(|line| line == "text (Y.Text): seeded;"),
        "{stdout}"
    );

    observer.close().await.unwrap();
    let (status, events) = seeder.finish().await;
    assert!(status.success(), "{status}: {events:?}");
}

#[tokio::test]
async fn dump_reads_a_room_of_the_y_websocket_reference_server() {
    // The reference server's own `setupWSConnection` (bin/utils.js of y-websocket 1.5.4),
    // on a port it reports (bin/server.js would print "port 0" for PORT=0).
    let mut server = Peer::node("js_server.js", &["--port", "0", "--timeout", "60"]);
    let listening = server.expect_event("listening").await;
    assert_eq!(listening["version"], "1.5.4");
    let url = format!("ws://127.0.0.1:{}", listening["port"]);
    dump_a_foreign_room(&url, |args| Peer::node("js_client.js", &args)).await;
    drop(server);
}

#[tokio::test]
async fn dump_reads_a_room_of_python_wiredbs_server() {
    let mut server = Peer::python("py_server.py", &["--port", "0", "--timeout", "60"]);
    let listening = server.expect_event("listening").await;
    let url = format!("ws://127.0.0.1:{}", listening["port"]);
    dump_a_foreign_room(&url, |args| Peer::python("py_client.py", &args)).await;
    drop(server);
}

/// A server started under the usual soft limit of open files raises it to the hard
/// limit and says so: a thousand idle sockets must not lock real clients out.
#[tokio::test]
async fn serve_raises_its_open_files_limit_and_logs_it() {
    let dir = tempfile::tempdir().unwrap();
    let hard = std::process::Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .unwrap();
    let hard = String::from_utf8_lossy(&hard.stdout).trim().to_owned();
    let script = "ulimit -Sn 256 && exec \"$0\" serve --port 0 --memory";
    let mut child = tokio::process::Command::new("sh")
        .args(["-c", script, WIREDB])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(PATIENCE, stdout.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(line.contains("wiredb serving on"), "{line}");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id().unwrap() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let logged = stderr
        .lines()
        .find(|l| l.contains("open-files limit"))
        .unwrap_or_else(|| panic!("no open-files line: {stderr}"));
    assert!(logged.contains("was=Some(256)"), "{logged}");
    if hard != "unlimited" {
        assert!(
            logged.contains(&format!("open_files_limit=Some({hard})")),
            "{logged}"
        );
    }
}

/// SIGKILL of the server while a client writes every 10 ms: every update another
/// client has received is in the file after the restart (written before relayed),
/// in each of several kills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_another_client_has_seen() {
    let dir = tempfile::tempdir().unwrap();
    let mut relayed_total = 0;
    // Every `--fsync` policy, the default twice: each writes every update to the file
    // before relaying it, so none may lose what a crash of the process leaves behind.
    let policies = [None, Some("always"), Some("never"), Some("1s"), None];
    for (round, policy) in (0..).zip(policies) {
        let mut args = vec![std::ffi::OsStr::new("--dir"), dir.path().as_os_str()];
        if let Some(policy) = policy {
            args.extend([
                std::ffi::OsStr::new("--fsync"),
                std::ffi::OsStr::new(policy),
            ]);
        }
        let server = Server::start_with(&args, None).await;
        let url = server.url("doc");
        let writer = AsyncWebSocketClient::builder(&url)
            .doc(Doc::with_client_id(100 + round))
            .connect()
            .await
            .unwrap();
        let observer = AsyncWebSocketClient::connect(&url).await.unwrap();
        writer.synced().await.unwrap();
        observer.synced().await.unwrap();
        let text = writer.doc().get_or_insert_text("text");
        for n in 0..30 {
            text.push(&mut writer.doc().transact_mut(), &format!("[{round}:{n}]"));
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Killed mid-stream: no close, no flush, no final sync.
        let Server {
            mut child, stderr, ..
        } = server;
        send(child.id().unwrap(), rustix::process::Signal::KILL);
        let _ = child.wait().await;
        drop(stderr);
        let seen_sv = observer.doc().transact().state_vector();
        relayed_total += seen_sv.get(&yrs::ClientID::new(100 + round));
        drop((writer, observer));

        let path = wire_file::room_path(dir.path(), "doc");
        let bytes = std::fs::read(&path).unwrap();
        let parsed = wire_file::parse_log(&bytes).unwrap();
        let stored = wire_file::replay(&parsed.records).unwrap();
        let stored_sv = stored.transact().state_vector();
        for (client, clock) in seen_sv.iter() {
            assert!(
                stored_sv.get(client) >= *clock,
                "round {round} (--fsync {policy:?}): client {client} seen up to {clock}, stored up to {}",
                stored_sv.get(client)
            );
        }
    }
    assert!(relayed_total > 0, "nothing was relayed at all");
}
