//! The harness of the cross-crate and interop tests: it starts the real Yjs peers
//! (Python wiredb 0.7.1, pycrdt-websocket 0.16.5, y-websocket under Node and its 1.5.4
//! reference server) installed by `tests/interop/install-peers.sh` as child processes and
//! reads the JSON lines they print (the conventions are in `tests/interop/README.md`).
//!
//! A missing peer is a test failure with the install command in the message, never a
//! skip: CI runs the install script first (`scripts/test.sh`), so a missing peer there
//! is a broken setup that must be seen.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test harness: a failure should panic

use std::ffi::OsStr;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
pub use wiredb_test_support::{
    PATIENCE, RedisServer, eventually, push_text, redis_server_binary, set_map, text_of, within,
};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::watch;
use wire_websocket::{AsyncWebSocketClient, AsyncWebSocketServer, ServerConfig, ServerHandle};
use yrs::{Any, Doc, Map, Out, Transact};

/// How long a peer may take to print its next line before the test fails.
pub const PEER_LINE_TIMEOUT: Duration = Duration::from_secs(40);

/// `tests/interop`, where the peer scripts and their installs live.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// Panics with the install command unless the interop install `path` exists.
fn require_installed(path: &Path) {
    assert!(
        path.exists(),
        "interop peer missing: {} does not exist; run tests/interop/install-peers.sh \
         (scripts/test.sh does it before the tests)",
        path.display()
    );
}

/// The venv's Python interpreter (Python wiredb 0.7.1); panics with the install command
/// when it is missing.
pub fn python() -> PathBuf {
    let python = interop_dir().join(".venv/bin/python");
    require_installed(&python);
    python
}

/// The Python interpreter of the pycrdt-websocket venv (`.venv-pycrdt-ws`, separate
/// because pycrdt-websocket 0.16 needs a newer pycrdt than wiredb 0.7.1); panics with the
/// install command when it is missing.
pub fn pycrdt_websocket_python() -> PathBuf {
    let python = interop_dir().join(".venv-pycrdt-ws/bin/python");
    require_installed(&python);
    python
}

/// The `node` binary (with the installed `node_modules` checked); panics when missing.
pub fn node() -> PathBuf {
    require_installed(&interop_dir().join("node_modules/y-websocket/package.json"));
    PathBuf::from(std::env::var_os("NODE").unwrap_or_else(|| "node".into()))
}

/// A running peer script: its stdout read line by line as JSON, stdin kept open (the
/// scripts treat stdin EOF as "stop"), killed when dropped.
pub struct Peer {
    name: String,
    /// Its stderr, shown only if the test fails while the peer is alive.
    _stderr: ShowOnPanic,
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

    /// Starts `tests/interop/.venv-pycrdt-ws/bin/python tests/interop/SCRIPT ARGS...`.
    pub fn pycrdt_websocket<S: AsRef<OsStr>>(script: &str, args: &[S]) -> Peer {
        Self::spawn(pycrdt_websocket_python(), script, args)
    }

    fn spawn<S: AsRef<OsStr>>(program: PathBuf, script: &str, args: &[S]) -> Peer {
        let mut child = Command::new(&program)
            .arg(interop_dir().join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // The scripts log to stderr: kept, and shown only when the test fails,
            // so that a passing run's output holds only the results.
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} {script}: {e}", program.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let name = std::iter::once(script.into())
            .chain(args.iter().map(|a| a.as_ref().to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ");
        let stderr = ShowOnPanic::collect(&name, child.stderr.take().expect("piped stderr"));
        Peer {
            name,
            _stderr: stderr,
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

    /// Sends one `--stdin` command and returns its `reply` event (see [`Peer::expect_event`]).
    pub async fn request(&mut self, command: Value, reply: &str) -> Value {
        self.command(command).await;
        self.expect_event(reply).await
    }

    /// `{"cmd":"dump"}`: the client's document (and awareness, for `js_client.js`) now.
    pub async fn dump(&mut self) -> Value {
        self.request(serde_json::json!({"cmd": "dump"}), "dump")
            .await
    }

    /// A `{"cmd":"wait",...}` command; returns its `waited` event (a `wait_timeout`
    /// fails the test).
    pub async fn wait_for(&mut self, wait: Value) -> Value {
        self.request(wait, "waited").await
    }
}

/// The command line of the client scripts: `--url URL --room ROOM EXTRA...`.
pub fn client_args(url: &str, room: &str, extra: &[&str]) -> Vec<String> {
    ["--url", url, "--room", room]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
}

/// `ws://127.0.0.1:PORT` of a server script, from its `{"event":"listening","port":N}`.
pub fn listening_url(listening: &Value) -> String {
    format!("ws://127.0.0.1:{}", listening["port"])
}

/// The `"user"` of every awareness state in a `js_client.js` `dump` event.
pub fn awareness_users(dump: &Value) -> Vec<Value> {
    dump["awareness"]
        .as_object()
        .expect("awareness map")
        .values()
        .map(|state| state["user"].clone())
        .collect()
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

/// [`run_to_end`] for a client script: asserts that its last line is `final`, returns it.
pub async fn run_to_final(peer: Peer) -> Value {
    let name = peer.name.clone();
    let last = run_to_end(peer).await;
    assert_eq!(
        last["event"], "final",
        "peer `{name}` did not end with `final`"
    );
    last
}

/// How long the y-websocket reference server may take to listen.
pub const SERVER_START_TIMEOUT: Duration = Duration::from_secs(20);

/// The y-websocket 1.5.4 reference server run unmodified, as its README says:
/// `HOST=127.0.0.1 PORT=N node tests/interop/node_modules/y-websocket-server/bin/server.js`.
///
/// `bin/server.js` cannot bind port 0 and report the port, so [`ReferenceServer::start`]
/// picks a free one (bind `127.0.0.1:0`, note the port, drop the listener) just before
/// spawning; should another process take it in between, the server dies with
/// `EADDRINUSE` and a new port is tried. The child is killed when this is dropped.
pub struct ReferenceServer {
    // `kill_on_drop`: dropping the server kills the node process.
    _child: Child,
    _stderr: ShowOnPanic,
    port: u16,
}

/// A port that was free a moment ago: bound on 127.0.0.1 by the OS, then released.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .and_then(|listener| listener.local_addr())
        .expect("binding 127.0.0.1:0")
        .port()
}

/// Reads a child's output lines, calling `on_line` with each, until the pipe closes.
async fn forward_lines<R: AsyncRead + Unpin>(reader: R, mut on_line: impl FnMut(&str)) {
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        on_line(&line);
    }
}

/// A child's output, collected as it comes and printed (to the test's captured
/// stderr) only if it is dropped while the test panics: a failing test shows what its
/// peer said, a passing one shows nothing of it.
pub struct ShowOnPanic {
    label: String,
    text: Arc<Mutex<String>>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl ShowOnPanic {
    /// Collects the lines of `reader` under `label`.
    pub fn collect<R: AsyncRead + Unpin + Send + 'static>(label: &str, reader: R) -> Self {
        let text = Arc::new(Mutex::new(String::new()));
        let collected = Arc::clone(&text);
        let reader = tokio::spawn(forward_lines(reader, move |line| {
            let mut text = collected.lock().unwrap_or_else(|e| e.into_inner());
            text.push_str(line);
            text.push('\n');
        }));
        ShowOnPanic {
            label: label.to_owned(),
            text,
            reader: Some(reader),
        }
    }

    /// Waits (at most `limit`) for the pipe to close: everything the child wrote is
    /// then collected.
    pub async fn until_closed(&mut self, limit: Duration) {
        if let Some(reader) = self.reader.take() {
            let _ = tokio::time::timeout(limit, reader).await;
        }
    }

    /// What has been collected so far.
    pub fn text(&self) -> String {
        self.text.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for ShowOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let text = self.text();
            if !text.is_empty() {
                eprintln!(
                    "--- output of {} ---\n{text}--- end of {} ---",
                    self.label, self.label
                );
            }
        }
    }
}

impl ReferenceServer {
    /// The version `tests/interop/package.json` pins (`y-websocket-server` is an npm alias).
    pub const VERSION: &'static str = "1.5.4";
    /// Ports tried before [`ReferenceServer::start`] gives up.
    pub const ATTEMPTS: usize = 5;

    /// `tests/interop/node_modules/y-websocket-server/bin/server.js`.
    pub fn script() -> PathBuf {
        interop_dir().join("node_modules/y-websocket-server/bin/server.js")
    }

    /// Starts the server on a free port of 127.0.0.1 and returns once that port accepts
    /// connections.
    pub async fn start() -> ReferenceServer {
        Self::start_with(free_port).await
    }

    /// [`ReferenceServer::start`] with the candidate ports given by `pick_port`, called
    /// again after each `EADDRINUSE` (at most [`ReferenceServer::ATTEMPTS`] times).
    pub async fn start_with(mut pick_port: impl FnMut() -> u16) -> ReferenceServer {
        let script = Self::script();
        require_installed(&script);
        let package = interop_dir().join("node_modules/y-websocket-server/package.json");
        let package: Value = serde_json::from_slice(
            &std::fs::read(&package).unwrap_or_else(|e| panic!("{}: {e}", package.display())),
        )
        .expect("y-websocket-server/package.json is JSON");
        assert_eq!(
            package["version"],
            Self::VERSION,
            "tests/interop/node_modules holds another y-websocket-server; \
             run tests/interop/install-peers.sh"
        );
        let mut taken = Vec::new();
        for _ in 0..Self::ATTEMPTS {
            let port = pick_port();
            if let Some(server) = Self::try_start(&script, port).await {
                return server;
            }
            taken.push(port);
        }
        panic!("y-websocket reference server: ports {taken:?} were all in use (EADDRINUSE)");
    }

    /// One attempt on `port`: the server, or `None` if it exited with `EADDRINUSE`.
    /// Any other failure panics with the server's stderr.
    async fn try_start(script: &Path, port: u16) -> Option<ReferenceServer> {
        let mut child = Command::new(node())
            .arg(script)
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node {}: {e}", script.display()));
        let label = format!("server.js :{port}");
        // "running at '127.0.0.1' on port N" is printed by the listen callback: once it
        // is seen, the port that accepts connections is this process's, not a squatter's.
        let (running_tx, running) = watch::channel(false);
        let stdout = child.stdout.take().expect("piped stdout");
        tokio::spawn(forward_lines(stdout, move |line| {
            if line.starts_with("running at ") {
                running_tx.send_replace(true);
            }
        }));
        let mut stderr = ShowOnPanic::collect(&label, child.stderr.take().expect("piped stderr"));

        let deadline = tokio::time::Instant::now() + SERVER_START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("polling server.js") {
                // Let the stderr copy reach the end of the pipe before reading it.
                stderr.until_closed(Duration::from_secs(2)).await;
                let errors = stderr.text();
                if errors.contains("EADDRINUSE") {
                    return None;
                }
                panic!("server.js exited with {status} before listening on port {port}:\n{errors}");
            }
            if *running.borrow()
                && tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                    .await
                    .is_ok()
            {
                return Some(ReferenceServer {
                    _child: child,
                    _stderr: stderr,
                    port,
                });
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "server.js did not accept connections on port {port} within \
                 {SERVER_START_TIMEOUT:?}; stderr:\n{}",
                stderr.text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `ws://127.0.0.1:PORT`; a room is the URL path after it (`/ROOM`).
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }
}

/// Our WebSocket server, without room hooks, on 127.0.0.1 and a port the OS picks.
pub async fn start_our_server() -> ServerHandle {
    start_our_server_with(ServerConfig::default()).await
}

/// [`start_our_server`] with `config`.
pub async fn start_our_server_with(config: ServerConfig) -> ServerHandle {
    AsyncWebSocketServer::builder()
        .config(config)
        .build()
        .start("127.0.0.1", 0)
        .await
        .unwrap()
}

/// A raw WebSocket to one of the servers, for tests that send what no client would.
pub type RawSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads `socket` until the server's close frame: its code and reason, or `None` if
/// the connection ended without one. Fails the test after [`PATIENCE`].
pub async fn close_frame(socket: &mut RawSocket) -> Option<(u16, String)> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    within(async {
        while let Some(next) = socket.next().await {
            match next {
                Ok(Message::Close(frame)) => {
                    return frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()));
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
}

/// Our client in `url` (`ws://HOST:PORT/ROOM`), synced within [`PATIENCE`].
pub async fn connect_synced(url: &str) -> AsyncWebSocketClient {
    let client = AsyncWebSocketClient::connect(url).await.unwrap();
    tokio::time::timeout(PATIENCE, client.synced())
        .await
        .unwrap()
        .unwrap();
    client
}

// The document shape every interop peer uses: Y.Text "text" and Y.Map "map"
// (push_text, text_of, set_map come from wiredb-test-support).

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
