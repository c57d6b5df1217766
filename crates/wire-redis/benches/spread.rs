//! Rooms spread over several server processes on one real `redis-server`, beside one
//! server alone (no Redis).
//!
//! Run with: `cargo bench -p wire-redis --bench spread` (`-- --quick`: 3 s per load).
//!
//! Loads, as in wire-websocket's loopback bench (writers send one-character Y.Text
//! inserts at a fixed rate; every subscriber of the room receives each):
//! - a: 1 room × 50 subscribers, 1 writer at 50 Hz;
//! - b: 20 rooms × 10 subscribers, 2 writers per room at 20 Hz.
//!
//! With N ≥ 2 servers the writers are on server 0 and the subscribers spread evenly
//! over servers 1..N, so every delivery crosses Redis. Reported: latency p50/p99
//! (writer send → subscriber receive, across servers) and the CPU of every server
//! process plus Redis per delivered update, from `/proc/PID/task/*/schedstat`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use wire_redis::{AsyncRedisServer, RedisConfig};
use wire_websocket::AsyncWebSocketServer;
use wiredb::yrs::block::ClientID;
use wiredb::yrs::{Doc, Options, ReadTxn, Text, Transact};
use wiredb_test_support::RedisServer;

const ROLE_VAR: &str = "WIREDB_BENCH_ROLE";
const REDIS_VAR: &str = "WIREDB_BENCH_REDIS";

fn main() {
    if std::env::var(ROLE_VAR).as_deref() == Ok("server") {
        return run_server();
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let seconds = if quick { 3 } else { 10 };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("rooms spread over servers on one Redis, {seconds} s per load");
    let loads = [
        ("a: 1 room x 50 subscribers, 1 writer @ 50 Hz", 1, 50, 1, 50),
        (
            "b: 20 rooms x 10 subscribers, 2 writers @ 20 Hz",
            20,
            10,
            2,
            20,
        ),
    ];
    runtime.block_on(async {
        for (name, rooms, subscribers, writers, hz) in loads {
            for servers in [1, 2, 3] {
                let load = Load {
                    rooms,
                    subscribers,
                    writers,
                    hz,
                    seconds,
                };
                load.run(name, servers).await;
            }
        }
    });
}

/// A server process: with `WIREDB_BENCH_REDIS` set, its rooms are on that Redis.
fn run_server() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = match std::env::var(REDIS_VAR) {
            Ok(url) => {
                let redis = AsyncRedisServer::connect(&url, RedisConfig::default())
                    .await
                    .unwrap();
                AsyncWebSocketServer::with_hooks(redis)
            }
            Err(_) => AsyncWebSocketServer::new(),
        }
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

/// This bench re-run as a server; stopped at its stdin's EOF.
struct ServerProcess {
    child: Child,
    port: u16,
}

impl ServerProcess {
    fn spawn(redis: Option<&str>) -> Self {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.env(ROLE_VAR, "server");
        if let Some(url) = redis {
            command.env(REDIS_VAR, url);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        ServerProcess {
            port: line.trim().parse().expect("server port"),
            child,
        }
    }

    fn url(&self, room: &str) -> String {
        format!("ws://127.0.0.1:{}/{room}", self.port)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// CPU time of every thread of process `pid`, in nanoseconds.
fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(|task| {
                    std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()
                })
                .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// Send times by (writer client id, clock of its insert).
type SendTimes = Arc<Mutex<HashMap<(u64, u64), Instant>>>;

/// The (client, clock) of a one-insert update frame `[0, 2, len, update]` (the update
/// starts with `clients, structs, client, clock` as var-uints).
fn identify(frame: &[u8]) -> Option<(u64, u64)> {
    if frame.len() < 3 || frame[0] != 0 || frame[1] != 2 {
        return None;
    }
    let mut rest = &frame[2..];
    let mut fields = [0u64; 5];
    for field in &mut fields {
        let mut value = 0u64;
        let mut used = 0;
        for (i, byte) in rest.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                used = i + 1;
                break;
            }
        }
        if used == 0 {
            return None;
        }
        *field = value;
        rest = &rest[used..];
    }
    let [_, clients, _, client, clock] = fields;
    (clients == 1).then_some((client, clock))
}

struct Load {
    rooms: usize,
    subscribers: usize,
    writers: usize,
    hz: u32,
    seconds: u64,
}

impl Load {
    async fn run(&self, name: &str, servers: usize) {
        let dir = tempfile::tempdir().unwrap();
        // One server alone runs without Redis: the baseline.
        let redis = (servers > 1).then(|| RedisServer::start(dir.path()));
        let processes: Vec<ServerProcess> = (0..servers)
            .map(|_| ServerProcess::spawn(redis.as_ref().map(|r| r.url()).as_deref()))
            .collect();
        let subscriber_servers: Vec<&ServerProcess> = if servers == 1 {
            vec![&processes[0]]
        } else {
            processes[1..].iter().collect()
        };
        let sent: SendTimes = Arc::default();
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        for room in 0..self.rooms {
            for s in 0..self.subscribers {
                let server = subscriber_servers[s % subscriber_servers.len()];
                let socket = connect(&server.url(&format!("room-{room}"))).await;
                let (sent, latencies) = (sent.clone(), latencies.clone());
                readers.push(tokio::spawn(async move {
                    let (_write, mut read) = socket.split();
                    while let Some(Ok(message)) = read.next().await {
                        let now = Instant::now();
                        if let Message::Binary(frame) = message
                            && let Some(key) = identify(&frame)
                            && let Some(at) = sent.lock().unwrap().get(&key).copied()
                        {
                            latencies.lock().unwrap().push(now - at);
                        }
                    }
                }));
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let pids: Vec<u32> = processes
            .iter()
            .map(|p| p.child.id())
            .chain(redis.as_ref().and_then(RedisServer::pid))
            .collect();
        let cpu = || pids.iter().map(|&pid| cpu_ns(pid)).sum::<u64>();
        let before = cpu();
        let started = Instant::now();
        let mut writers = Vec::new();
        for room in 0..self.rooms {
            for w in 0..self.writers {
                let client_id = (room * self.writers + w + 1) as u64;
                let socket = connect(&processes[0].url(&format!("room-{room}"))).await;
                writers.push(tokio::spawn(write_at(
                    socket,
                    client_id,
                    self.hz,
                    self.seconds,
                    sent.clone(),
                )));
            }
        }
        let mut updates = 0u64;
        for task in writers {
            updates += task.await.unwrap();
        }
        // The last frames, through Redis.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let cpu_ns = cpu() - before;
        let elapsed = started.elapsed();
        for reader in &readers {
            reader.abort();
        }
        let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
        let expected = updates * self.subscribers as u64;
        let lost = expected.saturating_sub(latencies.len() as u64);
        latencies.sort();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
        };
        let deliveries = latencies.len().max(1) as f64;
        let what = if servers == 1 {
            "1 server, no Redis".to_owned()
        } else {
            format!("{servers} servers + Redis (writers on one, subscribers on the others)")
        };
        println!("\n{name}: {what}");
        println!(
            "  {updates} updates, {} deliveries measured ({lost} lost) in {:.1} s",
            latencies.len(),
            elapsed.as_secs_f64()
        );
        println!(
            "  latency p50 {:.2} ms, p99 {:.2} ms; CPU (servers{}) {:.2} µs per delivery",
            pct(0.50),
            pct(0.99),
            if servers > 1 { " + Redis" } else { "" },
            cpu_ns as f64 / 1e3 / deliveries
        );
    }
}

/// Sends one-character inserts at `hz` for `seconds`; returns how many.
async fn write_at(socket: Socket, client_id: u64, hz: u32, seconds: u64, sent: SendTimes) -> u64 {
    let (mut write, mut read) = socket.split();
    let drain = tokio::spawn(async move { while let Some(Ok(_)) = read.next().await {} });
    let doc = Doc::with_options(Options::with_client_id(ClientID::new(client_id)));
    let text = doc.get_or_insert_text("text");
    let mut tick = tokio::time::interval(Duration::from_secs(1) / hz);
    let total = u64::from(hz) * seconds;
    for clock in 0..total {
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
            .insert((client_id, clock), Instant::now());
        write.send(Message::Binary(frame)).await.unwrap();
    }
    drain.abort();
    total
}
