//! Opening a log for a document: the records checked, the log repaired and squashed
//! if asked, the content merged into one update. Shared by the file client and the
//! file server's rooms.

use std::path::Path;

use wiredb::yrs::{Doc, StateVector};

use crate::{Durability, Error, FileStats, UpdateLog, merge};

/// What opening a log produced, on the blocking pool.
pub(crate) struct Loaded {
    pub(crate) log: UpdateLog,
    /// The file's content as one update (garbage-collected).
    pub(crate) content: Vec<u8>,
    /// The file's state vector.
    pub(crate) state: StateVector,
    /// Records found at open.
    pub(crate) records: usize,
    /// Whether the file was squashed on open.
    pub(crate) squashed: bool,
}

/// Opens the log, squashes it if asked, and merges its records into the
/// content to load. Blocking.
pub(crate) fn load(path: &Path, durability: Durability, squash: bool) -> Result<Loaded, Error> {
    // Decoded before the log repairs anything: a file yrs refuses is left as
    // it is, torn tail included.
    let (mut log, count, (content, state)) = UpdateLog::open_with(path, durability, |records| {
        merge::document_state(records).map_err(|e| e.at_path(path))
    })?;
    // One record is squashed already (Python rewrites it anyway).
    let squashed = squash && count > 1;
    if squashed {
        log.squash(&content)?;
    }
    Ok(Loaded {
        log,
        content,
        state,
        records: count,
        squashed,
    })
}

/// What [`load_into`] produced.
pub(crate) struct LoadedInto {
    pub(crate) log: UpdateLog,
    /// Records found at open.
    pub(crate) records: usize,
    /// Whether the file was squashed on open.
    pub(crate) squashed: bool,
}

/// [`load`] straight into `doc` (a room's, with nothing else in it yet). Blocking.
///
/// A file of one record (squashed) is applied to `doc` as it is: replayed into a
/// document of its own first, as [`load`] does, it would be decoded, applied and
/// encoded once more for nothing, twice the time and the memory of the open. A
/// log of several records is still replayed apart, one transaction each, and the
/// result applied in one: `doc`'s observers (another hook's, say) see one update
/// rather than thousands. Either way, before the log is repaired.
pub(crate) fn load_into(
    path: &Path,
    durability: Durability,
    squash: bool,
    doc: &Doc,
) -> Result<LoadedInto, Error> {
    let (mut log, count, squash_to) = UpdateLog::open_with(path, durability, |records| {
        if records.len() <= 1 {
            merge::replay_into(doc, records).map_err(|e| e.at_path(path))?;
            return Ok(None);
        }
        let (content, _) = merge::document_state(records).map_err(|e| e.at_path(path))?;
        merge::replay_into(doc, [&content]).map_err(|e| e.at_path(path))?;
        Ok(squash.then_some(content))
    })?;
    let squashed = squash_to.is_some();
    if let Some(content) = squash_to {
        log.squash(&content)?;
    }
    Ok(LoadedInto {
        log,
        records: count,
        squashed,
    })
}

impl LoadedInto {
    /// What a room knows of its file right after opening it.
    pub(crate) fn stats(&self) -> FileStats {
        file_stats(&self.log, self.records, self.squashed)
    }
}

/// The stats of a log just opened, its `records` loaded.
fn file_stats(log: &UpdateLog, records: usize, squashed: bool) -> FileStats {
    FileStats {
        loaded_records: records,
        squashes: u64::from(squashed),
        records: log.record_count(),
        file_len: log.len(),
        ..FileStats::default()
    }
}

impl Loaded {
    /// What a client or a room knows of its file right after opening it.
    pub(crate) fn stats(&self) -> FileStats {
        file_stats(&self.log, self.records, self.squashed)
    }
}
