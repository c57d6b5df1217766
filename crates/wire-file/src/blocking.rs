//! Running file work off the runtime's worker threads.

use crate::Error;

/// Runs `f` on Tokio's blocking thread pool and waits for it: file I/O,
/// `fsync` and replaying a big log would otherwise stall every other task on
/// the worker (a whole server, on a current-thread runtime).
///
/// `task` names the work in the [`Error::Background`] returned if `f` panics
/// or the runtime shuts down under it.
pub(crate) async fn blocking<T: Send + 'static>(
    task: &'static str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|source| Error::Background { task, source })
}
