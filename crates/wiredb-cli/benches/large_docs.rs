//! Large documents through `wiredb serve`, beside bare yrs doing the same work.
//!
//! 1. **Cold open and first sync**: a room whose file holds the `seph-blog1` editing
//!    trace (137k updates, one per transaction), unsquashed and squashed. A fresh
//!    server process; one client sends SyncStep1 and is timed until its SyncStep2
//!    (the room opened from its file, and the whole document encoded for it), and the
//!    server's peak RSS is read (`VmHWM`). Bare yrs: a fresh process decodes and
//!    applies the same records (one transaction each, as the file's replay does) and
//!    encodes the document for a joining client; its time and peak RSS.
//! 2. **A growing document**: one client appends 1 KiB pieces to one Y.Text of a
//!    room in memory, each waited for (a second client receives it) before the next;
//!    the server's CPU per update in windows as the document grows, beside bare yrs
//!    applying the same updates to a document of its own.
//!
//! Run with: `cargo bench -p wiredb-cli --bench large_docs` (`-- --only open` or
//! `-- --only grow`; `-- --megabytes N` for the growing document, default 5). The
//! trace is read from `../shared/data/seph-blog1.json.gz` next to the repository, or
//! from the path in `WIREDB_TRACE`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Socket, connect, cpu_ns, status_kib};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use wire_file::{Durability, UpdateLog};
use wiredb::protocol::observe_changes;
use wiredb::yrs::updates::decoder::Decode;
use wiredb::yrs::{Doc, ReadTxn, StateVector, Text, TextRef, Transact, Update};

const WIREDB: &str = env!("CARGO_BIN_EXE_wiredb");
const ROLE_VAR: &str = "WIREDB_BENCH_ROLE";

fn main() {
    if std::env::var(ROLE_VAR).as_deref() == Ok("bare") {
        return bare_yrs_open(Path::new(&std::env::var("WIREDB_BENCH_FILE").unwrap()));
    }
    let argv: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        argv.iter()
            .position(|a| a == flag)
            .and_then(|i| argv.get(i + 1).cloned())
    };
    let only = value("--only");
    let wanted = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if wanted("open") {
            cold_open().await;
        }
        if wanted("grow") {
            let megabytes = value("--megabytes")
                .and_then(|m| m.parse().ok())
                .unwrap_or(5);
            growing_document(megabytes).await;
        }
    });
}

fn trace_path() -> PathBuf {
    match std::env::var_os("WIREDB_TRACE") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/seph-blog1.json.gz"),
    }
}

/// The trace typed into a bare doc: one Yjs update per transaction.
fn trace_updates() -> Vec<Vec<u8>> {
    let path = trace_path();
    let file = std::fs::File::open(&path)
        .unwrap_or_else(|e| panic!("cannot open the trace {}: {e}", path.display()));
    let mut json = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut json)
        .unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let doc = Doc::new();
    let text = doc.get_or_insert_text("text");
    // Each transaction's own update, as a room's observer records it (an update
    // encoded from the state vector before would carry the whole delete set each time).
    let updates = Arc::new(Mutex::new(Vec::new()));
    observe_changes(&mut doc.transact_mut(), "trace", {
        let updates = updates.clone();
        move |txn| updates.lock().unwrap().push(txn.encode_update_v1())
    });
    for txn in value["txns"].as_array().unwrap() {
        let mut t = doc.transact_mut();
        for patch in txn["patches"].as_array().unwrap() {
            let at = patch[0].as_u64().unwrap() as u32;
            let delete = patch[1].as_u64().unwrap() as u32;
            let insert = patch[2].as_str().unwrap();
            if delete > 0 {
                text.remove_range(&mut t, at, delete);
            }
            if !insert.is_empty() {
                text.insert(&mut t, at, insert);
            }
        }
    }
    std::mem::take(&mut *updates.lock().unwrap())
}

/// `wiredb serve --port 0 ARGS`, and the ws:// prefix of its rooms.
fn serve(args: &[&std::ffi::OsStr]) -> (Child, String) {
    let mut child = Command::new(WIREDB)
        .args(["serve", "--port", "0", "--no-page"])
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.split_whitespace().nth(3).expect("serving line");
    (child, url.trim_end_matches("ROOM").to_owned())
}

/// Sends SyncStep1 of an empty document and waits for the SyncStep2; its size.
async fn first_sync(socket: &mut Socket) -> usize {
    let hello = wiredb::protocol::encode_sync_step1(&StateVector::default());
    socket.send(Message::Binary(hello)).await.unwrap();
    loop {
        match socket.next().await {
            Some(Ok(Message::Binary(frame))) if frame.starts_with(&[0, 1]) => return frame.len(),
            Some(Ok(_)) => {}
            other => panic!("no SyncStep2: {other:?}"),
        }
    }
}

/// Part 1 (see the module docs).
async fn cold_open() {
    let started = Instant::now();
    let updates = trace_updates();
    println!(
        "seph-blog1: {} updates, typed in {:.1} s",
        updates.len(),
        started.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().unwrap();
    for squashed in [false, true] {
        let room = if squashed { "squashed" } else { "unsquashed" };
        let path = wire_file::room_path(dir.path(), room);
        {
            let (mut log, _) = UpdateLog::open(&path, Durability::None).unwrap();
            log.append(&updates).unwrap();
            if squashed {
                let records = log.read_records().unwrap();
                let state = wire_file::squashed_state(&records).unwrap();
                log.squash(&state).unwrap();
            }
        }
        let bytes = std::fs::metadata(&path).unwrap().len();

        // Bare yrs in a fresh process, for a peak RSS of its own.
        let bare = Command::new(std::env::current_exe().unwrap())
            .env(ROLE_VAR, "bare")
            .env("WIREDB_BENCH_FILE", &path)
            .output()
            .unwrap();
        let bare = String::from_utf8_lossy(&bare.stdout).trim().to_owned();
        let mut fields = bare.split_whitespace().map(|f| f.parse::<f64>().unwrap());
        let (bare_ms, bare_kib, bare_baseline) = (
            fields.next().unwrap(),
            fields.next().unwrap(),
            fields.next().unwrap(),
        );

        let (mut server, prefix) = serve(&["--dir".as_ref(), dir.path().as_os_str()]);
        let pid = server.id();
        let rss_before = status_kib(pid, "VmRSS:");
        let joined = Instant::now();
        let mut socket = connect(&format!("{prefix}{room}")).await;
        let sync_bytes = first_sync(&mut socket).await;
        let ms = joined.elapsed().as_secs_f64() * 1e3;
        let peak = status_kib(pid, "VmHWM:");
        drop(socket);
        let _ = server.kill();
        let _ = server.wait();
        println!(
            "\n{room} file ({bytes} bytes, {} records): cold open + first sync ({sync_bytes} bytes)",
            if squashed { 1 } else { updates.len() }
        );
        println!(
            "  wiredb serve: {ms:8.1} ms, peak RSS {peak} KiB ({} KiB over the idle server)",
            peak.saturating_sub(rss_before)
        );
        let bare_over = bare_kib - bare_baseline;
        println!(
            "  bare yrs:     {bare_ms:8.1} ms, peak RSS {bare_kib} KiB ({bare_over} KiB over the process at its start)"
        );
        println!(
            "  ratio: time {:.2}x, peak RSS {:.2}x, peak over each one's start {:.2}x",
            ms / bare_ms,
            peak as f64 / bare_kib,
            peak.saturating_sub(rss_before) as f64 / bare_over
        );
    }
}

/// The bare-yrs process: reads the records of the log at `path`, applies them one
/// transaction each, encodes the document as a first sync would, and prints its time
/// in ms, its peak RSS and its RSS at start, in KiB.
fn bare_yrs_open(path: &Path) {
    let baseline = status_kib(std::process::id(), "VmRSS:");
    let started = Instant::now();
    let bytes = std::fs::read(path).unwrap();
    let parsed = wire_file::parse_log(&bytes).unwrap();
    let doc = Doc::new();
    for record in &parsed.records {
        let update = Update::decode_v1(record).unwrap();
        doc.transact_mut().apply_update(update).unwrap();
    }
    let state = doc
        .transact()
        .encode_state_as_update_v1(&StateVector::default());
    let ms = started.elapsed().as_secs_f64() * 1e3;
    assert!(!state.is_empty());
    println!(
        "{ms} {} {baseline}",
        status_kib(std::process::id(), "VmHWM:")
    );
    std::io::stdout().flush().unwrap();
}

/// A bare yrs document applying the growing document's updates, and what it costs to
/// learn each update as a room must (to write it and relay it).
struct BareYrs {
    doc: Doc,
    time: Duration,
}

/// How a [`BareYrs`] learns the update of each transaction.
#[derive(Clone, Copy)]
enum Learn {
    /// Not at all: the cost of applying alone.
    Nothing,
    /// yrs's `observe_update_v1`, which encodes after merging the new blocks into
    /// the ones before them.
    UpdateObserver,
    /// `wiredb::protocol::observe_changes`, which encodes before that merge.
    ObserveChanges,
}

impl BareYrs {
    fn new(learn: Learn) -> Self {
        let doc = Doc::new();
        match learn {
            Learn::Nothing => {}
            Learn::UpdateObserver => doc.transact_mut().observe_update_v1("bench", |_, event| {
                std::hint::black_box(event.update.len());
            }),
            Learn::ObserveChanges => observe_changes(&mut doc.transact_mut(), "bench", |txn| {
                std::hint::black_box(txn.encode_update_v1().len());
            }),
        }
        BareYrs {
            doc,
            time: Duration::ZERO,
        }
    }

    fn apply(&mut self, update: &[u8]) {
        let started = Instant::now();
        self.doc
            .transact_mut()
            .apply_update(Update::decode_v1(update).unwrap())
            .unwrap();
        self.time += started.elapsed();
    }

    /// Milliseconds per update over the last `window` updates; the clock restarts.
    fn window_ms(&mut self, window: usize) -> f64 {
        std::mem::take(&mut self.time).as_secs_f64() * 1e3 / window as f64
    }
}

/// Part 2 (see the module docs).
async fn growing_document(megabytes: usize) {
    const PIECE: usize = 1024;
    const WINDOW: usize = 500;
    let appends = megabytes * 1024 * 1024 / PIECE;
    let (mut server, prefix) = serve(&["--memory".as_ref()]);
    let pid = server.id();
    let url = format!("{prefix}grow");
    let mut writer = connect(&url).await;
    let mut reader = connect(&url).await;
    first_sync(&mut writer).await;
    first_sync(&mut reader).await;

    // The writing client learns its updates the cheap way too, so that the load
    // generator keeps its own cost flat.
    let doc = Doc::new();
    let text: TextRef = doc.get_or_insert_text("text");
    let last_update = Arc::new(Mutex::new(Vec::new()));
    observe_changes(&mut doc.transact_mut(), "writer", {
        let last_update = last_update.clone();
        move |txn| *last_update.lock().unwrap() = txn.encode_update_v1()
    });
    let mut bare = [Learn::Nothing, Learn::UpdateObserver, Learn::ObserveChanges].map(BareYrs::new);
    let piece = "x".repeat(PIECE - 1) + "\n";
    println!(
        "\ngrowing document: one client appends {PIECE}-byte pieces to one Y.Text ({appends} appends), server in memory"
    );
    println!("  ms per update, mean over each {WINDOW} appends:");
    println!(
        "  {:>12}  {:>12}  {:>12}  {:>16}  {:>16}",
        "document", "server CPU", "yrs apply", "+ observe_update", "+ observe_changes"
    );
    let mut window_cpu = 0u64;
    let mut cpu_before = cpu_ns(pid);
    for n in 1..=appends {
        {
            let mut txn = doc.transact_mut();
            let len = text.len(&txn);
            text.insert(&mut txn, len, &piece);
        }
        let update = std::mem::take(&mut *last_update.lock().unwrap());
        writer
            .send(Message::Binary(wiredb::protocol::encode_update(&update)))
            .await
            .unwrap();
        // Waited for at the other client: the server's whole work for this update.
        loop {
            match reader.next().await {
                Some(Ok(Message::Binary(frame))) if frame.starts_with(&[0, 2]) => break,
                Some(Ok(_)) => {}
                other => panic!("reader: {other:?}"),
            }
        }
        let cpu = cpu_ns(pid);
        window_cpu += cpu - cpu_before;
        cpu_before = cpu;
        for bare in &mut bare {
            bare.apply(&update);
        }
        if n % WINDOW == 0 {
            let [plain, observer, changes] = &mut bare;
            println!(
                "  {:>8} KiB  {:>12.3}  {:>12.3}  {:>16.3}  {:>16.3}",
                n * PIECE / 1024,
                window_cpu as f64 / 1e6 / WINDOW as f64,
                plain.window_ms(WINDOW),
                observer.window_ms(WINDOW),
                changes.window_ms(WINDOW),
            );
            window_cpu = 0;
        }
    }
    let _ = server.kill();
    let _ = server.wait();
}
