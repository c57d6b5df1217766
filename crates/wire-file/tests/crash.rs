//! Crash safety with real crashes: a child process appends through an
//! AsyncFileClient (write_delay 0, Durability::Fsync) and prints `ack N` once
//! update N is durably appended; the parent SIGKILLs it at a random point, 20
//! times over, and after each kill checks that the file is a valid log (at
//! most a torn tail) holding every acknowledged update. Odd rounds squash
//! every few updates, so kills land inside squashes too (temp file written,
//! renamed or not), and the final open must leave no temp file behind.
//!
//! A SIGKILL does not tear a `write` in practice (the kernel finishes the
//! system call first; even 1 MB records were never torn here), so the
//! torn-tail repair itself is tested by cutting files at every offset
//! (`log.rs`, `tests/client.rs`); this test prints how many it met.
//!
//! The child is this same test binary, re-run with an environment variable
//! set: nothing to build beforehand, so `cargo test` on a clean clone runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use wire_file::{AsyncFileClient, merge_records};

/// Set (to the log's path) in the child process.
const CHILD_PATH: &str = "WIRE_FILE_CRASH_CHILD_PATH";
/// The round number, to make every token unique across children.
const CHILD_ROUND: &str = "WIRE_FILE_CRASH_CHILD_ROUND";
/// The test's own name, to re-run exactly it in the child.
const TEST_NAME: &str = "sigkilled_writers_lose_nothing_they_acknowledged";
const ROUNDS: u64 = 20;

#[test]
fn sigkilled_writers_lose_nothing_they_acknowledged() {
    if let Some(path) = std::env::var_os(CHILD_PATH) {
        let round = std::env::var(CHILD_ROUND).unwrap().parse().unwrap();
        child(Path::new(&path), round);
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash_updates.y");
    let mut rng = StdRng::seed_from_u64(0xc4a5);
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let mut torn_tails = 0;

    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_PATH, &path)
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let kill_after = rng.random_range(1..30);
        let mut seen = 0;
        while seen < kill_after {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("round {round}: the child exited after {seen} acks"))
                .unwrap();
            if let Some(token) = line.strip_prefix("ack ") {
                acked.insert(token.to_owned());
                seen += 1;
            }
        }
        // Let it run on for a random moment, so that the kill lands anywhere:
        // between appends, inside a write, inside an fsync.
        std::thread::sleep(Duration::from_micros(rng.random_range(0..4_000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Acknowledgements printed before the kill count too.
        for line in lines {
            if let Some(token) = line.unwrap().strip_prefix("ack ") {
                acked.insert(token.to_owned());
            }
        }

        // Valid: a header, whole records that all decode, at most a torn tail.
        let bytes = std::fs::read(&path).unwrap();
        let parsed = wire_file::parse_log(&bytes).unwrap();
        assert!(!parsed.is_new(), "round {round}: no header");
        torn_tails += usize::from(parsed.torn.is_some());
        merge_records(&parsed.records).unwrap();
        let records: Vec<Vec<u8>> = parsed.records.iter().map(|r| r.to_vec()).collect();
        let text = common::text(&common::replay(&records));
        for token in &acked {
            assert!(
                text.contains(&format!("[{token}]")),
                "round {round}: acknowledged update {token} is lost"
            );
        }
    }

    // The client itself opens what the crashes left, and cuts the tail off.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = AsyncFileClient::open(&path).await.unwrap();
        let text = common::text(client.doc());
        assert!(
            acked
                .iter()
                .all(|token| text.contains(&format!("[{token}]")))
        );
        client.close().await.unwrap();
    });
    assert!(
        wire_file::parse_log(&std::fs::read(&path).unwrap())
            .unwrap()
            .torn
            .is_none()
    );
    // A squash killed before its rename leaves a temp file; opening removes it.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .filter(|name| name != "crash_updates.y")
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    assert!(acked.len() >= ROUNDS as usize);
    eprintln!(
        "{} acknowledged updates over {ROUNDS} kills, {torn_tails} torn tails repaired",
        acked.len()
    );
}

/// The child: appends `[round.n]` plus some filler (so that records vary in
/// size and writes take a while) to the text, one update at a time, and
/// acknowledges each once it is on disk, until it is killed.
fn child(path: &Path, round: u64) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = AsyncFileClient::open(path).await.unwrap();
        let mut stats = client.watch_stats();
        let mut rng = StdRng::seed_from_u64(round);
        let mut stdout = std::io::stdout();
        for n in 1u64.. {
            let filler = "x".repeat(rng.random_range(0..2_000));
            common::push_text(client.doc(), &format!("[{round}.{n}]{filler}"));
            // One record per update: the n-th is durable once n are appended.
            stats.wait_for(|s| s.records_appended >= n).await.unwrap();
            // Odd rounds also squash every few updates, so that kills land in
            // the middle of squashes too (temp file written, renamed or not).
            if round % 2 == 1 && n % 4 == 0 {
                client.squash().await.unwrap();
            }
            writeln!(stdout, "ack {round}.{n}").unwrap();
            stdout.flush().unwrap();
        }
    });
}
