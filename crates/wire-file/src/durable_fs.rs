//! The durable-filesystem helpers under [`UpdateLog`](crate::UpdateLog): an exclusive
//! lock that survives a rename race, directories created so that they survive a power
//! loss, and the temp file of an atomic squash.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use crate::Error;

/// How many times [`open_locked`] retries when a concurrent squash replaces
/// the file between its open and its lock.
const OPEN_ATTEMPTS: usize = 8;

/// Opens (creating if needed) and exclusively locks the file at `path`.
///
/// A squash renames a new file over the path. If that happens between our
/// open and our lock, we would hold the lock on the old, unlinked file, and
/// everything we appended would be lost: so after locking, check that the path
/// still names the file we hold, and start over if not.
pub(crate) fn open_locked(path: &Path) -> Result<File, Error> {
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
pub(crate) fn lock(file: &File, path: &Path) -> Result<(), Error> {
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
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
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
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Directories cannot be opened, hence not synced, with std off Unix.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> Result<(), Error> {
    Ok(())
}

/// Removes the temp file a crash in the middle of a squash of `target` left
/// behind (see [`temp_path`]). Called with `target`'s lock held, so that no
/// squash of it can be running. One `unlink`, no directory scan: a server
/// opens rooms in directories of many thousand logs. Best effort: a leftover
/// costs disk space, not data, so failing to remove one is only logged.
pub(crate) fn remove_stale_temp_file(target: &Path) {
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
pub(crate) fn temp_path(target: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or("update-log".as_ref()));
    name.push(".tmp");
    parent_dir(target).join(name)
}
