//! Update-log files moving both ways between our `wire_file` and the real
//! Python `wire_file` 0.7.1 (`tests/interop/py_file.py`): several sessions on
//! one file, some squashed, must read back as the same Y.Text "text" and Y.Map
//! "map" on the other side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::{Value, json};
use wire_file::{AsyncFileClient, FileClientConfig};
use wiredb::yrs::{Doc, Text, Transact};
use wiredb_tests::{Peer, map_json, push_text, run_to_end, set_map, text_of};

fn delete_text(doc: &Doc, index: u32, len: u32) {
    let root = doc.get_or_insert_text("text");
    root.remove_range(&mut doc.transact_mut(), index, len);
}

fn record_count(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let parsed = wire_file::parse_log(&bytes).unwrap();
    assert!(parsed.torn.is_none());
    parsed.records.len()
}

/// One session of our client on `path`.
async fn rust_session(path: &Path, config: FileClientConfig, edit: impl FnOnce(&Doc)) {
    let client = AsyncFileClient::builder(path)
        .config(config)
        .open()
        .await
        .unwrap();
    edit(client.doc());
    client.close().await.unwrap();
}

/// What our client reads from `path`: (text, map).
async fn rust_read(path: &Path) -> (String, Value) {
    let client = AsyncFileClient::open(path).await.unwrap();
    let read = (text_of(client.doc()), map_json(client.doc()));
    client.close().await.unwrap();
    read
}

/// Runs `py_file.py ARGS...` to the end; returns its last JSON line.
async fn py_file(args: &[&str]) -> Value {
    run_to_end(Peer::python("py_file.py", args)).await
}

#[tokio::test]
async fn a_file_we_wrote_in_several_sessions_opens_in_python() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours_updates.y");
    let file = path.to_str().unwrap();
    let plain = FileClientConfig::default();

    rust_session(&path, plain.clone(), |doc| {
        push_text(doc, "hello");
        set_map(doc, "a", "1");
    })
    .await;
    rust_session(&path, plain.clone().squash_on_open(true), |doc| {
        push_text(doc, " brave new world");
    })
    .await;
    rust_session(&path, plain.clone(), |doc| {
        delete_text(doc, 5, 10); // " brave new"
        set_map(doc, "b", "2");
    })
    .await;
    rust_session(&path, plain.clone().squash_on_close(true), |doc| {
        push_text(doc, "!");
        set_map(doc, "a", "one");
    })
    .await;
    rust_session(&path, plain, |doc| set_map(doc, "c", "3")).await;

    let (text, map) = rust_read(&path).await;
    assert_eq!(text, "hello world!");
    assert_eq!(map, json!({"a": "one", "b": "2", "c": "3"}));
    assert_eq!(record_count(&path), 2, "a squashed record and one append");

    let read = py_file(&["read", file]).await;
    assert_eq!(read["event"], "read", "{read}");
    assert_eq!(read["text"], text, "{read}");
    assert_eq!(read["map"], map, "{read}");
    assert_eq!(read["version"], "0.0.1");
    assert_eq!(read["records"], 2, "Python appended nothing: {read}");

    // Python squashes it its way; we still read the same document.
    let read = py_file(&["read", file, "--squash"]).await;
    assert_eq!(
        (&read["text"], &read["map"]),
        (&json!(text), &map),
        "{read}"
    );
    assert_eq!(read["records"], 1, "{read}");
    assert_eq!(rust_read(&path).await, (text, map));
}

#[tokio::test]
async fn a_file_python_wrote_in_several_sessions_opens_in_ours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("theirs_updates.y");
    let file = path.to_str().unwrap();

    for args in [
        &["write", file, "--text", "hello", "--map", "a=1"][..],
        &["write", file, "--text", " world", "--map", "b=2"],
        &["write", file, "--text", "!"],
    ] {
        let written = py_file(args).await;
        assert_eq!(written["event"], "written", "{written}");
    }
    assert_eq!(record_count(&path), 3, "one record per Python session");
    assert_eq!(
        rust_read(&path).await,
        ("hello world!".to_owned(), json!({"a": "1", "b": "2"}))
    );

    let written = py_file(&["write", file, "--map", "c=3", "--squash"]).await;
    assert_eq!(written["records"], 1, "{written}");
    assert_eq!(record_count(&path), 1);
    let expected_map = json!({"a": "1", "b": "2", "c": "3"});
    assert_eq!(
        rust_read(&path).await,
        ("hello world!".to_owned(), expected_map.clone())
    );

    // And back: we append to Python's squashed file, Python reads it.
    rust_session(&path, FileClientConfig::default(), |doc| {
        push_text(doc, " (and rust)");
    })
    .await;
    let read = py_file(&["read", file]).await;
    assert_eq!(read["text"], "hello world! (and rust)", "{read}");
    assert_eq!(read["map"], expected_map, "{read}");
    assert_eq!(read["records"], 2, "{read}");
}
