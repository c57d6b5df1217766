//! `wiredb squash FILE.y`: rewrite an update log as one record, atomically.

use std::path::{Path, PathBuf};

use clap::Args;
use wire_file::{Durability, UpdateLog};

use crate::CliError;

#[derive(Debug, Args)]
pub(crate) struct SquashArgs {
    /// The update-log file (`{id}_updates.y`).
    file: PathBuf,
}

/// What an empty document encodes to (no structs, empty delete set).
const EMPTY_DOCUMENT: [u8; 2] = [0, 0];

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
    let (mut log, records, merged) =
        UpdateLog::open_checked(&args.file, Durability::Fsync, |records| {
            wire_file::merge::squashed_state(records)
        })
        .map_err(|e| naming(&args.file, e))?;
    // An empty document is written as no record at all (`UpdateLog::squash` writes
    // none for an empty update): a header-only file is the empty log, and a two-byte
    // record saying "nothing" would only make squashing an empty log grow it.
    let merged: &[u8] = if merged == EMPTY_DOCUMENT {
        &[]
    } else {
        &merged
    };
    let stats = log.squash(merged).map_err(|e| naming(&args.file, e))?;
    crate::print(&format!(
        "{}: {}, {} bytes -> {}, {} bytes\n",
        args.file.display(),
        count(records.len()),
        stats.bytes_before,
        count(log.record_count()),
        stats.bytes_after
    ))
}

/// `error`, prefixed with `file` unless its message already names it: the merge's
/// errors are about records, not files ("record 3 is not a valid Yjs v1 update").
fn naming(file: &Path, error: wire_file::Error) -> CliError {
    let shown = file.display().to_string();
    if error.to_string().contains(&shown) {
        error.into()
    } else {
        format!("{shown}: {error}").into()
    }
}

/// "1 record", "3 records".
fn count(records: usize) -> String {
    match records {
        1 => "1 record".to_owned(),
        n => format!("{n} records"),
    }
}
