//! Helpers shared by the tests of every wiredb crate, written once: bounded waits
//! (a liveness bound, never a speed assertion) and the document shape every interop
//! peer uses (a Y.Text "text" and a Y.Map "map").
#![allow(clippy::expect_used)] // test support: a failure should fail the test

mod redis;

pub use redis::{RedisServer, redis_server_binary};

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

/// Appends `n` as a lib0 var-uint (7 bits a byte, low first): for tests that build
/// frames no client would send.
pub fn var_uint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// `prefix`, then a length-prefixed payload that declares `count` entries and holds
/// only `tail`: a count its bytes cannot hold.
pub fn counted_frame(prefix: &[u8], count: u64, tail: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    var_uint(count, &mut payload);
    payload.extend_from_slice(tail);
    let mut frame = prefix.to_vec();
    var_uint(payload.len() as u64, &mut frame);
    frame.extend_from_slice(&payload);
    frame
}
