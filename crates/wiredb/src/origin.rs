//! Process-wide unique transaction origins.
//!
//! Every connection (a room's peer, a provider) tags the transactions it applies with
//! its own origin, and observers skip changes carrying it: that is how an update is
//! fanned out to everyone *but* the peer it came from, even when several rooms and
//! providers share one `Doc`. A counter shared by the whole process keeps origins of
//! different rooms and providers distinct.

use std::sync::atomic::{AtomicU64, Ordering};

use yrs::Origin;

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A transaction origin no other call in this process returns.
pub fn unique_origin(kind: &str) -> Origin {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    Origin::from(format!("wiredb:{kind}:{n}"))
}
