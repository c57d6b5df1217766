//! A real editing trace through a file client: Joseph Gentle's `seph-blog1`
//! (137k keystroke transactions of one author writing a blog post), one Yjs
//! update per transaction.
//!
//! Prints, for each [`Durability`]:
//! - *streamed*: the trace's updates (made beforehand by typing the trace into
//!   a bare yrs doc, one update per transaction) applied to the client's
//!   document one transaction each, as fast as yrs goes, the client appending
//!   behind (`write_delay` 0: what piles up during an append goes into the
//!   next one); timed from the first update to `close()` having written and
//!   synced everything;
//! - *one by one*: a prefix of the trace, each update waited for until it is
//!   appended (and synced, with `Fsync`) before the next one is applied: the
//!   latency of one durable append;
//!
//! then the bytes on disk before and after a squash, the time to open (replay)
//! the unsquashed and the squashed file, and, for comparison, the time bare
//! yrs takes to apply the same updates to an empty doc, and how the two ways
//! of merging records (`merge_records`, `squashed_state`) scale.
//!
//! Run with: `cargo bench -p wire-file --bench trace`
//! (the trace is read from `../shared/data/seph-blog1.json.gz` next to the
//! repository, or from the path in `WIREDB_TRACE`).
#![allow(missing_docs)]

use std::error::Error;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wire_file::{AsyncFileClient, Durability, FileClientConfig};
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, Text, TextRef, Transact, Update};

type BoxResult<T> = Result<T, Box<dyn Error>>;

/// Keystrokes per one-by-one run: every one of them waits for its own
/// append (an fsync each with `Fsync`).
const ONE_BY_ONE: usize = 2_000;

/// One patch of the trace: at `position`, delete `delete` chars, insert `insert`.
struct Patch {
    position: u32,
    delete: u32,
    insert: String,
}

struct Trace {
    txns: Vec<Vec<Patch>>,
    end: String,
}

fn trace_path() -> PathBuf {
    match std::env::var_os("WIREDB_TRACE") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/seph-blog1.json.gz"),
    }
}

fn load_trace() -> BoxResult<Trace> {
    let path = trace_path();
    let file = std::fs::File::open(&path).map_err(|e| {
        format!(
            "cannot open the editing trace {}: {e}\n\
             (it lives in ../shared/data next to the repository; set WIREDB_TRACE to its path)",
            path.display()
        )
    })?;
    let mut json = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut json)?;
    let value: serde_json::Value = serde_json::from_str(&json)?;
    let bad = || format!("{} is not an editing trace", path.display());
    let mut txns = Vec::new();
    for txn in value["txns"].as_array().ok_or_else(bad)? {
        let mut patches = Vec::new();
        for patch in txn["patches"].as_array().ok_or_else(bad)? {
            let number = |i: usize| -> BoxResult<u32> {
                Ok(u32::try_from(patch[i].as_u64().ok_or_else(bad)?)?)
            };
            patches.push(Patch {
                position: number(0)?,
                delete: number(1)?,
                insert: patch[2].as_str().ok_or_else(bad)?.to_owned(),
            });
        }
        txns.push(patches);
    }
    let end = value["endContent"].as_str().ok_or_else(bad)?.to_owned();
    Ok(Trace { txns, end })
}

/// Applies one transaction of the trace to `text`, in one yrs transaction.
fn type_txn(doc: &Doc, text: &TextRef, patches: &[Patch]) {
    let mut txn = doc.transact_mut();
    for patch in patches {
        if patch.delete > 0 {
            text.remove_range(&mut txn, patch.position, patch.delete);
        }
        if !patch.insert.is_empty() {
            text.insert(&mut txn, patch.position, &patch.insert);
        }
    }
}

fn text_of(doc: &Doc) -> String {
    let text = doc.get_or_insert_text("text");
    text.get_string(&doc.transact())
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn main() -> BoxResult<()> {
    let trace = load_trace()?;
    let n = trace.txns.len();
    println!(
        "trace: seph-blog1, {n} transactions, {} final chars",
        trace.end.len()
    );

    // Bare yrs: type the trace, keeping each transaction's update.
    let doc = Doc::new();
    let text = doc.get_or_insert_text("text");
    let updates = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let sink = updates.clone();
    doc.observe_update_v1("bench", move |_, event| {
        if let Ok(mut updates) = sink.lock() {
            updates.push(event.update.clone());
        }
    })?;
    let started = Instant::now();
    for txn in &trace.txns {
        type_txn(&doc, &text, txn);
    }
    let typed = started.elapsed();
    doc.unobserve_update_v1("bench")?;
    if text_of(&doc) != trace.end {
        return Err("typing the trace did not give its endContent".into());
    }
    let updates = std::mem::take(&mut *updates.lock().map_err(|_| "poisoned")?);
    let update_bytes: usize = updates.iter().map(Vec::len).sum();

    let replay = Doc::new();
    let started = Instant::now();
    for update in &updates {
        replay
            .transact_mut()
            .apply_update(Update::decode_v1(update)?)?;
    }
    let replayed = started.elapsed();
    if text_of(&replay) != trace.end {
        return Err("replaying the updates did not give the endContent".into());
    }
    println!(
        "bare yrs: typing the trace {typed:.2?}; applying its {} updates ({update_bytes} bytes) \
         one by one to an empty doc {replayed:.2?} ({:.0}/s)",
        updates.len(),
        per_second(updates.len(), replayed)
    );

    // The alternative to replaying into a doc: yrs's merge of encoded updates.
    print!("merge_records (yrs merge_updates, no doc) of the first");
    for count in [5_000, 10_000, 20_000] {
        let started = Instant::now();
        let merged = wire_file::merge_records(&updates[..count])?;
        print!(
            " {count}: {:.2?} ({} bytes);",
            started.elapsed(),
            merged.len()
        );
    }
    let started = Instant::now();
    let squashed = wire_file::squashed_state(&updates)?;
    println!(
        "\nsquashed_state (replay into a doc) of all {}: {:.2?} ({} bytes)",
        updates.len(),
        started.elapsed(),
        squashed.len()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(file_client(&trace, &updates))
}

/// Applies one update to `doc`, in a transaction of its own.
fn apply(doc: &Doc, update: &[u8]) -> BoxResult<()> {
    doc.transact_mut()
        .apply_update(Update::decode_v1(update)?)?;
    Ok(())
}

async fn file_client(trace: &Trace, updates: &[Vec<u8>]) -> BoxResult<()> {
    // On the target directory's disk, not a tmpfs: fsync must mean something.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let n = trace.txns.len();
    let mut unsquashed = None;

    println!("\nfile client, streamed (whole trace, write_delay 0):");
    for durability in [Durability::None, Durability::Flush, Durability::Fsync] {
        let path = dir
            .path()
            .join(format!("streamed-{durability:?}_updates.y"));
        let config = FileClientConfig::default().durability(durability);
        let client = AsyncFileClient::builder(&path)
            .config(config)
            .open()
            .await?;
        let started = Instant::now();
        for update in updates {
            apply(client.doc(), update)?;
        }
        client.close().await?;
        let elapsed = started.elapsed();
        let stats = client.stats();
        if stats.records_appended != n as u64 {
            return Err(format!(
                "{durability:?}: {} records for {n} updates",
                stats.records_appended
            )
            .into());
        }
        println!(
            "  {durability:>5?}: {n} updates in {elapsed:.2?} = {:>8.0} updates/s, \
             {} appends (~{:.0} updates each), file {} bytes",
            per_second(n, elapsed),
            stats.appends,
            n as f64 / stats.appends.max(1) as f64,
            stats.file_len
        );
        unsquashed.get_or_insert(path);
    }

    println!(
        "\nfile client, one by one (first {ONE_BY_ONE} updates, each appended before the next):"
    );
    for durability in [Durability::None, Durability::Flush, Durability::Fsync] {
        let path = dir.path().join(format!("acked-{durability:?}_updates.y"));
        let config = FileClientConfig::default().durability(durability);
        let client = AsyncFileClient::builder(&path)
            .config(config)
            .open()
            .await?;
        let text = client.doc().get_or_insert_text("text");
        let mut stats = client.watch_stats();
        let started = Instant::now();
        for (i, txn) in trace.txns[..ONE_BY_ONE].iter().enumerate() {
            type_txn(client.doc(), &text, txn);
            stats.wait_for(|s| s.records_appended > i as u64).await?;
        }
        let elapsed = started.elapsed();
        client.close().await?;
        println!(
            "  {durability:>5?}: {:>8.0} updates/s ({:.1?} per durable update)",
            per_second(ONE_BY_ONE, elapsed),
            elapsed / ONE_BY_ONE as u32
        );
    }

    let path = unsquashed.ok_or("no file")?;
    println!("\nopen (replay) and squash:");
    let before = std::fs::metadata(&path)?.len();
    let (opened, client) = timed_open(&path, trace).await?;
    println!("  unsquashed: {before} bytes, {n} records, open {opened:.2?}");
    let started = Instant::now();
    let squashed = client.squash().await?;
    let squash_time = started.elapsed();
    client.close().await?;
    let (opened, client) = timed_open(&path, trace).await?;
    client.close().await?;
    println!(
        "  squashed:   {} bytes (was {}; {:.1}x smaller), squash {squash_time:.2?}, open {opened:.2?}",
        squashed.bytes_after,
        squashed.bytes_before,
        squashed.bytes_before as f64 / squashed.bytes_after as f64
    );
    Ok(())
}

/// Opens `path` with a fresh doc, checking it holds the whole trace.
async fn timed_open(
    path: &std::path::Path,
    trace: &Trace,
) -> BoxResult<(Duration, AsyncFileClient)> {
    let started = Instant::now();
    let client = AsyncFileClient::open(path).await?;
    let elapsed = started.elapsed();
    if text_of(client.doc()) != trace.end {
        return Err(format!("{} does not hold the trace", path.display()).into());
    }
    Ok((elapsed, client))
}
