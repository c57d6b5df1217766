//! `wiredb squash FILE.y`: rewrite an update log as one record, atomically.

use std::path::PathBuf;

use clap::Args;
use wire_file::{Durability, UpdateLog};

use crate::CliError;

#[derive(Debug, Args)]
pub(crate) struct SquashArgs {
    /// The update-log file (`{id}_updates.y`).
    file: PathBuf,
}

pub(crate) fn run(args: SquashArgs) -> Result<(), CliError> {
    if !args.file.is_file() {
        return Err(format!("{}: no such file", args.file.display()).into());
    }
    // Takes the file's lock: a running server that has this room open makes this fail
    // with "locked" rather than racing its appends.
    let (mut log, records) = UpdateLog::open(&args.file, Durability::Fsync)?;
    // Replayed into a document and re-encoded (deleted content garbage-collected),
    // as the file clients squash; not `merge_records`, which keeps every deleted
    // character and grows quadratically with the record count.
    let merged = wire_file::merge::squashed_state(&records)?;
    let stats = log.squash(&merged)?;
    println!(
        "{}: {} records, {} bytes -> 1 record, {} bytes",
        args.file.display(),
        records.len(),
        stats.bytes_before,
        stats.bytes_after
    );
    Ok(())
}
