//! [`Target`]: what a link keeps in sync with Redis — a room of a server, or a
//! client's own document and awareness.

use wiredb::yrs::Doc;
use wiredb::yrs::sync::Awareness;
use wiredb::{Room, SharedAwareness, lock_unpoisoned};

/// A document and its awareness.
pub(crate) trait Target: Send + Sync + 'static {
    /// Names it in logs and errors (the room id).
    fn name(&self) -> &str;
    fn doc(&self) -> &Doc;
    fn with_awareness<R>(&self, f: impl FnOnce(&mut Awareness) -> R) -> R;
}

impl Target for Room {
    fn name(&self) -> &str {
        self.id()
    }

    fn doc(&self) -> &Doc {
        Room::doc(self)
    }

    fn with_awareness<R>(&self, f: impl FnOnce(&mut Awareness) -> R) -> R {
        Room::with_awareness(self, f)
    }
}

/// A client's document, with an awareness that may be shared with the application.
pub(crate) struct Standalone {
    pub(crate) name: String,
    pub(crate) doc: Doc,
    pub(crate) awareness: SharedAwareness,
}

impl Target for Standalone {
    fn name(&self) -> &str {
        &self.name
    }

    fn doc(&self) -> &Doc {
        &self.doc
    }

    fn with_awareness<R>(&self, f: impl FnOnce(&mut Awareness) -> R) -> R {
        f(&mut lock_unpoisoned(&self.awareness))
    }
}

impl<T: Target> Target for std::sync::Arc<T> {
    fn name(&self) -> &str {
        T::name(self)
    }

    fn doc(&self) -> &Doc {
        T::doc(self)
    }

    fn with_awareness<R>(&self, f: impl FnOnce(&mut Awareness) -> R) -> R {
        T::with_awareness(self, f)
    }
}
