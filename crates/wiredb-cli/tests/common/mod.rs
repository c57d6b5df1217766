//! What the `wiredb` binary's tests share: a `wiredb serve` child process, one-shot
//! commands, the shape of a clean failure, a plain HTTP request.
#![allow(dead_code)] // each test binary uses its own part

use std::path::Path;
use std::process::{Command, Output, Stdio};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use wiredb_tests::PATIENCE;

pub const WIREDB: &str = env!("CARGO_BIN_EXE_wiredb");

/// A `wiredb serve` process, the port it printed, and its stderr (collected by a task
/// so that the pipe never fills up and blocks the server's logging).
pub struct Server {
    pub child: tokio::process::Child,
    pub port: u16,
    pub stderr: tokio::task::JoinHandle<String>,
}

impl Server {
    /// `wiredb serve --port 0 --dir DIR`, logging at its default level.
    pub async fn start(dir: &Path) -> Server {
        Self::start_with(&["--dir".as_ref(), dir.as_os_str()], None).await
    }

    /// `wiredb serve --port 0 ARGS...`, in `cwd` if given. `RUST_LOG` is removed so
    /// that the logs are the ones a user sees by default.
    pub async fn start_with(args: &[&std::ffi::OsStr], cwd: Option<&Path>) -> Server {
        let mut command = tokio::process::Command::new(WIREDB);
        command
            .args(["serve", "--port", "0"])
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        let mut child = command.spawn().expect("start wiredb serve");
        let mut stderr = child.stderr.take().unwrap();
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(PATIENCE, stdout.next_line())
            .await
            .expect("wiredb serve printed nothing")
            .unwrap()
            .expect("wiredb serve exited");
        Server {
            child,
            port: port_of(&line),
            stderr,
        }
    }

    pub fn url(&self, room: &str) -> String {
        format!("ws://127.0.0.1:{}/{room}", self.port)
    }

    /// `signal`, then the exit status (which must be success); returns its stderr.
    pub async fn stop(mut self, signal: rustix::process::Signal) -> String {
        send(self.child.id().expect("running"), signal);
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("wiredb serve did not stop on {signal:?}"))
            .unwrap();
        let stderr = self.stderr.await.unwrap();
        assert!(
            status.success(),
            "wiredb serve exited with {status}: {stderr}"
        );
        stderr
    }

    pub async fn terminate(self) -> String {
        self.stop(rustix::process::Signal::TERM).await
    }
}

/// The port in "wiredb serving on ws://127.0.0.1:PORT/ROOM (...)".
pub fn port_of(line: &str) -> u16 {
    line.split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

/// Sends `signal` to `pid` at once: a `kill` child process would take a millisecond,
/// long enough to miss the race that `a_signal_right_after_the_serving_line_stops_cleanly`
/// is about.
pub fn send(pid: u32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

/// Runs `wiredb ARGS...` to the end, with the default logging (`RUST_LOG` removed, so
/// that the caller's environment cannot change what stderr holds).
pub fn wiredb(args: &[&str]) -> Output {
    Command::new(WIREDB)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run wiredb")
}

/// Runs `wiredb ARGS...` on a blocking thread (for the async tests).
pub async fn wiredb_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        wiredb(&args)
    })
    .await
    .unwrap()
}

/// One `wiredb: error: ...` line on stderr, exit code 1, no panic.
///
/// The commands run with the default logging (`RUST_LOG` removed): on these paths
/// nothing is logged, the error line is all a user sees.
pub fn assert_clean_failure(output: &Output, expected: &str) {
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
    assert!(output.stdout.is_empty(), "{:?}", output.stdout);
}

/// `method path` over plain HTTP/1.1 to `port`: the status code, the head (lower-cased)
/// and the body.
pub async fn http(port: u16, method: &str, path: &str) -> (u16, String, String) {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut response))
        .await
        .expect("no HTTP answer")
        .unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    (status, head.to_lowercase(), body.to_owned())
}

/// Our client in room `url`, synced.
pub async fn synced_client(url: &str) -> wire_websocket::AsyncWebSocketClient {
    let client = wire_websocket::AsyncWebSocketClient::connect(url)
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, client.synced())
        .await
        .expect("our client never synced")
        .unwrap();
    client
}

/// Waits until `/healthz` on `port` reports `rooms` rooms open; false after 5 s.
pub async fn rooms_become(port: u16, rooms: usize) -> bool {
    let wanted = format!(r#""rooms":{rooms},"#);
    for _ in 0..50 {
        let (_, _, health) = http(port, "GET", "/healthz").await;
        if health.contains(&wanted) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}
