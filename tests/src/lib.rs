//! The harness of the cross-crate and interop tests: it starts the real Yjs peers
//! (Python wiredb 0.7.1, y-websocket under Node) installed by
//! `tests/interop/install-peers.sh` as child processes and reads the JSON lines they
//! print (the conventions are in `tests/interop/README.md`).
//!
//! A missing peer is a test failure with the install command in the message, never a
//! skip: CI runs the install script first (`scripts/test.sh`), so a missing peer there
//! is a broken setup that must be seen.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test harness: a failure should panic

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use yrs::{Any, Doc, GetString, Map, Out, Text, Transact};

/// How long a peer may take to print its next line before the test fails.
pub const PEER_LINE_TIMEOUT: Duration = Duration::from_secs(40);

/// `tests/interop`, where the peer scripts and their installs live.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// The venv's Python interpreter; panics with the install command when it is missing.
pub fn python() -> PathBuf {
    let python = interop_dir().join(".venv/bin/python");
    assert!(
        python.exists(),
        "interop peer missing: {} does not exist; run tests/interop/install-peers.sh \
         (scripts/test.sh does it before the tests)",
        python.display()
    );
    python
}

/// The `node` binary (with the installed `node_modules` checked); panics when missing.
pub fn node() -> PathBuf {
    let modules = interop_dir().join("node_modules/y-websocket/package.json");
    assert!(
        modules.exists(),
        "interop peer missing: {} does not exist; run tests/interop/install-peers.sh \
         (scripts/test.sh does it before the tests)",
        modules.display()
    );
    PathBuf::from(std::env::var_os("NODE").unwrap_or_else(|| "node".into()))
}

/// A running peer script: its stdout read line by line as JSON, stdin kept open (the
/// scripts treat stdin EOF as "stop"), killed when dropped.
pub struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    seen: Vec<Value>,
}

impl Peer {
    /// Starts `node tests/interop/SCRIPT ARGS...`.
    pub fn node<S: AsRef<OsStr>>(script: &str, args: &[S]) -> Peer {
        Self::spawn(node(), script, args)
    }

    /// Starts `tests/interop/.venv/bin/python tests/interop/SCRIPT ARGS...`.
    pub fn python<S: AsRef<OsStr>>(script: &str, args: &[S]) -> Peer {
        Self::spawn(python(), script, args)
    }

    fn spawn<S: AsRef<OsStr>>(program: PathBuf, script: &str, args: &[S]) -> Peer {
        let mut child = Command::new(&program)
            .arg(interop_dir().join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // The scripts log to stderr; let it through so a failing test shows why.
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} {script}: {e}", program.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        Peer {
            name: std::iter::once(script.into())
                .chain(args.iter().map(|a| a.as_ref().to_string_lossy()))
                .collect::<Vec<_>>()
                .join(" "),
            stdin: child.stdin.take(),
            stdout: BufReader::new(stdout).lines(),
            child,
            seen: Vec::new(),
        }
    }

    /// The next JSON line; panics on timeout or when the peer exits first.
    pub async fn next_event(&mut self) -> Value {
        self.try_next_event()
            .await
            .unwrap_or_else(|| panic!("peer `{}` exited; it printed {:?}", self.name, self.seen))
    }

    /// The next JSON line, or `None` once the peer closed its stdout.
    pub async fn try_next_event(&mut self) -> Option<Value> {
        let line = tokio::time::timeout(PEER_LINE_TIMEOUT, self.stdout.next_line())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "peer `{}` printed nothing for {PEER_LINE_TIMEOUT:?}; so far: {:?}",
                    self.name, self.seen
                )
            })
            .expect("reading peer stdout")?;
        let value: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("peer `{}` printed non-JSON {line:?}: {e}", self.name));
        self.seen.push(value.clone());
        Some(value)
    }

    /// Reads events until one has `"event": name`; returns it. Panics if the peer
    /// reports `error`/`timeout` or exits first.
    pub async fn expect_event(&mut self, name: &str) -> Value {
        loop {
            let event = self.next_event().await;
            let kind = event["event"].as_str().unwrap_or_default();
            if kind == name {
                return event;
            }
            assert!(
                kind != "error" && kind != "timeout" && kind != "wait_timeout",
                "peer `{}` failed while waiting for `{name}`: {event}",
                self.name
            );
        }
    }

    /// Sends one `--stdin` command line.
    pub async fn command(&mut self, command: Value) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        let mut line = command.to_string();
        line.push('\n');
        stdin
            .write_all(line.as_bytes())
            .await
            .expect("writing peer stdin");
        stdin.flush().await.expect("flushing peer stdin");
    }

    /// Closes stdin (the scripts' "stop"), then waits for exit; returns the status and
    /// every event printed.
    pub async fn finish(mut self) -> (ExitStatus, Vec<Value>) {
        drop(self.stdin.take());
        while self.try_next_event().await.is_some() {}
        let status = tokio::time::timeout(PEER_LINE_TIMEOUT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("peer `{}` did not exit", self.name))
            .expect("waiting for peer");
        (status, self.seen)
    }

    /// Every event printed so far.
    pub fn seen(&self) -> &[Value] {
        &self.seen
    }
}

/// Runs a peer script to completion and returns its last JSON line, asserting exit 0.
pub async fn run_to_end(peer: Peer) -> Value {
    let name = peer.name.clone();
    let (status, events) = peer.finish().await;
    assert!(
        status.success(),
        "peer `{name}` exited with {status}; printed {events:?}"
    );
    events
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("peer `{name}` printed nothing"))
}

/// How long [`eventually`] waits before failing the test.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `condition` until it holds; fails the test after [`PATIENCE`].
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// The document shape every interop peer uses: Y.Text "text" and Y.Map "map".

/// Appends `text` to the doc's Y.Text "text".
pub fn push_text(doc: &Doc, text: &str) {
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

/// The doc's Y.Map "map" as JSON (strings stay strings, as the peers print them).
pub fn map_json(doc: &Doc) -> Value {
    let root = doc.get_or_insert_map("map");
    let txn = doc.transact();
    let entries = root.iter(&txn).map(|(key, value)| {
        let value = match value {
            Out::Any(Any::String(text)) => Value::String(text.to_string()),
            Out::Any(any) => serde_json::to_value(&any).unwrap_or(Value::Null),
            other => Value::String(format!("{other:?}")),
        };
        (key.to_owned(), value)
    });
    Value::Object(entries.collect())
}
