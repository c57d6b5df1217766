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
    // with "locked" rather than racing its appends. The merge runs as the open's check,
    // before anything is written: a file whose records yrs rejects is left as it is,
    // torn tail included, for a person to look at. (A torn tail of a good file is cut
    // by the open, which logs a warning.)
    //
    // Replayed into a document and re-encoded (deleted content garbage-collected),
    // as the file clients squash; not `merge_records`, which keeps every deleted
    // character and grows quadratically with the record count.
    // The open's own errors name the file; the merge's are about records, so the
    // path is added to them. An empty document becomes no record at all.
    // Read before the open, which cuts a torn tail: the sizes reported are the
    // file's, and the cut is measured from its parse (a torn header is rewritten
    // whole, so the sizes alone would not show it).
    let before = std::fs::read(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let size_on_disk = before.len() as u64;
    let cut = wire_file::parse_log(&before)
        .ok()
        .and_then(|parsed| parsed.torn.map(|torn| before.len() - torn.offset))
        .unwrap_or(0);
    let (mut log, records, merged) =
        UpdateLog::open_checked(&args.file, Durability::Fsync, |records| {
            wire_file::squashed_state(records).map_err(|e| e.at_path(&args.file))
        })?;
    let stats = log.squash(&merged)?;
    let torn = match cut {
        0 => String::new(),
        n => format!(" (a torn tail of {} cut)", crate::plural(n, "byte")),
    };
    crate::print(&format!(
        "{}: {}, {} -> {}, {}{torn}\n",
        args.file.display(),
        crate::plural(records.len(), "record"),
        crate::plural(size_on_disk as usize, "byte"),
        crate::plural(log.record_count(), "record"),
        crate::plural(stats.bytes_after as usize, "byte"),
    ))
}
