//! Helpers shared by the tests of every wiredb crate, written once: bounded waits
//! (a liveness bound, never a speed assertion) and the document shape every interop
//! peer uses (a Y.Text "text" and a Y.Map "map").
#![allow(clippy::expect_used)] // test support: a failure should fail the test

use std::future::Future;
use std::time::Duration;

use yrs::{Doc, GetString, Map, Text, Transact};

/// How long [`eventually`] and [`within`] wait before failing the test: long enough
/// for a loaded CI machine, only ever reached when something is wrong.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `condition` until it holds; fails the test, naming `what`, after
/// [`PATIENCE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Fails the test if `future` does not finish within [`PATIENCE`].
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("timed out")
}

/// Appends `text` to the doc's Y.Text "text", in a transaction of its own.
pub fn push_text(doc: &Doc, text: &str) {
    // get_or_insert_* opens its own transaction: never inside another one.
    let root = doc.get_or_insert_text("text");
    root.push(&mut doc.transact_mut(), text);
}

/// The doc's Y.Text "text".
pub fn text_of(doc: &Doc) -> String {
    let root = doc.get_or_insert_text("text");
    root.get_string(&doc.transact())
}

/// Sets `key` to the string `value` in the doc's Y.Map "map".
pub fn set_map(doc: &Doc, key: &str, value: &str) {
    let root = doc.get_or_insert_map("map");
    root.insert(&mut doc.transact_mut(), key, value);
}
