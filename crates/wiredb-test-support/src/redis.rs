//! [`RedisServer`]: a real `redis-server` (Debian's, installed by
//! `tests/interop/install-peers.sh`) on a free port of 127.0.0.1 with its own data
//! directory and append-only file, stopped (killed) when dropped.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

/// `redis-server` from `PATH` or `REDIS_SERVER`; panics with the install command when
/// it is missing (a test that needs Redis fails, it never skips).
pub fn redis_server_binary() -> PathBuf {
    let binary = std::env::var_os("REDIS_SERVER")
        .map_or_else(|| PathBuf::from("redis-server"), PathBuf::from);
    let found = Command::new(&binary)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        found,
        "redis-server missing ({}): run tests/interop/install-peers.sh \
         (it installs Debian's redis-server; scripts/test.sh runs it first)",
        binary.display()
    );
    binary
}

impl RedisServer {
    /// Starts a server with its data in `dir` (append-only file on, fsync every
    /// second, as a deployment would run it) on a free port.
    pub fn start(dir: &Path) -> RedisServer {
        let port = free_port();
        let mut server = RedisServer {
            child: None,
            port,
            dir: dir.to_owned(),
        };
        server.restart();
        server
    }

    /// Its process id (for CPU readings from /proc).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops it gracefully (SIGTERM: the append-only file is flushed), and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data directory (after [`Self::stop`]).
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new(redis_server_binary())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ])
            .args(["--protected-mode", "no", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on port {} within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `redis-cli`-like `INFO memory`'s `used_memory` through a raw command.
    pub fn used_memory(&self) -> u64 {
        let info = self.command(&["INFO", "memory"]);
        info.lines()
            .find_map(|line| line.strip_prefix("used_memory:"))
            .and_then(|value| value.trim().parse().ok())
            .expect("used_memory in INFO")
    }

    /// Sends one command in RESP and returns the raw reply (enough for INFO, XLEN,
    /// MEMORY USAGE, whose replies are one bulk string or integer).
    pub fn command(&self, args: &[&str]) -> String {
        use std::io::{Read, Write};
        let mut tcp = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        request.push_str("*1\r\n$4\r\nQUIT\r\n");
        tcp.write_all(request.as_bytes()).expect("send to redis");
        let mut reply = String::new();
        let _ = tcp.read_to_string(&mut reply);
        reply
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port on 127.0.0.1")
}
