//! The one error type of this crate.
//!
//! Every variant says *which file* it is about when there is one, because a
//! server keeps one log per room and "permission denied" alone does not tell an
//! operator which of a thousand files to look at.

use std::fmt;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while reading, appending to or squashing an
/// update log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on `path` failed (open, read, write, sync, rename,
    /// lock, ...).
    #[error("I/O error on update log {}: {source}", path.display())]
    Io {
        /// The file or directory the failed operation was about.
        path: PathBuf,
        /// The underlying operating-system error.
        #[source]
        source: std::io::Error,
    },

    /// The file starts with a version string this crate does not write.
    ///
    /// The file is left untouched: it may belong to a newer release, and
    /// "repairing" it would destroy data.
    #[error(
        "update log{} has format version {found:?}, but this build reads and writes version {expected:?}",
        OptPath(path)
    )]
    VersionMismatch {
        /// The file, when the bytes came from one.
        path: Option<PathBuf>,
        /// The version this crate reads and writes ([`crate::FORMAT_VERSION`]).
        expected: &'static str,
        /// The version string found in the file (lossily decoded as UTF-8).
        found: String,
    },

    /// The data does not start with a `version NUL` header at all, so it is
    /// most likely some other kind of file; it is left untouched.
    #[error("{} is not an update log: {reason}", OptPath(path).or_it())]
    NotAnUpdateLog {
        /// The file, when the bytes came from one.
        path: Option<PathBuf>,
        /// What is wrong with the header.
        reason: String,
    },

    /// Another [`UpdateLog`](crate::UpdateLog), in this process or another
    /// one, holds the exclusive lock on `path`.
    ///
    /// Two writers appending to one log would interleave records, and a squash
    /// by one would silently discard the other's later appends.
    #[error("update log {} is locked by another writer", path.display())]
    Locked {
        /// The locked file.
        path: PathBuf,
    },

    /// yrs could not decode an update (record `index` of the batch being
    /// merged or squashed). A file whose records do not decode is refused at
    /// open and left untouched.
    #[error(
        "record {index}{} is not a valid Yjs v1 update: {source}",
        OfPath(path)
    )]
    Decode {
        /// The file, when the records came from one.
        path: Option<PathBuf>,
        /// Position of the offending update in its input, counted from 0.
        index: usize,
        /// Why yrs rejected it.
        #[source]
        source: yrs::encoding::read::Error,
    },

    /// The records decode, but yrs refused to apply them to a document (while
    /// squashing), so the log does not hold a document this build can rebuild.
    /// The file is left untouched.
    #[error("update log{} does not hold a valid document: {reason}", OptPath(path))]
    InvalidContent {
        /// The file, when known.
        path: Option<PathBuf>,
        /// What yrs reported.
        reason: String,
    },

    /// The document side of a file client failed: the core's provider or
    /// protocol reported an error (for example the client was already closed
    /// when [`push`](crate::AsyncFileClient::push) was called).
    #[error(transparent)]
    Core(#[from] wiredb::Error),

    /// A background task of a file client or server ended abnormally (it
    /// panicked, or the runtime shut down under it), so the work it was doing,
    /// named in `task`, may not have happened.
    #[error("wire-file background task `{task}` failed: {source}")]
    Background {
        /// Which task: `"load"`, `"append"`, `"squash"`, `"writer"`, ...
        task: &'static str,
        /// The panic (with its message) or the runtime's shutdown.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl Error {
    /// Builds an [`Error::Io`] about `path`.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Attaches `path` to an error produced without one (by
    /// [`parse_log`](crate::parse_log) from bare bytes, or while
    /// rebuilding a document from records, as [`merge_records`](crate::merge_records) does); errors
    /// that name their file already, or have none, are returned as they are.
    pub fn at_path(mut self, at: &Path) -> Self {
        match &mut self {
            Error::VersionMismatch { path, .. }
            | Error::NotAnUpdateLog { path, .. }
            | Error::InvalidContent { path, .. }
            | Error::Decode { path, .. } => {
                *path = Some(at.to_path_buf());
            }
            _ => {}
        }
        self
    }
}

/// Formats an optional path as `" at <path>"` (or nothing).
struct OptPath<'a>(&'a Option<PathBuf>);

impl OptPath<'_> {
    /// Formats as the path itself, or "the data" when there is none.
    fn or_it(&self) -> String {
        match self.0 {
            Some(path) => path.display().to_string(),
            None => "the data".to_owned(),
        }
    }
}

/// Formats an optional path as `" of update log <path>"` (or nothing).
struct OfPath<'a>(&'a Option<PathBuf>);

impl fmt::Display for OfPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(f, " of update log {}", path.display()),
            None => Ok(()),
        }
    }
}

impl fmt::Display for OptPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(f, " {}", path.display()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_path_and_both_versions() {
        let err = Error::VersionMismatch {
            path: None,
            expected: "0.0.1",
            found: "9.9".into(),
        }
        .at_path(Path::new("/data/room_updates.y"));
        let msg = err.to_string();
        assert!(msg.contains("/data/room_updates.y"), "{msg}");
        assert!(
            msg.contains("\"0.0.1\"") && msg.contains("\"9.9\""),
            "{msg}"
        );

        let err = Error::NotAnUpdateLog {
            path: None,
            reason: "no header".into(),
        };
        assert_eq!(err.to_string(), "the data is not an update log: no header");
    }
}
