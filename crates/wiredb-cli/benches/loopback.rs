//! Fan-out over loopback, `wiredb serve` side by side with y-sweet, each server in its
//! own process so that its CPU time and memory are read from /proc without the load
//! generator's.
//!
//! Run with: `cargo bench -p wiredb-cli --bench loopback`; options after `--`:
//! - `--seconds N` per load (default 10; `--quick` is 3), `--rounds N` (default 1);
//! - `--only a,b,heavy,idle,floor` (default all; `floor` measures the floors of the
//!   loads a and b asked for beside it, or both floors alone);
//! - `--servers wiredb-files,wiredb-memory,...` (default the two `wiredb` ones, plus
//!   `y-sweet-files,y-sweet-memory` when y-sweet is found: `WIREDB_BENCH_YSWEET=PATH`,
//!   else `y-sweet` on `PATH`); `wiredb-strict` is files with `--fsync always`,
//!   `wiredb-100ms` with `--fsync 100ms` (the default is `1s`), `wiredb-nosync` files
//!   with `--fsync never` (what the writes cost without syncs);
//! - `WIREDB_BENCH_WIREDB=PATH` runs another `wiredb` binary in place of this build's
//!   (a copy of it from before a change, for an A/B run);
//! - `--threads N` gives `wiredb serve` N worker threads (default its own, one);
//! - `--rates 20,50,100,200` the heavy load's per-writer rates.
//!
//! Loads (writers send one-character Y.Text inserts at a fixed rate; every other peer
//! of the room receives each one; every subscriber first sends SyncStep1, as a
//! y-websocket client does):
//! - a: 1 room × 50 subscribers, 1 writer at 50 Hz, every subscriber applying every
//!   update in yrs;
//! - b: 20 rooms × 10 subscribers, 2 writers each at 20 Hz, all applying;
//! - heavy: 1 room × 200 subscribers, 10 writers at each rate; 10 subscribers apply
//!   the updates, the others count frames (so that the generator keeps up);
//! - idle: 2000 connections (200 rooms of 10), each having sent SyncStep1 and an
//!   awareness state: server RSS per connection;
//! - floor: load a's fan-out, and load b's, done with one bare `write` per subscriber
//!   (no WebSocket, no runtime), i.e. what the kernel alone costs per delivery;
//!   measured right after its load in each round, and the summary gives each `wiredb`
//!   server's ratio to it.
//!
//! Reported per load and server: server CPU µs per delivered update (from the sum of
//! `/proc/PID/task/*/schedstat` over the frames delivered), latency p50/p99 (writer
//! send → subscriber receive), and updates lost (not received by a subscriber). The
//! summary gives each server's range over rounds, its ratio to y-sweet with the same
//! storage and persistence's cost over memory, each as the ratio of the means and as
//! the range of the rounds' own ratios (every other round runs the servers in reverse
//! order, so that the machine's drift weighs on each alike).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Socket, connect, cpu_ns, status_kib};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use wiredb::yrs::block::ClientID;
use wiredb::yrs::updates::decoder::Decode;
use wiredb::yrs::{Doc, Options, ReadTxn, StateVector, Text, Transact, Update};

const ROLE_VAR: &str = "WIREDB_BENCH_ROLE";
const WIREDB: &str = env!("CARGO_BIN_EXE_wiredb");

fn main() {
    if std::env::var(ROLE_VAR).as_deref() == Ok("floor") {
        return run_floor_sender();
    }
    let args = BenchArgs::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "loopback fan-out, servers in their own processes, {} s per load, {} round(s); servers: {}",
        args.seconds,
        args.rounds,
        args.servers
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut results = Vec::new();
    let mut floors = Vec::new();
    runtime.block_on(async {
        for round in 1..=args.rounds {
            // Every other round runs the servers in reverse order, so that a machine
            // slowing down (or speeding up) over the run weighs on each server alike.
            let mut servers = args.servers.clone();
            if round % 2 == 0 {
                servers.reverse();
            }
            for load in args.loads() {
                if load.served {
                    for &server in &servers {
                        let outcome = run_load(&args, server, &load).await;
                        println!(
                            "round {round}  {:<24} {:<16} {outcome}",
                            load.name,
                            server.name()
                        );
                        results.push((load.name.clone(), server, outcome));
                    }
                }
                // Right after the servers, so that the ratio to the floor is of the
                // same minutes.
                if let (true, Some(floor)) = (args.wanted("floor"), &load.floor) {
                    let us =
                        send_floor(floor.subscribers, floor.group, floor.hz, args.seconds).await;
                    println!(
                        "round {round}  {:<24} {:<16} {us:.2} µs per delivery (bare write)",
                        floor.name, "kernel"
                    );
                    floors.push((load.name.clone(), us));
                }
            }
            if args.wanted("idle") {
                for &server in &args.servers {
                    let kib = idle_memory(&args, server, 2000, 10).await;
                    println!(
                        "round {round}  {:<24} {:<16} {kib:.2} KiB per idle connection",
                        "idle 2000",
                        server.name()
                    );
                }
            }
        }
    });
    summary(&results, &floors);
}

/// The options after `--` (see the module docs).
struct BenchArgs {
    seconds: u64,
    rounds: u32,
    only: Option<Vec<String>>,
    servers: Vec<ServerKind>,
    threads: Option<u16>,
    rates: Vec<u32>,
    ysweet: Option<PathBuf>,
}

impl BenchArgs {
    fn parse() -> Self {
        let argv: Vec<String> = std::env::args().collect();
        let value = |flag: &str| {
            argv.iter()
                .position(|a| a == flag)
                .and_then(|i| argv.get(i + 1).cloned())
        };
        let list =
            |flag: &str| value(flag).map(|v| v.split(',').map(str::to_owned).collect::<Vec<_>>());
        let ysweet = std::env::var_os("WIREDB_BENCH_YSWEET")
            .map(PathBuf::from)
            .or_else(|| find_on_path("y-sweet"));
        let servers = match list("--servers") {
            Some(names) => {
                let mut servers: Vec<ServerKind> = Vec::new();
                for name in names {
                    let kind = ServerKind::from_name(&name)
                        .unwrap_or_else(|| panic!("unknown server {name}"));
                    // Once each: the summary pairs a server's rounds with another's
                    // by position.
                    if !servers.contains(&kind) {
                        servers.push(kind);
                    }
                }
                servers
            }
            None if ysweet.is_some() => ServerKind::ALL.to_vec(),
            None => vec![ServerKind::WiredbFiles, ServerKind::WiredbMemory],
        };
        let quick = argv.iter().any(|a| a == "--quick");
        BenchArgs {
            seconds: value("--seconds")
                .and_then(|s| s.parse().ok())
                .unwrap_or(if quick { 3 } else { 10 }),
            rounds: value("--rounds").and_then(|s| s.parse().ok()).unwrap_or(1),
            only: list("--only"),
            servers,
            threads: value("--threads").and_then(|s| s.parse().ok()),
            rates: list("--rates")
                .map(|r| r.iter().map(|r| r.parse().unwrap()).collect())
                .unwrap_or_else(|| vec![20, 50, 100, 200]),
            ysweet,
        }
    }

    fn wanted(&self, load: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == load))
    }

    /// The loads to serve, and those whose floor alone is wanted (`--only floor`).
    fn loads(&self) -> Vec<Load> {
        let mut loads = Vec::new();
        let floor_alone = self.wanted("floor") && !self.wanted("a") && !self.wanted("b");
        if self.wanted("a") || floor_alone {
            let mut a = Load::new("a: 1x50, 1 writer @50", 1, 50, 1, 50, None);
            // One group of 50 at 50 updates a second.
            a.floor = Some(Floor::new("floor (load a)", 50, 50, 50));
            a.served = self.wanted("a");
            loads.push(a);
        }
        if self.wanted("b") || floor_alone {
            let mut b = Load::new("b: 20x10, 2 writers @20", 20, 10, 2, 20, None);
            // 20 groups of 10, 40 updates a second each.
            b.floor = Some(Floor::new("floor (load b)", 200, 10, 800));
            b.served = self.wanted("b");
            loads.push(b);
        }
        if self.wanted("heavy") {
            for &hz in &self.rates {
                let name = format!("heavy: 1x200, 10 @{hz}");
                loads.push(Load::new(&name, 1, 200, 10, hz, Some(10)));
            }
        }
        loads
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// The servers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerKind {
    WiredbFiles,
    WiredbMemory,
    WiredbStrict,
    /// Group commit every 100 ms instead of the default 1 s.
    WiredbSync100ms,
    WiredbNoSync,
    YSweetFiles,
    YSweetMemory,
}

impl ServerKind {
    const ALL: [ServerKind; 4] = [
        ServerKind::WiredbFiles,
        ServerKind::YSweetFiles,
        ServerKind::WiredbMemory,
        ServerKind::YSweetMemory,
    ];

    fn name(self) -> &'static str {
        match self {
            ServerKind::WiredbFiles => "wiredb-files",
            ServerKind::WiredbMemory => "wiredb-memory",
            ServerKind::WiredbStrict => "wiredb-strict",
            ServerKind::WiredbSync100ms => "wiredb-100ms",
            ServerKind::WiredbNoSync => "wiredb-nosync",
            ServerKind::YSweetFiles => "y-sweet-files",
            ServerKind::YSweetMemory => "y-sweet-memory",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        [
            ServerKind::WiredbStrict,
            ServerKind::WiredbSync100ms,
            ServerKind::WiredbNoSync,
        ]
        .into_iter()
        .chain(Self::ALL)
        .find(|kind| kind.name() == name)
    }

    /// The y-sweet server of the same storage, to compare with.
    fn rival(self) -> Option<Self> {
        match self {
            ServerKind::WiredbFiles
            | ServerKind::WiredbStrict
            | ServerKind::WiredbSync100ms
            | ServerKind::WiredbNoSync => Some(ServerKind::YSweetFiles),
            ServerKind::WiredbMemory => Some(ServerKind::YSweetMemory),
            _ => None,
        }
    }
}

/// A server under test, in its own process; its CPU and memory are read from /proc.
struct ServerProcess {
    child: Child,
    /// Where a room's WebSocket is: the room id is appended.
    url_prefix: String,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    async fn start(args: &BenchArgs, kind: ServerKind) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (child, url_prefix) = match kind {
            ServerKind::WiredbFiles
            | ServerKind::WiredbMemory
            | ServerKind::WiredbStrict
            | ServerKind::WiredbSync100ms
            | ServerKind::WiredbNoSync => {
                // Another build of `wiredb` for an A/B run (a copy of the binary before
                // a change), else this one's.
                let binary = std::env::var("WIREDB_BENCH_WIREDB").unwrap_or_else(|_| WIREDB.into());
                let mut command = wrapped(&binary);
                command.args(["serve", "--port", "0", "--no-page"]);
                match kind {
                    ServerKind::WiredbMemory => command.arg("--memory"),
                    _ => command.arg("--dir").arg(&data),
                };
                match kind {
                    ServerKind::WiredbStrict => command.args(["--fsync", "always"]),
                    ServerKind::WiredbSync100ms => command.args(["--fsync", "100ms"]),
                    ServerKind::WiredbNoSync => command.args(["--fsync", "never"]),
                    _ => &mut command,
                };
                if let Some(threads) = args.threads {
                    command.args(["--threads", &threads.to_string()]);
                }
                let mut child = command
                    .env("RUST_LOG", "warn")
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(server_log())
                    .spawn()
                    .unwrap();
                // "wiredb serving on ws://127.0.0.1:PORT/ROOM (...)"
                let mut line = String::new();
                BufReader::new(child.stdout.take().unwrap())
                    .read_line(&mut line)
                    .unwrap();
                let url = line.split_whitespace().nth(3).expect("serving line");
                (child, url.trim_end_matches("ROOM").to_owned())
            }
            ServerKind::YSweetFiles | ServerKind::YSweetMemory => {
                let binary = args.ysweet.clone().expect("y-sweet not found");
                let port = free_port();
                let mut command = wrapped(binary.to_str().unwrap());
                command.arg("serve");
                if kind == ServerKind::YSweetFiles {
                    std::fs::create_dir_all(&data).unwrap();
                    command.arg(&data);
                }
                let child = command
                    .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
                    .env("RUST_LOG", "warn")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(debug_output())
                    .spawn()
                    .unwrap();
                wait_for_port(port).await;
                (child, format!("ws://127.0.0.1:{port}/doc/ws/"))
            }
        };
        ServerProcess {
            child,
            url_prefix,
            _dir: dir,
        }
    }

    fn url(&self, room: &str) -> String {
        format!("{}{room}", self.url_prefix)
    }

    /// CPU time of every thread of the server, in nanoseconds.
    fn cpu_ns(&self) -> u64 {
        cpu_ns(self.child.id())
    }

    fn rss_kib(&self) -> u64 {
        status_kib(self.child.id(), "VmRSS:")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `WIREDB_BENCH_SERVER_WRAPPER="perf record -e cpu-clock -g -o /tmp/server.perf"`
/// profiles the servers (their CPU figures then include the wrapper's).
fn wrapped(program: &str) -> Command {
    let wrapper = std::env::var("WIREDB_BENCH_SERVER_WRAPPER").unwrap_or_default();
    let mut argv: Vec<&str> = wrapper.split_whitespace().collect();
    argv.push(program);
    let mut command = Command::new(argv[0]);
    command.args(&argv[1..]);
    command
}

/// Where a server's log goes: nowhere, unless `WIREDB_BENCH_DEBUG` is set.
/// `WIREDB_BENCH_SERVER_LOG=1` shows `wiredb serve`'s warnings (a peer dropped as
/// too slow, say) on stderr.
fn server_log() -> Stdio {
    if std::env::var_os("WIREDB_BENCH_SERVER_LOG").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}

fn debug_output() -> Stdio {
    if std::env::var_os("WIREDB_BENCH_DEBUG").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "server did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One fan-out load.
struct Load {
    name: String,
    rooms: usize,
    subscribers: usize,
    writers: usize,
    hz: u32,
    /// Subscribers per room that apply the updates in yrs (`None`: all); the others
    /// count frames.
    decoders: Option<usize>,
    /// Whether the servers run it (not with `--only floor`).
    served: bool,
    /// Its kernel floor, measured after it in each round.
    floor: Option<Floor>,
}

/// A load's fan-out done with bare writes (see [`send_floor`]).
struct Floor {
    name: &'static str,
    subscribers: usize,
    group: usize,
    hz: u32,
}

impl Floor {
    fn new(name: &'static str, subscribers: usize, group: usize, hz: u32) -> Self {
        Floor {
            name,
            subscribers,
            group,
            hz,
        }
    }
}

impl Load {
    fn new(
        name: &str,
        rooms: usize,
        subscribers: usize,
        writers: usize,
        hz: u32,
        decoders: Option<usize>,
    ) -> Self {
        Load {
            name: name.to_owned(),
            rooms,
            subscribers,
            writers,
            hz,
            decoders,
            served: true,
            floor: None,
        }
    }
}

/// What one load on one server measured.
#[derive(Clone, Copy)]
struct Outcome {
    cpu_us_per_delivery: f64,
    p50_ms: f64,
    p99_ms: f64,
    lost: u64,
    deliveries: u64,
    cpu_share: f64,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:6.2} µs/delivery  p50 {:6.2} ms  p99 {:6.2} ms  lost {}  ({} deliveries, {:.0}% of a core)",
            self.cpu_us_per_delivery,
            self.p50_ms,
            self.p99_ms,
            self.lost,
            self.deliveries,
            self.cpu_share * 100.0
        )
    }
}

/// Send times of every writer's updates, in ns after `base`: `times[writer][seq]`,
/// written by the writer before it sends, read by the subscribers, without a lock.
struct SendTimes {
    base: Instant,
    times: Vec<Vec<AtomicU64>>,
}

impl SendTimes {
    fn new(writers: usize, updates: usize) -> Self {
        SendTimes {
            base: Instant::now(),
            times: (0..writers)
                .map(|_| (0..updates).map(|_| AtomicU64::new(0)).collect())
                .collect(),
        }
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    fn sent(&self, client: u64, seq: u64) -> Option<u64> {
        let time = self
            .times
            .get(usize::try_from(client).ok()?.checked_sub(1)?)?
            .get(usize::try_from(seq).ok()?)?
            .load(Ordering::Relaxed);
        (time != 0).then_some(time)
    }
}

/// An update frame `[0, 2, len, update]` of one writer's one-character insert: its
/// writer's client id, its sequence number (the insert's clock) and the update. The
/// update v1 starts with `clients, structs, client, clock` as var-uints.
fn parse_update(frame: &[u8]) -> Option<(u64, u64, &[u8])> {
    if frame.len() < 3 || frame[0] != 0 || frame[1] != 2 {
        return None;
    }
    let (len, used) = var_uint(&frame[2..])?;
    let update = frame.get(2 + used..2 + used + usize::try_from(len).ok()?)?;
    let mut rest = update;
    let mut fields = [0u64; 4]; // clients, structs, client, clock
    for field in &mut fields {
        let (value, used) = var_uint(rest)?;
        *field = value;
        rest = &rest[used..];
    }
    let [clients, _, client, clock] = fields;
    (clients == 1).then_some((client, clock, update))
}

/// The update of a SyncStep2 frame `[0, 1, len, update]`.
fn sync_step2(frame: &[u8]) -> Option<&[u8]> {
    if frame.len() < 3 || frame[0] != 0 || frame[1] != 1 {
        return None;
    }
    let (len, used) = var_uint(&frame[2..])?;
    frame.get(2 + used..2 + used + usize::try_from(len).ok()?)
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

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    updates: u64,
    latencies_ns: Vec<u64>,
}

/// Reads `socket` until every expected update arrived or `stop`; a decoding
/// subscriber applies each update to its own document, as a real client would.
async fn subscribe(
    socket: Socket,
    decode: bool,
    expected: u64,
    sent: Arc<SendTimes>,
    stop: CancellationToken,
) -> Seen {
    let (mut write, mut read) = socket.split();
    let doc = Doc::new();
    let hello = wiredb::protocol::encode_sync_step1(&StateVector::default());
    write.send(Message::Binary(hello)).await.unwrap();
    let mut seen = Seen::default();
    while seen.updates < expected {
        let message = tokio::select! {
            biased;
            message = read.next() => message,
            () = stop.cancelled() => break,
        };
        let frame = match message {
            Some(Ok(Message::Binary(frame))) => frame,
            // y-sweet pings every connection.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            _ => break,
        };
        let received = sent.now();
        if std::env::var_os("WIREDB_BENCH_DEBUG").is_some() {
            eprintln!("frame {:02x?}", &frame[..frame.len().min(24)]);
        }
        if let Some((client, seq, update)) = parse_update(&frame) {
            seen.updates += 1;
            if decode {
                let update = Update::decode_v1(update).unwrap();
                doc.transact_mut().apply_update(update).unwrap();
                if let Some(sent_at) = sent.sent(client, seq) {
                    seen.latencies_ns.push(received.saturating_sub(sent_at));
                }
            }
        } else if decode && let Some(state) = sync_step2(&frame) {
            // The room's state when we joined (empty here), applied too.
            let update = Update::decode_v1(state).unwrap();
            doc.transact_mut().apply_update(update).unwrap();
        }
    }
    seen
}

/// The writing half of a writer's socket and the task draining its reading half,
/// kept open until the load is over.
type OpenWriter = (
    futures_util::stream::SplitSink<Socket, Message>,
    tokio::task::JoinHandle<()>,
);

/// Sends `total` one-character inserts at `hz`, recording each send time. The
/// socket is handed back open: closed while the server still has unread frames of
/// it, it would be reset, and the server would lose them (its last updates would
/// count as lost at every subscriber).
async fn write_at(
    socket: Socket,
    client_id: u64,
    hz: u32,
    total: u64,
    sent: Arc<SendTimes>,
) -> OpenWriter {
    let (mut write, mut read) = socket.split();
    // A client's first frame, before any update: y-sweet ignores updates before it.
    let hello = wiredb::protocol::encode_sync_step1(&StateVector::default());
    write.send(Message::Binary(hello)).await.unwrap();
    // Drain what the server sends this writer so its queue never fills.
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = read.next().await {} });
    let doc = Doc::with_options(Options::with_client_id(ClientID::new(client_id)));
    let text = doc.get_or_insert_text("text");
    let mut tick = tokio::time::interval(Duration::from_secs(1) / hz);
    let times = &sent.times[usize::try_from(client_id - 1).unwrap()];
    for seq in 0..total {
        tick.tick().await;
        let update = {
            let mut txn = doc.transact_mut();
            let before = txn.state_vector();
            text.push(&mut txn, "x");
            txn.encode_state_as_update_v1(&before)
        };
        let frame = wiredb::protocol::encode_update(&update);
        times[seq as usize].store(sent.now().max(1), Ordering::Relaxed);
        write.send(Message::Binary(frame)).await.unwrap();
    }
    (write, drain)
}

async fn run_load(args: &BenchArgs, kind: ServerKind, load: &Load) -> Outcome {
    let server = ServerProcess::start(args, kind).await;
    let per_writer = u64::from(load.hz) * args.seconds;
    let writers_in_all = load.rooms * load.writers;
    let sent = Arc::new(SendTimes::new(writers_in_all, per_writer as usize));
    let stop = CancellationToken::new();
    let expected = per_writer * load.writers as u64;
    let mut subscribers = Vec::new();
    for room in 0..load.rooms {
        for s in 0..load.subscribers {
            let socket = connect(&server.url(&format!("room-{room}"))).await;
            let decode = load.decoders.is_none_or(|d| s < d);
            subscribers.push(tokio::spawn(subscribe(
                socket,
                decode,
                expected,
                sent.clone(),
                stop.clone(),
            )));
        }
    }
    // Let every subscriber finish its handshake before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut writers = Vec::new();
    // Writer i (client id i + 1) writes to room i / writers.
    for room in 0..load.rooms {
        for _ in 0..load.writers {
            writers.push(connect(&server.url(&format!("room-{room}"))).await);
        }
    }
    let cpu_before = server.cpu_ns();
    let started = Instant::now();
    let tasks: Vec<_> = writers
        .into_iter()
        .enumerate()
        .map(|(i, socket)| {
            tokio::spawn(write_at(
                socket,
                i as u64 + 1,
                load.hz,
                per_writer,
                sent.clone(),
            ))
        })
        .collect();
    let mut open_writers = Vec::new();
    for task in tasks {
        open_writers.push(task.await.unwrap());
    }
    // The last frames: every subscriber has them within a few seconds, or they are
    // lost. A subscriber still short of them then stops, and what it did receive
    // counts (one late subscriber must not make every other one's frames "lost").
    let give_up = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(give_up);
    let mut seen = Vec::new();
    for subscriber in subscribers {
        let mut subscriber = std::pin::pin!(subscriber);
        let got = tokio::select! {
            got = &mut subscriber => got,
            () = &mut give_up => {
                stop.cancel();
                subscriber.await
            }
        };
        seen.push(got.unwrap());
    }
    let cpu_ns = server.cpu_ns() - cpu_before;
    let elapsed = started.elapsed();
    stop.cancel();
    for (_, drain) in open_writers {
        drain.abort();
    }

    let updates = per_writer * writers_in_all as u64;
    // Each update goes to every other peer of its room: subscribers and other writers.
    let deliveries = updates * (load.subscribers + load.writers - 1) as u64;
    let received: u64 = seen.iter().map(|s| s.updates).sum();
    let lost = expected * (load.rooms * load.subscribers) as u64 - received;
    let mut latencies: Vec<u64> = seen.into_iter().flat_map(|s| s.latencies_ns).collect();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(f64::NAN, |&ns| ns as f64 / 1e6)
    };
    Outcome {
        cpu_us_per_delivery: cpu_ns as f64 / 1e3 / deliveries as f64,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        lost,
        deliveries,
        cpu_share: cpu_ns as f64 / elapsed.as_nanos() as f64,
    }
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

/// Server RSS per idle connection, in KiB.
async fn idle_memory(
    args: &BenchArgs,
    kind: ServerKind,
    connections: usize,
    per_room: usize,
) -> f64 {
    let server = ServerProcess::start(args, kind).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss_kib();
    let mut sockets = Vec::with_capacity(connections);
    for i in 0..connections {
        let mut socket = connect(&server.url(&format!("idle-{}", i / per_room))).await;
        // The server's answers pile up unread in the socket buffers (kernel memory,
        // not the server's RSS).
        for frame in client_hello(i as u64 + 1) {
            socket.send(Message::Binary(frame.into())).await.unwrap();
        }
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss_kib();
    drop(sockets);
    after.saturating_sub(before) as f64 / connections as f64
}

/// The bytes the floor sender writes per delivery: a one-character insert's frame.
const FLOOR_FRAME: [u8; 30] = [0; 30];

/// The floor process: accepts `WIREDB_BENCH_FLOOR_N` connections, in groups of
/// `WIREDB_BENCH_FLOOR_GROUP` (a room's subscribers), then on each line of stdin (a
/// group's index) writes one 30-byte frame to every connection of that group with a
/// bare `write`; it answers "ok" to "end" only, so that no reply per update is
/// counted. No WebSocket, no runtime: what the kernel alone costs per delivery (the
/// blocking read of the line stands for a server's read of the update).
fn run_floor_sender() {
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
    };
    let n = env("WIREDB_BENCH_FLOOR_N").unwrap_or(50);
    let group = env("WIREDB_BENCH_FLOOR_GROUP").unwrap_or(n).max(1);
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
        if line.trim() == "end" {
            println!("ok");
            std::io::stdout().flush().unwrap();
            break;
        }
        let first = line.trim().parse::<usize>().unwrap_or(0) * group;
        for peer in peers.iter_mut().skip(first).take(group) {
            peer.write_all(&FLOOR_FRAME).unwrap();
        }
        line.clear();
    }
}

/// The floor: a load's fan-out (`subscribers` in groups of `group`, `hz` updates a
/// second in all, each to one group in turn) done with one bare `write` per
/// subscriber and nothing else: the kernel's cost of a loopback TCP delivery (the
/// send, and the receive processing and wake-up it runs in the sender's context).
/// Returns the sender's CPU µs per delivery.
async fn send_floor(subscribers: usize, group: usize, hz: u32, seconds: u64) -> f64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(ROLE_VAR, "floor")
        .env("WIREDB_BENCH_FLOOR_N", subscribers.to_string())
        .env("WIREDB_BENCH_FLOOR_GROUP", group.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let port: u16 = line.trim().parse().unwrap();
    let mut readers = Vec::new();
    for _ in 0..subscribers {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
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
    let before = cpu_ns(child.id());
    let mut stdin = child.stdin.take().unwrap();
    let groups = subscribers.div_ceil(group.max(1));
    for round in 0..rounds {
        tick.tick().await;
        writeln!(stdin, "{}", round as usize % groups).unwrap();
    }
    writeln!(stdin, "end").unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    let spent = cpu_ns(child.id()) - before;
    drop(stdin);
    let _ = child.wait();
    for reader in readers {
        reader.abort();
    }
    spent as f64 / 1e3 / (rounds * group.min(subscribers) as u64) as f64
}

/// The mean CPU per delivery over rounds, if there were any.
fn mean_cpu(outcomes: &[Outcome]) -> Option<f64> {
    mean(&cpu(outcomes))
}

/// The mean, if there are values.
fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Each outcome's CPU per delivery.
fn cpu(outcomes: &[Outcome]) -> Vec<f64> {
    outcomes.iter().map(|o| o.cpu_us_per_delivery).collect()
}

/// The range of `ours / theirs` round by round: the two ran in the same round,
/// minutes apart at most, so a round's ratio holds still while the machine's speed
/// moves between rounds.
fn paired_range(ours: &[f64], theirs: &[f64]) -> Option<(f64, f64)> {
    min_max(ours.iter().zip(theirs).map(|(ours, theirs)| ours / theirs))
}

/// The smallest and the largest of `values`, if there are any.
fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |range, value| match range {
        None => Some((value, value)),
        Some((lo, hi)) => Some((f64::min(lo, value), f64::max(hi, value))),
    })
}

/// Per load and server: the range over rounds, the ratio to y-sweet with the same
/// storage, persistence's cost over memory, and the ratio to the load's kernel floor.
fn summary(results: &[(String, ServerKind, Outcome)], floors: &[(String, f64)]) {
    let mut loads: Vec<&String> = Vec::new();
    for (load, _, _) in results {
        if !loads.contains(&load) {
            loads.push(load);
        }
    }
    println!("\nsummary (ranges over rounds; ratio = ours / y-sweet's with the same storage)");
    for load in loads {
        let of = |kind: ServerKind| -> Vec<Outcome> {
            results
                .iter()
                .filter(|(l, k, _)| l == load && *k == kind)
                .map(|(_, _, o)| *o)
                .collect()
        };
        for kind in [
            ServerKind::WiredbFiles,
            ServerKind::WiredbStrict,
            ServerKind::WiredbSync100ms,
            ServerKind::WiredbNoSync,
            ServerKind::YSweetFiles,
            ServerKind::WiredbMemory,
            ServerKind::YSweetMemory,
        ] {
            let ours = of(kind);
            if ours.is_empty() {
                continue;
            }
            let range = |f: fn(&Outcome) -> f64| {
                min_max(ours.iter().map(f)).unwrap_or((f64::NAN, f64::NAN))
            };
            let (cpu_lo, cpu_hi) = range(|o| o.cpu_us_per_delivery);
            let (p99_lo, p99_hi) = range(|o| o.p99_ms);
            let lost: u64 = ours.iter().map(|o| o.lost).sum();
            let ratio = kind
                .rival()
                .map(&of)
                .and_then(|theirs| {
                    let (lo, hi) = paired_range(&cpu(&ours), &cpu(&theirs))?;
                    let ratio = mean_cpu(&ours)? / mean_cpu(&theirs)?;
                    Some(format!("  cpu ratio {ratio:.2} (rounds {lo:.2}-{hi:.2})"))
                })
                .unwrap_or_default();
            println!(
                "{load:<24} {:<16} {cpu_lo:6.2}-{cpu_hi:6.2} µs/delivery  p99 {p99_lo:5.2}-{p99_hi:5.2} ms  lost {lost}{ratio}",
                kind.name()
            );
        }
        // What persistence costs: each file-backed `wiredb` server against memory.
        let memory = of(ServerKind::WiredbMemory);
        for kind in [
            ServerKind::WiredbFiles,
            ServerKind::WiredbStrict,
            ServerKind::WiredbSync100ms,
            ServerKind::WiredbNoSync,
        ] {
            let files = of(kind);
            if let (Some(mean_files), Some(mean_memory), Some((lo, hi))) = (
                mean_cpu(&files),
                mean_cpu(&memory),
                paired_range(&cpu(&files), &cpu(&memory)),
            ) {
                let percent = |ratio: f64| (ratio - 1.0) * 100.0;
                println!(
                    "{load:<24} {:<16} {:+.0} % over wiredb-memory (rounds {:+.0} to {:+.0} %)",
                    kind.name(),
                    percent(mean_files / mean_memory),
                    percent(lo),
                    percent(hi)
                );
            }
        }
        // How far each `wiredb` server is from the kernel floor measured after it.
        let floor: Vec<f64> = floors
            .iter()
            .filter(|(l, _)| l == load)
            .map(|(_, us)| *us)
            .collect();
        for kind in [ServerKind::WiredbFiles, ServerKind::WiredbMemory] {
            let ours = cpu(&of(kind));
            if let (Some(mean_ours), Some(mean_floor), Some((lo, hi))) =
                (mean(&ours), mean(&floor), paired_range(&ours, &floor))
            {
                println!(
                    "{load:<24} {:<16} {:.2}x the kernel floor (rounds {lo:.2}-{hi:.2}; floor {mean_floor:.2} µs)",
                    kind.name(),
                    mean_ours / mean_floor,
                );
            }
        }
    }
}
