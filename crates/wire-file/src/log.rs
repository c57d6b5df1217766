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

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use yrs::Update;
use yrs::updates::decoder::Decode;

use crate::Error;
use crate::format;

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
}

/// How many times [`open_locked`] retries when a concurrent squash replaces
/// the file between its open and its lock.
const OPEN_ATTEMPTS: usize = 8;

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
        let path = path.as_ref();
        let file = open_locked(path)?;
        let mut bytes = Vec::new();
        (&file)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(path, e))?;
        let parsed = format::parse(&bytes).map_err(|e| e.at_path(path))?;
        let records: Vec<Vec<u8>> = parsed.records.iter().map(|r| r.to_vec()).collect();
        let checked = check(&records)?;
        // The lock is held: a temp file of an earlier squash can only be the
        // leftover of a process that crashed mid-squash.
        remove_stale_temp_file(path);

        let mut log = UpdateLog {
            file,
            path: path.to_path_buf(),
            len: parsed.valid_len as u64,
            records: records.len(),
            durability,
            needs_truncate: false,
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

        if let Err(e) = self.file.write_all(&buf) {
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

        match self.durability {
            Durability::None => Ok(()),
            Durability::Flush => self.file.flush(),
            Durability::Fsync => self.file.sync_data(),
        }
        .map_err(|e| Error::io(&self.path, e))?;

        Ok(AppendStats {
            records,
            bytes: buf.len() as u64,
            synced: self.durability == Durability::Fsync,
        })
    }

    /// Forces everything appended so far onto stable storage, whatever the
    /// log's [`Durability`]: call it on shutdown when appending with
    /// [`Durability::None`] or [`Durability::Flush`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the sync fails.
    pub fn sync(&mut self) -> Result<(), Error> {
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))
    }

    /// Atomically replaces the whole log with one record holding
    /// `merged_update`, the document's state as one Yjs v1 update.
    ///
    /// The caller computes it, from the records returned by [`open`] plus
    /// everything appended since: with [`merge_records`](crate::merge_records),
    /// or through a `yrs::Doc` with
    /// `encode_state_as_update_v1(&StateVector::default())` (see
    /// [`crate::merge`]). An empty `merged_update` (or `00 00`, the empty
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

/// Opens (creating if needed) and exclusively locks the file at `path`.
///
/// A squash renames a new file over the path. If that happens between our
/// open and our lock, we would hold the lock on the old, unlinked file, and
/// everything we appended would be lost: so after locking, check that the path
/// still names the file we hold, and start over if not.
fn open_locked(path: &Path) -> Result<File, Error> {
    for _ in 0..OPEN_ATTEMPTS {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        lock(&file, path)?;
        if is_still_at(&file, path)? {
            return Ok(file);
        }
    }
    // Squashed out from under us every time: someone else is busy with it.
    Err(Error::Locked {
        path: path.to_path_buf(),
    })
}

/// Takes the exclusive advisory lock on `file`, waiting at most [`LOCK_PATIENCE`].
///
/// Not a single try: a lock can be held for a moment by a process that is not a
/// writer at all. When any thread of a process forks (to spawn a child), the child
/// shares every open file and so every lock until it execs; a log closed and reopened
/// during that window would look locked. Real writers hold the lock far longer.
fn lock(file: &File, path: &Path) -> Result<(), Error> {
    let deadline = std::time::Instant::now() + LOCK_PATIENCE;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: path.to_path_buf(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(path, e)),
        }
    }
}

/// How long [`lock`] retries a lock held by someone else.
const LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(200);

/// Whether `path` still names the file `file` has open.
#[cfg(unix)]
fn is_still_at(file: &File, path: &Path) -> Result<bool, Error> {
    use std::os::unix::fs::MetadataExt;

    let held = file.metadata().map_err(|e| Error::io(path, e))?;
    match fs::metadata(path) {
        Ok(named) => Ok(held.dev() == named.dev() && held.ino() == named.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Whether `path` still names the file `file` has open (not checked off Unix).
#[cfg(not(unix))]
fn is_still_at(_file: &File, _path: &Path) -> Result<bool, Error> {
    Ok(true)
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates `dir` (and its missing ancestors) so that it survives a power
/// loss: each new directory's entry is synced in its parent, else the logs
/// synced inside it could vanish with it.
///
/// # Errors
///
/// [`Error::Io`] if a directory cannot be created or synced.
pub fn create_dir_durably(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        missing.push(d.to_path_buf());
        at = d.parent();
    }
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for created in missing.iter().rev() {
        sync_dir(&parent_dir(created))?;
    }
    Ok(())
}

/// Makes the creation or renaming of an entry in `dir` durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Directories cannot be opened, hence not synced, with std off Unix.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), Error> {
    Ok(())
}

/// Removes the temp file a crash in the middle of a squash of `target` left
/// behind (see [`temp_path`]). Called with `target`'s lock held, so that no
/// squash of it can be running. One `unlink`, no directory scan: a server
/// opens rooms in directories of many thousand logs. Best effort: a leftover
/// costs disk space, not data, so failing to remove one is only logged.
fn remove_stale_temp_file(target: &Path) {
    let stale = temp_path(target);
    match std::fs::remove_file(&stale) {
        Ok(()) => tracing::warn!(
            path = %stale.display(),
            "removed the temp file of a squash that did not finish (a crash?)"
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::debug!(path = %stale.display(), %error, "cannot remove stale temp file")
        }
    }
}

/// The temp-file path of a squash of `target`: `.{name}.tmp`.
///
/// Same directory, so that the rename is atomic (same file system); hidden,
/// so that it does not look like a log. One fixed name is enough: only the
/// holder of `target`'s lock squashes it, one squash at a time, and a name
/// known in advance is what lets [`remove_stale_temp_file`] find a leftover
/// without scanning the directory.
fn temp_path(target: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or("update-log".as_ref()));
    name.push(".tmp");
    parent_dir(target).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use yrs::{Doc, GetString, ReadTxn, Text, Transact};

    /// A temp dir and the path of a log inside it.
    fn setup() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("room_updates.y");
        (dir, path)
    }

    fn open(path: &Path) -> (UpdateLog, Vec<Vec<u8>>) {
        UpdateLog::open(path, Durability::default()).unwrap()
    }

    /// Real Yjs updates: each pushes `word` to the text "t".
    fn text_updates(words: &[&str]) -> Vec<Vec<u8>> {
        let doc = Doc::with_client_id(1);
        let text = doc.get_or_insert_text("t");
        words
            .iter()
            .map(|word| {
                let before = doc.transact().state_vector();
                text.push(&mut doc.transact_mut(), word);
                doc.transact().encode_diff_v1(&before)
            })
            .collect()
    }

    /// The string of text "t" after applying `updates` to a fresh doc.
    fn text_of(updates: &[impl AsRef<[u8]>]) -> String {
        let doc = Doc::new();
        let text = doc.get_or_insert_text("t");
        let mut txn = doc.transact_mut();
        for update in updates {
            txn.apply_update(Update::decode_v1(update.as_ref()).unwrap())
                .unwrap();
        }
        text.get_string(&txn)
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn new_log_is_just_the_header() {
        let (_dir, path) = setup();
        let (log, records) = open(&path);
        assert!(records.is_empty());
        assert_eq!(
            fs::read(&path).unwrap(),
            [0x30, 0x2e, 0x30, 0x2e, 0x31, 0x00]
        );
        assert_eq!(
            (log.len(), log.record_count(), log.is_empty()),
            (6, 0, true)
        );
        assert_eq!(log.path(), path);
        assert_eq!(log.durability(), Durability::Fsync);
    }

    #[test]
    fn exact_bytes_of_a_small_file() {
        let (_dir, path) = setup();
        let (mut log, _) = open(&path);
        let stats = log.append([&b"ab"[..], b"", b"xyz"]).unwrap();
        assert_eq!(
            stats,
            AppendStats {
                records: 2,
                bytes: 7,
                synced: true, // the default durability is Fsync
            }
        );
        log.append([vec![0x55; 128]]).unwrap();
        let mut expected = vec![0x30, 0x2e, 0x30, 0x2e, 0x31, 0x00];
        expected.extend_from_slice(&[0x02, b'a', b'b', 0x03, b'x', b'y', b'z']);
        expected.extend_from_slice(&[0x80, 0x01]);
        expected.extend_from_slice(&[0x55; 128]);
        assert_eq!(fs::read(&path).unwrap(), expected);
        assert_eq!(log.len(), expected.len() as u64);
        assert_eq!(log.record_count(), 3);
    }

    #[test]
    fn appends_round_trip_across_reopen() {
        let (_dir, path) = setup();
        let updates = text_updates(&["a", "bc", "def", "ghij", "k"]);
        for (i, durability) in [Durability::None, Durability::Flush, Durability::Fsync]
            .into_iter()
            .enumerate()
        {
            let (mut log, records) = UpdateLog::open(&path, durability).unwrap();
            assert_eq!(records.len(), i * 2);
            log.append(&updates[i * 2..(i * 2 + 2).min(updates.len())])
                .unwrap();
            log.sync().unwrap();
        }
        let (log, records) = open(&path);
        assert_eq!(records, updates);
        assert_eq!(log.record_count(), 5);
        assert_eq!(log.len(), fs::metadata(&path).unwrap().len());
        assert_eq!(text_of(&records), "abcdefghijk");
    }

    #[test]
    fn empty_batch_writes_nothing() {
        let (_dir, path) = setup();
        let (mut log, _) = open(&path);
        let none: [&[u8]; 0] = [];
        assert_eq!(log.append(none).unwrap(), AppendStats::default());
        assert_eq!(log.append([b""]).unwrap(), AppendStats::default());
        assert_eq!(fs::read(&path).unwrap(), format::HEADER);
    }

    #[test]
    fn every_truncation_of_the_last_record_is_repaired() {
        let (_dir, path) = setup();
        let updates = text_updates(&["one", "two", &"x".repeat(200)]);
        let (mut log, _) = open(&path);
        log.append(&updates).unwrap();
        drop(log);
        let whole = fs::read(&path).unwrap();
        let last_len = updates[2].len();
        assert!(last_len >= 128, "the last record needs a two-byte var-uint");
        let valid = whole.len() - 2 - last_len;

        for cut in valid + 1..whole.len() {
            fs::write(&path, &whole[..cut]).unwrap();
            let (log, records) = open(&path);
            assert_eq!(records, &updates[..2], "cut at {cut}");
            assert_eq!(log.len(), valid as u64);
            assert_eq!(log.record_count(), 2);
            assert_eq!(fs::read(&path).unwrap(), &whole[..valid], "cut at {cut}");
        }

        // And a repaired log is appendable as usual.
        let (mut log, _) = open(&path);
        log.append([&updates[2]]).unwrap();
        drop(log);
        assert_eq!(fs::read(&path).unwrap(), whole);
    }

    #[test]
    fn torn_header_starts_afresh() {
        let (_dir, path) = setup();
        fs::write(&path, b"0.0").unwrap();
        let (log, records) = open(&path);
        assert!(records.is_empty());
        assert_eq!(log.len(), 6);
        assert_eq!(fs::read(&path).unwrap(), format::HEADER);
    }

    #[test]
    fn absurd_declared_length_is_cut_off_without_allocating() {
        let (_dir, path) = setup();
        let mut bytes = format::encode_header();
        format::encode_record(b"kept", &mut bytes);
        let valid = bytes.len();
        // 2^60 as a var-uint: eight 0x80 bytes, then 0x10.
        bytes.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
        bytes.extend_from_slice(&[1; 50]);
        fs::write(&path, &bytes).unwrap();
        let (_log, records) = open(&path);
        assert_eq!(records, [b"kept".to_vec()]);
        assert_eq!(fs::read(&path).unwrap(), &bytes[..valid]);
    }

    #[test]
    fn version_mismatch_leaves_the_file_untouched() {
        let (_dir, path) = setup();
        let mut bytes = b"0.0.2\0".to_vec();
        format::encode_record(b"from the future", &mut bytes);
        bytes.push(0x7f); // also a torn tail: must not be "repaired" either
        fs::write(&path, &bytes).unwrap();

        let err = UpdateLog::open(&path, Durability::default()).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(&err, Error::VersionMismatch { path: Some(p), expected: "0.0.1", found }
                if p == &path && found == "0.0.2"),
            "{err:?}"
        );
        assert!(
            msg.contains("\"0.0.1\"") && msg.contains("\"0.0.2\""),
            "{msg}"
        );
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn foreign_file_is_not_an_update_log_and_left_untouched() {
        let (_dir, path) = setup();
        let bytes = vec![b'#'; 100];
        fs::write(&path, &bytes).unwrap();
        let err = UpdateLog::open(&path, Durability::default()).unwrap_err();
        assert!(matches!(&err, Error::NotAnUpdateLog { path: Some(p), .. } if p == &path));
        assert!(err.to_string().contains(&path.display().to_string()));
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn second_open_is_locked_until_the_first_is_dropped() {
        let (_dir, path) = setup();
        let (mut log, _) = open(&path);
        log.append([b"x"]).unwrap();
        let err = UpdateLog::open(&path, Durability::default()).unwrap_err();
        assert!(
            matches!(&err, Error::Locked { path: p } if p == &path),
            "{err:?}"
        );
        assert!(err.to_string().contains("locked"));
        drop(log);
        let (_log, records) = open(&path);
        assert_eq!(records, [b"x".to_vec()]);
    }

    #[test]
    fn missing_directory_is_an_io_error_naming_the_path() {
        let (dir, _) = setup();
        let path = dir.path().join("no-such-dir").join("x.y");
        let err = UpdateLog::open(&path, Durability::default()).unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: p, .. } if p == &path),
            "{err:?}"
        );
    }

    #[test]
    fn squash_keeps_the_content_in_one_record() {
        let (dir, path) = setup();
        let updates = text_updates(&["hello", ", ", "world", "!"]);
        let (mut log, _) = open(&path);
        log.append(&updates[..2]).unwrap();
        log.append(&updates[2..]).unwrap();
        let before = log.len();

        let merged = crate::merge_records(&updates).unwrap();
        let stats = log.squash(&merged).unwrap();
        assert_eq!(stats.bytes_before, before);
        assert_eq!(stats.bytes_after, log.len());
        assert_eq!(log.record_count(), 1);
        assert_eq!(
            entries(dir.path()),
            ["room_updates.y"],
            "no temp file remains"
        );

        // The log goes on on the new file, and still holds the lock.
        let more = {
            let doc = Doc::with_client_id(1);
            let text = doc.get_or_insert_text("t");
            doc.transact_mut()
                .apply_update(Update::decode_v1(&merged).unwrap())
                .unwrap();
            let before = doc.transact().state_vector();
            text.push(&mut doc.transact_mut(), " more");
            doc.transact().encode_diff_v1(&before)
        };
        log.append([&more]).unwrap();
        assert!(matches!(
            UpdateLog::open(&path, Durability::default()),
            Err(Error::Locked { .. })
        ));
        drop(log);

        let (log, records) = open(&path);
        assert_eq!(records, [merged, more]);
        assert_eq!(log.record_count(), 2);
        assert_eq!(text_of(&records), "hello, world! more");
    }

    #[test]
    fn squash_through_a_doc_works_too() {
        let (_dir, path) = setup();
        let updates = text_updates(&["abc", "def"]);
        let (mut log, _) = open(&path);
        log.append(&updates).unwrap();
        let doc = Doc::new();
        {
            let mut txn = doc.transact_mut();
            for update in &updates {
                txn.apply_update(Update::decode_v1(update).unwrap())
                    .unwrap();
            }
        }
        let state = doc
            .transact()
            .encode_state_as_update_v1(&yrs::StateVector::default());
        log.squash(&state).unwrap();
        drop(log);
        let (_log, records) = open(&path);
        assert_eq!(records, [state]);
        assert_eq!(text_of(&records), "abcdef");
    }

    #[test]
    fn squash_with_an_empty_update_leaves_no_records() {
        let (_dir, path) = setup();
        let (mut log, _) = open(&path);
        log.append(text_updates(&["x"])).unwrap();
        log.squash(&[]).unwrap();
        assert_eq!((log.record_count(), log.len()), (0, 6));
        assert_eq!(fs::read(&path).unwrap(), format::HEADER);
        // The empty document as yrs encodes it, too.
        log.append(text_updates(&["y"])).unwrap();
        log.squash(&[0, 0]).unwrap();
        assert_eq!((log.record_count(), log.len()), (0, 6));
    }

    #[test]
    fn failed_squash_leaves_the_log_intact() {
        let (dir, path) = setup();
        let updates = text_updates(&["a", "b"]);
        let (mut log, _) = open(&path);
        log.append(&updates).unwrap();
        let bytes = fs::read(&path).unwrap();
        let merged = crate::merge_records(&updates).unwrap();

        // The temp path is taken by a directory: creating the file fails.
        let temp = dir.path().join(".room_updates.y.tmp");
        fs::create_dir(&temp).unwrap();
        let err = log.squash_via(&temp, &merged).unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: p, .. } if p == &temp),
            "{err:?}"
        );
        assert!(temp.is_dir(), "a pre-existing entry is never clobbered");
        fs::remove_dir(&temp).unwrap();

        // The temp file is written but renaming fails (target is a directory).
        let elsewhere = dir.path().join("sub");
        fs::create_dir(&elsewhere).unwrap();
        let mut other = UpdateLog {
            path: elsewhere.clone(),
            ..open(&dir.path().join("other.y")).0
        };
        let temp2 = dir.path().join(".other.tmp");
        assert!(other.squash_via(&temp2, &merged).is_err());
        assert!(
            !temp2.exists(),
            "the temp file of a failed squash is removed"
        );

        // A garbage update is rejected before anything is written.
        let err = log.squash(&[0xff, 0xff, 0xff]).unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{err:?}");

        assert_eq!(fs::read(&path).unwrap(), bytes);
        assert_eq!(log.record_count(), 2);
        log.append([b"still appendable"]).unwrap();
        drop(log);
        let (_log, records) = open(&path);
        assert_eq!(records.len(), 3);
        assert_eq!(entries(dir.path()), ["other.y", "room_updates.y", "sub"]);
    }

    #[test]
    fn failed_append_is_cut_back_before_the_next_one() {
        let (_dir, path) = setup();
        let (mut log, _) = open(&path);
        log.append([b"whole"]).unwrap();
        // Simulate a write that died midway: a partial record at the end,
        // and a cut that could not be made at the time.
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(&[0x10, b'p', b'a'])
            .unwrap();
        log.needs_truncate = true;
        log.append([b"next"]).unwrap();
        drop(log);
        let (_log, records) = open(&path);
        assert_eq!(records, [b"whole".to_vec(), b"next".to_vec()]);
    }

    #[test]
    fn read_records_returns_what_open_and_append_wrote() {
        let (_dir, path) = setup();
        let (mut log, _) = open(&path);
        log.append([b"one", b"two"]).unwrap();
        drop(log);
        let (mut log, _) = open(&path);
        log.append([b"three"]).unwrap();
        assert_eq!(
            log.read_records().unwrap(),
            [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
        // Appends still go to the end after a read moved the position.
        log.append([b"four"]).unwrap();
        log.squash(&[]).unwrap();
        log.append([b"five"]).unwrap();
        assert_eq!(log.read_records().unwrap(), [b"five".to_vec()]);

        // Cut behind the log's back: an error, not a silent short read.
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(8)
            .unwrap();
        let err = log.read_records().unwrap_err();
        assert!(
            matches!(&err, Error::Io { path: p, .. } if p == &path),
            "{err:?}"
        );
    }

    #[test]
    fn temp_paths_are_hidden_siblings() {
        let a = temp_path(Path::new("/data/room_updates.y"));
        assert_eq!(a, Path::new("/data/.room_updates.y.tmp"));
        assert_eq!(temp_path(Path::new("x.y")), Path::new("./.x.y.tmp"));
    }

    #[test]
    fn nested_directories_are_created_once_and_then_left_alone() {
        let (dir, _) = setup();
        let nested = dir.path().join("a").join("b");
        create_dir_durably(&nested).unwrap();
        assert!(nested.is_dir());
        create_dir_durably(&nested).unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        assert!(matches!(
            create_dir_durably(&file.join("x")),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn records_after_a_zero_length_record_are_refused_and_left_untouched() {
        let (_dir, path) = setup();
        let mut bytes = format::encode_header();
        format::encode_record(b"one", &mut bytes);
        bytes.push(0);
        format::encode_record(b"two", &mut bytes);
        fs::write(&path, &bytes).unwrap();
        let err = UpdateLog::open(&path, Durability::default()).unwrap_err();
        assert!(
            matches!(err, Error::InvalidContent { path: Some(_), .. }),
            "{err:?}"
        );
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn a_crashed_squash_leaves_no_temp_file_after_the_next_open() {
        let (dir, path) = setup();
        drop(open(&path));
        // What a process killed between creating and renaming its temp file
        // leaves, next to another log's temp file, which must stay.
        let stale = dir.path().join(".room_updates.y.tmp");
        let other = dir.path().join(".other_updates.y.tmp");
        fs::write(&stale, b"0.0.1\0half").unwrap();
        fs::write(&other, b"0.0.1\0").unwrap();
        let (_log, records) = open(&path);
        assert!(records.is_empty());
        assert!(!stale.exists());
        assert!(other.exists());
    }

    #[cfg(unix)]
    #[test]
    fn squash_keeps_the_file_mode() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, path) = setup();
        let (mut log, _) = open(&path);
        log.append(text_updates(&["a", "b"])).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o604)).unwrap();
        let merged = log.read_records().unwrap();
        log.squash(&crate::merge::squashed_state(&merged).unwrap())
            .unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o604);
    }

    /// Random batches, random reopens, random crashes mid-append (simulated
    /// by cutting the file inside the last batch): the log always reopens
    /// with exactly the records of the whole batches written before.
    #[test]
    fn random_batches_survive_reopens_and_torn_tails() {
        let mut rng = StdRng::seed_from_u64(0x5eed_f11e);
        for round in 0..20 {
            let (_dir, path) = setup();
            let mut expected: Vec<Vec<u8>> = Vec::new();
            let (mut log, _) = open(&path);
            for _ in 0..rng.random_range(1..15) {
                let batch: Vec<Vec<u8>> = (0..rng.random_range(0..6))
                    .map(|_| {
                        let len = match rng.random_range(0..10) {
                            0 => 0,
                            1..=6 => rng.random_range(1..20),
                            7 | 8 => rng.random_range(100..300),
                            _ => rng.random_range(16_000..17_000),
                        };
                        (0..len).map(|_| rng.random()).collect()
                    })
                    .collect();
                let before = log.len();
                let stats = log.append(&batch).unwrap();
                assert_eq!(log.len() - before, stats.bytes);
                let written: Vec<Vec<u8>> = batch.into_iter().filter(|u| !u.is_empty()).collect();
                assert_eq!(stats.records, written.len());

                match rng.random_range(0..4) {
                    0 => {
                        // Reopen cleanly.
                        drop(log);
                        expected.extend(written);
                        let records;
                        (log, records) = open(&path);
                        assert_eq!(records, expected, "round {round}");
                    }
                    1 if stats.bytes > 0 => {
                        // Crash in the middle of this batch's write.
                        drop(log);
                        let cut = before + rng.random_range(0..stats.bytes);
                        let file = OpenOptions::new().write(true).open(&path).unwrap();
                        file.set_len(cut).unwrap();
                        drop(file);
                        let mut prefix = format::encode_header();
                        let mut kept = Vec::new();
                        for record in expected.iter().chain(&written) {
                            let mut next = prefix.clone();
                            format::encode_record(record, &mut next);
                            if next.len() as u64 > cut {
                                break;
                            }
                            prefix = next;
                            kept.push(record.clone());
                        }
                        let records;
                        (log, records) = open(&path);
                        assert_eq!(records, kept, "round {round}");
                        assert_eq!(log.len(), prefix.len() as u64);
                        assert_eq!(fs::read(&path).unwrap(), prefix);
                        expected = kept;
                    }
                    _ => expected.extend(written),
                }
                assert_eq!(log.record_count(), expected.len());
            }
            drop(log);
            let (_log, records) = open(&path);
            assert_eq!(records, expected, "round {round}");
        }
    }
}
