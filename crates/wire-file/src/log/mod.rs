//! [`UpdateLog`]: one open, exclusively locked update-log file.
//!
//! This is the synchronous storage layer: plain `std::fs`, no runtime, so it
//! can be used from a CLI, a test or a blocking task of an async server alike.
//!
//! Why it is built the way it is:
//!
//! - **Append-only with one write per batch.** A batch of updates becomes one
//!   buffer and one `write_all` at the end of the file, so a crash can only
//!   ever tear the *last* record, which [`UpdateLog::open`] then cuts off.
//! - **Exclusive advisory lock.** Two writers would interleave records, and a
//!   squash by one would throw away the other's later appends; the second
//!   opener gets [`Error::Locked`] instead.
//! - **Squash by atomic rename.** The merged state goes to a temp file in the
//!   same directory which is synced and then renamed over the log, so a crash
//!   at any point leaves either the old or the new file, never a half-written
//!   one (truncate-then-write would lose everything in between).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use yrs::Update;
use yrs::updates::decoder::Decode;

use crate::Error;
use crate::durable_fs::{
    lock, open_locked, parent_dir, remove_stale_temp_file, sync_dir, temp_path,
};
use crate::format;
use crate::metrics::FileMetrics;

/// How hard [`UpdateLog::append`] works to make an append survive a crash.
///
/// Squashing and creating a log always sync fully whatever this says: they are
/// rare, and atomic replacement relies on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// Return as soon as the `write` system call has handed the bytes to the
    /// operating system.
    ///
    /// Survives a crash of this process (the kernel owns the data), not a
    /// power loss or kernel crash. Python `wire_file` behaves this way.
    None,
    /// Also call [`Write::flush`] after the write.
    ///
    /// Survives a process crash, not a power loss. A [`File`] has no
    /// user-space buffer, so today this guarantees exactly what
    /// [`Durability::None`] does; it is kept so that the intent ("process
    /// crash safe, no disk sync") stays explicit should buffering ever be
    /// added.
    Flush,
    /// Also call [`File::sync_data`]: the append is on stable storage when
    /// [`UpdateLog::append`] returns, and survives a power loss.
    ///
    /// This is the default. A lost edit is silent and permanent while a slow
    /// append is visible and tunable, and the cost is paid once per *batch*:
    /// the async layer coalesces updates (`write_delay`) before appending.
    /// Pick [`Durability::None`] for Python `wire_file`'s behaviour, or
    /// for throw-away data.
    #[default]
    Fsync,
}

/// What one [`UpdateLog::append`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AppendStats {
    /// Records written (empty updates are skipped and not counted).
    pub records: usize,
    /// Bytes written, length prefixes included.
    pub bytes: u64,
    /// Whether the append was synced to stable storage (`fdatasync`), which
    /// [`Durability::Fsync`] does after every append.
    pub synced: bool,
}

/// What one [`UpdateLog::squash`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SquashStats {
    /// Length of the file before the squash.
    pub bytes_before: u64,
    /// Length of the file after it (header and the merged record).
    pub bytes_after: u64,
}

/// An open update-log file, exclusively locked for as long as it is alive.
///
/// ```
/// use wire_file::{Durability, UpdateLog};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("room_updates.y");
///
/// let (mut log, records) = UpdateLog::open(&path, Durability::default())?;
/// assert!(records.is_empty());
/// log.append([&b"first update"[..], b"second update"])?;
/// drop(log); // releases the lock
///
/// let (log, records) = UpdateLog::open(&path, Durability::default())?;
/// assert_eq!(records, [b"first update".to_vec(), b"second update".to_vec()]);
/// assert_eq!(log.record_count(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct UpdateLog {
    /// Opened for reading and appending; holds the exclusive lock.
    file: File,
    /// The path the log was opened with.
    path: PathBuf,
    /// Length of the valid content: the header and whole records.
    len: u64,
    /// Number of records in the file.
    records: usize,
    /// What to do after each append.
    durability: Durability,
    /// Set when a failed append may have left a partial record after `len`
    /// that could not be cut off yet; the next append retries the cut first,
    /// so a partial record can never end up in the middle of the log.
    needs_truncate: bool,
    /// Where its appends and syncs are recorded.
    metrics: FileMetrics,
}

impl UpdateLog {
    /// Opens the log at `path`, creating it (with its header) if it does not
    /// exist, and returns it together with every whole record in it.
    ///
    /// If the file ends in a torn record (a crash during an append) or in
    /// zeros (a power loss), a warning naming the path, the offset and the
    /// lost bytes is logged and the file is truncated to its last whole
    /// record. A file whose header is torn (a crash while it was being
    /// created) is started afresh. A temp file left by a crashed squash is
    /// removed.
    ///
    /// # Errors
    ///
    /// - [`Error::Locked`] if another `UpdateLog` (in this process or any
    ///   other) has the file open;
    /// - [`Error::VersionMismatch`] or [`Error::NotAnUpdateLog`] if the file
    ///   is not a log of this version, [`Error::InvalidContent`] if records
    ///   follow a zero-length one; the file is then left byte-for-byte
    ///   untouched;
    /// - [`Error::Io`] if the file or its directory cannot be opened, read,
    ///   written or synced.
    pub fn open(
        path: impl AsRef<Path>,
        durability: Durability,
    ) -> Result<(UpdateLog, Vec<Vec<u8>>), Error> {
        let (log, records, ()) = Self::open_checked(path, durability, |_| Ok(()))?;
        Ok((log, records))
    }

    /// [`UpdateLog::open`], with `check` run on the records *before* anything
    /// is written: a torn tail is cut, and a new file's header written, only
    /// once `check` has accepted them. A file whose records `check` refuses
    /// (say, one that yrs cannot decode) is thus left byte-for-byte untouched,
    /// torn tail and all, for a person to look at.
    ///
    /// # Errors
    ///
    /// Those of [`UpdateLog::open`], and whatever `check` returns.
    pub fn open_checked<T>(
        path: impl AsRef<Path>,
        durability: Durability,
        check: impl FnOnce(&[Vec<u8>]) -> Result<T, Error>,
    ) -> Result<(UpdateLog, Vec<Vec<u8>>, T), Error> {
        let (log, _, (records, checked)) = Self::open_with(path, durability, |records| {
            let records: Vec<Vec<u8>> = records.iter().map(|r| r.to_vec()).collect();
            check(&records).map(|checked| (records, checked))
        })?;
        Ok((log, records, checked))
    }

    /// [`UpdateLog::open_checked`] for a caller that needs the records only in
    /// `check`: they are slices of the file's bytes, not copied out (a room
    /// opening a large log would otherwise hold it twice). Returns the number of
    /// records beside the log.
    pub(crate) fn open_with<T>(
        path: impl AsRef<Path>,
        durability: Durability,
        check: impl FnOnce(&[&[u8]]) -> Result<T, Error>,
    ) -> Result<(UpdateLog, usize, T), Error> {
        let path = path.as_ref();
        let file = open_locked(path)?;
        let mut bytes = Vec::new();
        (&file)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(path, e))?;
        let parsed = format::parse(&bytes).map_err(|e| e.at_path(path))?;
        let records = parsed.records.len();
        let checked = check(&parsed.records)?;
        // The lock is held: a temp file of an earlier squash can only be the
        // leftover of a process that crashed mid-squash.
        remove_stale_temp_file(path);

        let mut log = UpdateLog {
            file,
            path: path.to_path_buf(),
            len: parsed.valid_len as u64,
            records,
            durability,
            needs_truncate: false,
            metrics: FileMetrics::new(),
        };

        if let Some(torn) = parsed.torn {
            tracing::warn!(
                path = %path.display(),
                offset = torn.offset,
                lost_bytes = torn.available,
                declared_len = ?torn.declared_len,
                "update log ends with an incomplete record (a crash during a write?); \
                 truncating it to its last whole record"
            );
            log.file
                .set_len(log.len)
                .and_then(|()| log.file.sync_all())
                .map_err(|e| Error::io(path, e))?;
        }

        if parsed.is_new() {
            // Sync the file, then its directory entry: a new log must not
            // vanish, or come back empty and header-less, after a power loss.
            log.file
                .write_all(format::HEADER)
                .and_then(|()| log.file.sync_all())
                .map_err(|e| Error::io(path, e))?;
            log.len = format::HEADER.len() as u64;
            sync_dir(&parent_dir(path))?;
        }

        Ok((log, records, checked))
    }

    /// Appends every non-empty update of `updates` as one record each, with a
    /// single write, then applies the log's [`Durability`].
    ///
    /// Empty updates are skipped: they carry nothing, and Python `wire_file`
    /// would read a zero-length record as the end of the log. An empty batch
    /// writes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the write or the sync fails. When the write fails
    /// midway the file is cut back to its previous length (retried before the
    /// next append if that fails too), so the log never holds a partial record
    /// in its middle. When only the sync fails the records are in the file but
    /// maybe not on disk; appending them again is harmless, as applying a Yjs
    /// update twice is a no-op.
    pub fn append(
        &mut self,
        updates: impl IntoIterator<Item = impl AsRef<[u8]>>,
    ) -> Result<AppendStats, Error> {
        self.cut_partial_write()?;

        let mut buf = Vec::new();
        let mut records = 0;
        for update in updates {
            let update = update.as_ref();
            if !update.is_empty() {
                format::encode_record(update, &mut buf);
                records += 1;
            }
        }
        if records == 0 {
            return Ok(AppendStats::default());
        }

        let started = std::time::Instant::now();
        if let Err(e) = self.file.write_all(&buf) {
            crate::metrics::failed("append");
            self.needs_truncate = true;
            if let Err(cut) = self.cut_partial_write() {
                tracing::warn!(
                    path = %self.path.display(),
                    error = %cut,
                    "could not cut a failed append back; retrying before the next append"
                );
            }
            return Err(Error::io(&self.path, e));
        }
        self.len += buf.len() as u64;
        self.records += records;

        self.metrics.appended(started, buf.len() as u64);
        match self.durability {
            Durability::None => Ok(()),
            Durability::Flush => self.file.flush(),
            Durability::Fsync => {
                let started = std::time::Instant::now();
                let synced = self.file.sync_data();
                match &synced {
                    Ok(()) => self.metrics.synced(started),
                    Err(_) => crate::metrics::failed("sync"),
                }
                synced
            }
        }
        .map_err(|e| Error::io(&self.path, e))?;

        Ok(AppendStats {
            records,
            bytes: buf.len() as u64,
            synced: self.durability == Durability::Fsync,
        })
    }

    /// A second handle on the file, to sync it without holding the log: a group
    /// commit syncs while appends go on. It names the file open now: a squash
    /// replaces the file, and the handle then syncs the old one.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the handle cannot be made.
    pub fn sync_handle(&self) -> Result<File, Error> {
        self.file.try_clone().map_err(|e| Error::io(&self.path, e))
    }

    /// Where the log records its appends and syncs (a group commit syncing through
    /// a [`sync_handle`](Self::sync_handle) records there too).
    pub(crate) fn metrics(&self) -> &FileMetrics {
        &self.metrics
    }

    /// Sets how later appends are made durable (a group commit appends with
    /// [`Durability::None`] and syncs through a [`sync_handle`](Self::sync_handle)).
    pub fn set_durability(&mut self, durability: Durability) {
        self.durability = durability;
    }

    /// Forces everything appended so far onto stable storage, whatever the
    /// log's [`Durability`]: call it on shutdown when appending with
    /// [`Durability::None`] or [`Durability::Flush`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the sync fails.
    pub fn sync(&mut self) -> Result<(), Error> {
        let started = std::time::Instant::now();
        match self.file.sync_data() {
            Ok(()) => {
                self.metrics.synced(started);
                Ok(())
            }
            Err(e) => {
                crate::metrics::failed("sync");
                Err(Error::io(&self.path, e))
            }
        }
    }

    /// Atomically replaces the whole log with one record holding
    /// `merged_update`, the document's state as one Yjs v1 update.
    ///
    /// The caller computes it, from the records returned by [`open`] plus
    /// everything appended since: with [`merge_records`](crate::merge_records),
    /// or through a `yrs::Doc` with
    /// `encode_state_as_update_v1(&StateVector::default())` (see
    /// [`merge_records`](crate::merge_records)). An empty `merged_update` (or `00 00`, the empty
    /// document) leaves a log with no records.
    ///
    /// The new content is written to a temp file next to the log
    /// (`.{name}.tmp`), locked, synced, renamed over the log, and the
    /// directory is synced; the log then continues on the new file. A crash at
    /// any point leaves either the old file or the new one.
    ///
    /// [`open`]: UpdateLog::open
    ///
    /// # Errors
    ///
    /// - [`Error::Decode`] if `merged_update` is not a valid Yjs v1 update
    ///   (checked first: it replaces the whole history);
    /// - [`Error::Io`] if the temp file cannot be written or renamed; the log
    ///   is then unchanged and the temp file removed. If only the final
    ///   directory sync fails, the squash has happened (the log already uses
    ///   the new file) but may not survive a power loss.
    ///
    /// ```
    /// use wire_file::{Durability, UpdateLog, merge_records};
    /// use yrs::{Doc, Text, Transact, ReadTxn};
    ///
    /// let doc = Doc::new();
    /// let text = doc.get_or_insert_text("t");
    /// let mut updates = Vec::new();
    /// for _ in 0..3 {
    ///     let before = doc.transact().state_vector();
    ///     text.push(&mut doc.transact_mut(), "abc");
    ///     updates.push(doc.transact().encode_diff_v1(&before));
    /// }
    ///
    /// let dir = tempfile::tempdir()?;
    /// let (mut log, _) = UpdateLog::open(dir.path().join("doc.y"), Durability::default())?;
    /// log.append(&updates)?;
    /// let stats = log.squash(&merge_records(&updates)?)?;
    /// assert_eq!(log.record_count(), 1);
    /// assert_eq!(stats.bytes_after, log.len());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn squash(&mut self, merged_update: &[u8]) -> Result<SquashStats, Error> {
        let temp = temp_path(&self.path);
        self.squash_via(&temp, merged_update)
    }

    /// [`UpdateLog::squash`] through the temp file `temp` (a parameter so that
    /// tests can make it fail).
    fn squash_via(&mut self, temp: &Path, merged_update: &[u8]) -> Result<SquashStats, Error> {
        // `00 00` (no structs, empty delete set) is how yrs encodes an empty
        // document: as a record it would say nothing, so there is none.
        let carries_nothing = merged_update.is_empty() || merged_update == [0, 0];
        if !carries_nothing {
            Update::decode_v1(merged_update).map_err(|source| Error::Decode {
                path: None, // not a record of the file: the new content
                index: 0,
                source,
            })?;
        }
        let mut content = format::encode_header();
        let mut records = 0;
        if !carries_nothing {
            format::encode_record(merged_update, &mut content);
            records = 1;
        }

        // A leftover of an earlier failed squash (its cleanup failed too) would make
        // `create_new` fail for ever: the lock is held, so it is ours to remove.
        // Only a file: `remove_file` leaves a directory (or anything else) alone.
        let _ = fs::remove_file(temp);
        // `create_new` so that nothing already at `temp` is ever clobbered.
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(temp)
            .map_err(|e| Error::io(temp, e))?;
        // The new file keeps the old one's mode: a log made private (0600)
        // must not come out of a squash readable by everyone (umask default).
        let mode = self.file.metadata().map(|m| m.permissions());
        let replaced = lock(&file, temp)
            .and_then(|()| {
                mode.and_then(|mode| file.set_permissions(mode))
                    .and_then(|()| (&file).write_all(&content))
                    .and_then(|()| file.sync_all())
                    .map_err(|e| Error::io(temp, e))
            })
            .and_then(|()| fs::rename(temp, &self.path).map_err(|e| Error::io(&self.path, e)));
        if let Err(e) = replaced {
            drop(file);
            if let Err(remove) = fs::remove_file(temp) {
                tracing::warn!(
                    path = %temp.display(),
                    error = %remove,
                    "could not remove the temp file of a failed squash"
                );
            }
            return Err(e);
        }

        // The rename has happened: the new file *is* the log now, whatever
        // comes next. Dropping the old handle releases the lock on the old,
        // now unlinked, file.
        let bytes_before = self.len;
        self.file = file;
        self.len = content.len() as u64;
        self.records = records;
        self.needs_truncate = false;
        sync_dir(&parent_dir(&self.path))?;

        Ok(SquashStats {
            bytes_before,
            bytes_after: self.len,
        })
    }

    /// Reads every record back from the file, in file order.
    ///
    /// This is the input of a squash done long after [`open`](UpdateLog::open)
    /// (a client closing): the log holds the lock, so the file holds exactly
    /// what was read at open plus what was appended since.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be read, or no longer holds the
    /// [`len`](UpdateLog::len) bytes of whole records this log wrote (it was
    /// changed behind the lock's back).
    pub fn read_records(&mut self) -> Result<Vec<Vec<u8>>, Error> {
        let mut bytes = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        let mut file = &self.file;
        // The file is in append mode: the position only matters to reads,
        // every write still goes to the end.
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.take(self.len).read_to_end(&mut bytes))
            .map_err(|e| Error::io(&self.path, e))?;
        let parsed = format::parse(&bytes).map_err(|e| e.at_path(&self.path))?;
        if parsed.valid_len as u64 != self.len || parsed.torn.is_some() {
            return Err(Error::io(
                &self.path,
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the log should hold {} bytes of whole records but holds {}; \
                         was it changed by another program?",
                        self.len, parsed.valid_len
                    ),
                ),
            ));
        }
        Ok(parsed.records.iter().map(|r| r.to_vec()).collect())
    }

    /// Length of the file in bytes: header and whole records.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the log holds no records (it always holds its header, so
    /// [`len`](UpdateLog::len) is never 0).
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Number of records in the file.
    pub fn record_count(&self) -> usize {
        self.records
    }

    /// The path the log was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The [`Durability`] applied after each append.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Cuts off what a failed append may have left after the valid content.
    fn cut_partial_write(&mut self) -> Result<(), Error> {
        if self.needs_truncate {
            self.file
                .set_len(self.len)
                .map_err(|e| Error::io(&self.path, e))?;
            self.needs_truncate = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
