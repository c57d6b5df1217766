//! Fan-out over loopback, with the server in its own process so that its CPU time and
//! memory can be read from /proc without the load generator's.
//!
//! Run with: `cargo bench -p wire-websocket --bench loopback`
//! (`-- --quick` shortens each load to 3 s).
//!
//! Loads (writers send one-character Y.Text inserts at a fixed rate; every other peer of
//! the room receives each one):
//! 1. 1 room × 50 subscribers, 1 writer at 50 Hz;
//! 2. 20 rooms × 10 subscribers, 2 writers each at 20 Hz;
//! 3. 2000 idle connections (200 rooms of 10), each having sent what a y-websocket
//!    client sends on connect (SyncStep1 and an awareness state): server RSS per
//!    connection;
//! 4. the floor: load 1's fan-out done with one bare `write` per subscriber (no
//!    WebSocket, no runtime), i.e. what the kernel alone costs per delivery.
//!
//! The server runs on one thread, as `wiredb serve` does by default;
//! `WIREDB_BENCH_SERVER_THREADS=N` (N ≥ 2) gives it a multi-thread runtime instead.
//!
//! Reported: latency p50/p99 (writer send → subscriber receive) and server CPU µs per
//! delivered update (server CPU time over the frames it sent), from the sum of
//! `/proc/PID/task/*/schedstat` (nanosecond CPU time of every server thread).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use wire_websocket::{AsyncWebSocketServer, ServerConfig};
use wiredb::yrs::block::ClientID;
use wiredb::yrs::{Doc, Options, ReadTxn, Text, Transact};

const ROLE_VAR: &str = "WIREDB_BENCH_ROLE";

fn main() {
    match std::env::var(ROLE_VAR).as_deref() {
        Ok("server") => return run_server(),
        Ok("floor") => return run_floor_sender(),
        _ => {}
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let seconds = if quick { 3 } else { 10 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("loopback fan-out, server in its own process, {seconds} s per load");
    // `-- --only N` runs load N alone (1 to 4), e.g. under a profiler.
    let only: Option<u32> = std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .and_then(|n| n.parse().ok());
    let wanted = |load: u32| only.is_none_or(|o| o == load);
    runtime.block_on(async {
        if wanted(1) {
            fan_out(
                "1 room x 50 subscribers, 1 writer @ 50 Hz",
                1,
                50,
                1,
                50,
                seconds,
            )
            .await;
        }
        if wanted(2) {
            fan_out(
                "20 rooms x 10 subscribers, 2 writers @ 20 Hz",
                20,
                10,
                2,
                20,
                seconds,
            )
            .await;
        }
        if wanted(3) {
            idle_memory(2000, 10).await;
        }
        if wanted(4) {
            send_floor(50, 50, seconds).await;
        }
    });
}

/// Frames the floor sender writes per connection: as many as load 1 delivers.
const FLOOR_FRAME: [u8; 30] = [0; 30];

/// The floor process: accepts `WIREDB_BENCH_FLOOR_N` connections, then on each line
/// of stdin writes one 30-byte frame to every connection with a bare `write`, and
/// answers "ok". No WebSocket, no runtime: what the kernel alone costs per delivery.
fn run_floor_sender() {
    let n: usize = std::env::var("WIREDB_BENCH_FLOOR_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    let mut peers: Vec<std::net::TcpStream> = (0..n)
        .map(|_| {
            let (peer, _) = listener.accept().unwrap();
            peer.set_nodelay(true).unwrap();
            peer
        })
        .collect();
    let mut line = String::new();
    while std::io::stdin().read_line(&mut line).unwrap_or(0) > 0 {
        for peer in &mut peers {
            peer.write_all(&FLOOR_FRAME).unwrap();
        }
        println!("ok");
        std::io::stdout().flush().unwrap();
        line.clear();
    }
}

/// Load 4: the same fan-out as load 1 (50 subscribers, 50 Hz) done with one bare
/// `write` per subscriber and nothing else: the kernel's cost of a loopback TCP
/// delivery (the send, and the receive processing and wake-up it runs in the
/// sender's context), a floor under any server's CPU per delivered update.
async fn send_floor(subscribers: usize, hz: u32, seconds: u64) {
    let mut floor = ServerProcess::spawn(
        "floor",
        &[("WIREDB_BENCH_FLOOR_N", subscribers.to_string())],
    );
    let mut readers = Vec::new();
    for _ in 0..subscribers {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", floor.port))
            .await
            .unwrap();
        readers.push(tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 4096];
            while stream.read(&mut buf).await.unwrap_or(0) > 0 {}
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rounds = u64::from(hz) * seconds;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / hz);
    let before = floor.cpu_ns();
    let mut line = String::new();
    for _ in 0..rounds {
        tick.tick().await;
        let stdin = floor.child.stdin.as_mut().unwrap();
        stdin.write_all(b"go\n").unwrap();
        line.clear();
        floor.stdout.read_line(&mut line).unwrap();
    }
    let cpu_ns = floor.cpu_ns() - before;
    drop(floor);
    for reader in readers {
        reader.abort();
    }
    let deliveries = rounds * subscribers as u64;
    println!("\nfloor: bare write() of a 30-byte frame to {subscribers} sockets @ {hz} Hz");
    println!(
        "  {deliveries} deliveries: sender CPU {:.2} µs per delivery (kernel send + loopback receive)",
        cpu_ns as f64 / 1e3 / deliveries as f64
    );
}

/// The server process: serves on 127.0.0.1:0, prints the port, stops at stdin EOF.
fn run_server() {
    let runtime = match std::env::var("WIREDB_BENCH_SERVER_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
    {
        // Default: one thread, as `wiredb serve` runs unless given `--threads`.
        None | Some(0 | 1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(threads) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build(),
    }
    .unwrap();
    runtime.block_on(async {
        let mut config = ServerConfig::default();
        // WIREDB_BENCH_READ_BUFFER=N tries another socket read buffer size.
        if let Some(bytes) = std::env::var("WIREDB_BENCH_READ_BUFFER")
            .ok()
            .and_then(|b| b.parse().ok())
        {
            config = config.read_buffer_size(bytes);
        }
        let server = AsyncWebSocketServer::builder()
            .config(config)
            .build()
            .start("127.0.0.1", 0)
            .await
            .unwrap();
        println!("{}", server.local_addr().port());
        std::io::stdout().flush().unwrap();
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).unwrap_or(0) > 0 {
                line.clear();
            }
        })
        .await
        .unwrap();
        server.shutdown().await.unwrap();
    });
}

/// This benchmark re-run in another role (the server, or the floor's sender), talked
/// to over its stdin and stdout; its CPU and memory are read from /proc.
struct ServerProcess {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
    port: u16,
}

impl ServerProcess {
    fn start() -> Self {
        Self::spawn("server", &[])
    }

    /// Starts the process in `role` (see `main`) and reads the port it prints.
    fn spawn(role: &str, env: &[(&str, String)]) -> Self {
        // WIREDB_BENCH_SERVER_WRAPPER="perf record -g -o /tmp/server.perf" profiles the
        // server (its CPU figures then include the wrapper's).
        let exe = std::env::current_exe().unwrap();
        let wrapper = std::env::var("WIREDB_BENCH_SERVER_WRAPPER").unwrap_or_default();
        let mut argv: Vec<std::ffi::OsString> =
            wrapper.split_whitespace().map(Into::into).collect();
        argv.push(exe.into());
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .env(ROLE_VAR, role)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        ServerProcess {
            port: line.trim().parse().expect("server port"),
            stdout,
            child,
        }
    }

    fn url(&self, room: &str) -> String {
        format!("ws://127.0.0.1:{}/{room}", self.port)
    }

    /// CPU time of every thread of the server, in nanoseconds.
    fn cpu_ns(&self) -> u64 {
        let tasks = format!("/proc/{}/task", self.child.id());
        std::fs::read_dir(tasks)
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
            .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .unwrap();
    socket
}

/// Send times by (writer client id, sequence number).
type SendTimes = Arc<Mutex<HashMap<(u64, u32), Instant>>>;

/// The (client id, sequence) of a one-insert update frame `[0, 2, len, update]`: the
/// update v1 starts with `clients, structs, client, clock` as var-uints, and the
/// writer's n-th one-character insert has clock n.
fn identify(frame: &[u8]) -> Option<(u64, u32)> {
    if frame.len() < 3 || frame[0] != 0 || frame[1] != 2 {
        return None;
    }
    let mut rest = &frame[2..];
    let mut fields = [0u64; 5]; // length, clients, structs, client, clock
    for field in &mut fields {
        let (value, used) = var_uint(rest)?;
        *field = value;
        rest = &rest[used..];
    }
    let [_, clients, _, client, clock] = fields;
    (clients == 1).then_some((client, u32::try_from(clock).ok()?))
}

fn var_uint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

async fn fan_out(
    name: &str,
    rooms: usize,
    subscribers: usize,
    writers: usize,
    hz: u32,
    seconds: u64,
) {
    let server = ServerProcess::start();
    let sent: SendTimes = Arc::default();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    for room in 0..rooms {
        for _ in 0..subscribers {
            let socket = connect(&server.url(&format!("room-{room}"))).await;
            let (sent, latencies) = (sent.clone(), latencies.clone());
            readers.push(tokio::spawn(async move {
                let (_write, mut read) = socket.split();
                while let Some(Ok(message)) = read.next().await {
                    let now = Instant::now();
                    if let Message::Binary(frame) = message
                        && let Some(key) = identify(&frame)
                    {
                        let sent_at = sent.lock().unwrap().get(&key).copied();
                        if let Some(sent_at) = sent_at {
                            latencies.lock().unwrap().push(now - sent_at);
                        }
                    }
                }
            }));
        }
    }
    // Let every subscriber finish its handshake before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let cpu_before = server.cpu_ns();
    let started = Instant::now();
    let mut writer_tasks = Vec::new();
    for room in 0..rooms {
        for w in 0..writers {
            let client_id = (room * writers + w + 1) as u64;
            let socket = connect(&server.url(&format!("room-{room}"))).await;
            let sent = sent.clone();
            writer_tasks.push(tokio::spawn(write_at(socket, client_id, hz, seconds, sent)));
        }
    }
    let mut updates = 0u64;
    for task in writer_tasks {
        updates += task.await.unwrap();
    }
    // Let the last frames arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu_ns = server.cpu_ns() - cpu_before;
    let elapsed = started.elapsed();
    for reader in &readers {
        reader.abort();
    }

    // Each update goes to every other peer of its room: subscribers and other writers.
    let deliveries = updates * (subscribers + writers - 1) as u64;
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    // Every subscriber must have received every update: a peer dropped as slow (or
    // a lost frame) would make the CPU per delivery look better than it is.
    assert_eq!(
        latencies.len() as u64,
        updates * subscribers as u64,
        "not every update reached every subscriber"
    );
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!("\n{name}");
    println!(
        "  {updates} updates, {deliveries} deliveries ({} measured at subscribers) in {:.1} s",
        latencies.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "  latency p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        pct(0.50).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        latencies.last().unwrap().as_secs_f64() * 1e6
    );
    println!(
        "  server CPU {:.1} ms = {:.2} µs per delivered update ({:.1}% of one core)",
        cpu_ns as f64 / 1e6,
        cpu_ns as f64 / 1e3 / deliveries as f64,
        cpu_ns as f64 / elapsed.as_nanos() as f64 * 100.0
    );
}

/// Sends one-character inserts at `hz` for `seconds`; returns how many.
async fn write_at(socket: Socket, client_id: u64, hz: u32, seconds: u64, sent: SendTimes) -> u64 {
    let (mut write, mut read) = socket.split();
    // Drain what the server sends this writer so its queue never fills.
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = read.next().await {} });
    let doc = Doc::with_options(Options::with_client_id(ClientID::new(client_id)));
    let text = doc.get_or_insert_text("text");
    let mut tick = tokio::time::interval(Duration::from_secs(1) / hz);
    let total = u64::from(hz) * seconds;
    for seq in 0..total {
        tick.tick().await;
        let update = {
            let mut txn = doc.transact_mut();
            let before = txn.state_vector();
            text.push(&mut txn, "x");
            txn.encode_state_as_update_v1(&before)
        };
        let frame = wiredb::protocol::encode_update(&update);
        sent.lock()
            .unwrap()
            .insert((client_id, seq as u32), Instant::now());
        write.send(Message::Binary(frame)).await.unwrap();
    }
    drain.abort();
    total
}

/// A y-websocket client's first frames: SyncStep1 of an empty doc, then an awareness
/// update carrying a typical cursor/user state.
fn client_hello(client_id: u64) -> Vec<Vec<u8>> {
    use wiredb::yrs::sync::{Awareness, Message as YMessage, SyncMessage};
    use wiredb::yrs::updates::encoder::Encode;
    let doc = Doc::with_options(Options::with_client_id(ClientID::new(client_id)));
    let sync_step1 = YMessage::Sync(SyncMessage::SyncStep1(doc.transact().state_vector()));
    let mut awareness = Awareness::new(doc);
    awareness.set_local_state_raw(format!(
        r##"{{"user":{{"name":"user {client_id}","color":"#30bced"}},"cursor":null}}"##
    ));
    let update = awareness.update().unwrap();
    vec![
        sync_step1.encode_v1(),
        YMessage::Awareness(update).encode_v1(),
    ]
}

async fn idle_memory(connections: usize, per_room: usize) {
    let server = ServerProcess::start();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss_kib();
    let mut sockets = Vec::with_capacity(connections);
    for i in 0..connections {
        let mut socket = connect(&server.url(&format!("idle-{}", i / per_room))).await;
        // What a y-websocket client sends on connect: its SyncStep1 and its awareness
        // state. The server's answers pile up unread in the socket buffers (kernel
        // memory, not the server's RSS).
        for frame in client_hello(i as u64 + 1) {
            socket.send(Message::Binary(frame.into())).await.unwrap();
        }
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss_kib();
    println!("\n{connections} idle connections ({per_room} per room)");
    println!(
        "  server RSS {before} KiB -> {after} KiB: {:.2} KiB per idle connection",
        (after - before) as f64 / connections as f64
    );
    drop(sockets);
}
