//! [`lock_unpoisoned`]: the one poison-recovering lock of the workspace.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, recovering it if a holder panicked.
///
/// Every `std` mutex in wiredb guards bookkeeping that is whole after each critical
/// section (a map insert, a counter, an awareness), so a panic elsewhere must not turn
/// into a cascade of panics in every task that touches it. Never hold the guard across
/// an `.await` (`clippy::await_holding_lock` is denied workspace-wide).
///
/// ```
/// use std::sync::Mutex;
///
/// let shared = Mutex::new(1);
/// *wiredb::lock_unpoisoned(&shared) += 1;
/// assert_eq!(*wiredb::lock_unpoisoned(&shared), 2);
/// ```
pub fn lock_unpoisoned<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
