//! Opening a log for a document: the records checked, the log repaired and squashed
//! if asked, the content merged into one update. Shared by the file client and the
//! file server's rooms.

use std::path::Path;

use wiredb::yrs::StateVector;

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
    let (mut log, records, (content, state)) =
        UpdateLog::open_checked(path, durability, |records| {
            merge::document_state(records).map_err(|e| e.at_path(path))
        })?;
    let count = records.len();
    drop(records);
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

impl Loaded {
    /// What a client or a room knows of its file right after opening it.
    pub(crate) fn stats(&self) -> FileStats {
        FileStats {
            loaded_records: self.records,
            squashes: u64::from(self.squashed),
            records: self.log.record_count(),
            file_len: self.log.len(),
            ..FileStats::default()
        }
    }
}
