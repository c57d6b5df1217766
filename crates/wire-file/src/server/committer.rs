//! [`Committer`]: group commit for every room of a server at once.
//!
//! Each interval, one task wakes and one job on the blocking pool syncs every room
//! file written since the last pass. One task per room did the same work with a
//! timer and a hand-off to a blocking thread per room and interval: on 2 cores with
//! 20 busy rooms, those hand-offs cost more CPU than the syncs themselves
//! (`cargo bench -p wiredb-cli --bench loopback -- --only b`, `wiredb-files` against
//! `wiredb-nosync`; see docs/performance.md).
//!
//! The task starts with the first room registered and ends when no room is left; the
//! final sync of a closing room is its close's, not this task's.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::room_log::RoomLog;
use crate::blocking::blocking;

/// The rooms whose files wait for a group commit, and its task.
pub(super) struct Committer {
    shared: Arc<Shared>,
}

struct Shared {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Weak: a room's log goes with its room; a closed one is dropped at the next
    /// pass.
    logs: Vec<Weak<RoomLog>>,
    running: bool,
}

impl Committer {
    /// Syncs each registered file at most once per `interval`.
    pub(super) fn new(interval: Duration) -> Self {
        Committer {
            shared: Arc::new(Shared {
                interval,
                state: Mutex::default(),
            }),
        }
    }

    /// Adds `log` to the passes, starting the task if it is not running. Called
    /// from a room's open, inside the runtime.
    pub(super) fn register(&self, log: &Arc<RoomLog>) {
        let mut state = wiredb::lock_unpoisoned(&self.shared.state);
        state.logs.push(Arc::downgrade(log));
        if !state.running {
            state.running = true;
            tokio::spawn(run(self.shared.clone()));
        }
    }
}

async fn run(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(shared.interval).await;
        let mut dirty: Vec<Arc<RoomLog>> = Vec::new();
        {
            let mut state = wiredb::lock_unpoisoned(&shared.state);
            // One pass: gone and closed logs leave, written ones are taken.
            state.logs.retain(|log| match log.upgrade() {
                Some(log) if !log.is_closed() => {
                    if log.is_dirty() {
                        dirty.push(log);
                    }
                    true
                }
                _ => false,
            });
            if state.logs.is_empty() {
                // Decided under the lock that `register` takes: a room registered
                // from here on starts a new task.
                state.running = false;
                return;
            }
        }
        if dirty.is_empty() {
            continue;
        }
        let pass = blocking("group commit", move || {
            for log in dirty {
                log.sync_if_dirty();
            }
        });
        if let Err(error) = pass.await {
            // The runtime is shutting down: the rooms' closes sync what is left.
            tracing::debug!(%error, "group commit pass did not run");
        }
    }
}
