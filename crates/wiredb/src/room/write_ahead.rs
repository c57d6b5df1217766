//! Write-ahead: a room's updates handed to storage *before* they are relayed.
//!
//! A room with an [`UpdateSink`] writes every update (from a peer, an upstream link, a
//! hook) inside the document's update observer, and fans it out only once the sink has
//! taken it: a process crash can then never lose an edit another client has seen.
//! When the sink fails (a full disk, a revoked permission) the room stops: the update
//! is not relayed, every peer is closed with the reason, and nothing more is answered
//! or relayed until the room has closed and is opened again from storage. Its author
//! still has the edit, and a y-protocols client sends it again on reconnect.

use std::sync::{Arc, OnceLock};

use crate::error::BoxError;

/// Where a room's updates are written before they are relayed (a file, a stream).
///
/// Called from inside the document's update observer, on the task that applied the
/// update: it must not wait on anything async, and should be quick (a `write(2)` to
/// the page cache; leave `fsync` to a background task, as group commit does).
pub trait UpdateSink: Send + Sync + 'static {
    /// Writes one Yjs v1 update. `Ok` means written (handed to the kernel, at least):
    /// the update is then relayed. An error stops the room (see the module docs).
    fn write(&self, update: &[u8]) -> Result<(), BoxError>;
}

/// The room's sink and, once it has failed, why.
#[derive(Default)]
pub(crate) struct WriteAhead {
    sink: OnceLock<Arc<dyn UpdateSink>>,
    failure: OnceLock<String>,
}

/// What to do with an update that was just applied.
pub(crate) enum Verdict {
    /// Relay it.
    Relay,
    /// Do not relay it; the room has failed (just now: `stop` is true, so that the
    /// caller stops the room once).
    Withhold { stop: bool },
}

impl WriteAhead {
    /// Installs `sink`; false if one was installed already.
    pub(crate) fn install(&self, sink: Arc<dyn UpdateSink>) -> bool {
        self.sink.set(sink).is_ok()
    }

    /// Whether a sink is installed (a room without one writes nothing).
    pub(crate) fn has_sink(&self) -> bool {
        self.sink.get().is_some()
    }

    /// Writes `update` if there is a sink, and says whether it may be relayed.
    pub(crate) fn write(&self, update: &[u8]) -> Verdict {
        if self.failure.get().is_some() {
            return Verdict::Withhold { stop: false };
        }
        let Some(sink) = self.sink.get() else {
            return Verdict::Relay;
        };
        match sink.write(update) {
            Ok(()) => Verdict::Relay,
            Err(error) => {
                let first = self.failure.set(error.to_string()).is_ok();
                Verdict::Withhold { stop: first }
            }
        }
    }

    /// Fails the room for `reason` without writing (see [`WriteAhead::write`]).
    pub(crate) fn fail(&self, reason: &str) -> Verdict {
        let first = self.failure.set(reason.to_owned()).is_ok();
        Verdict::Withhold { stop: first }
    }

    /// Why the room's storage failed, once it has.
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }
}

/// A shared handle, for the observer and the room.
pub(crate) type SharedWriteAhead = Arc<WriteAhead>;
