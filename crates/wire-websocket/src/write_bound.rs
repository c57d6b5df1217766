//! Writes bounded by the time in which *no byte moves*, not by their total duration:
//! a peer that takes nothing is dropped, a slow but steady one gets a frame of any
//! size (see [`crate::progress`] for why).

use std::time::Duration;

use tokio::time::Instant;
use wiredb::{Error, Result};

use crate::keepalive::later;
use crate::progress::Progress;

/// Runs `write`, failing with [`KeepAliveTimeout`] once `limit` has passed with no
/// progress (`None`: no limit). Progress is bytes moving either way, as `progress`
/// counts them; without a tracker, `limit` bounds the whole write.
///
/// Almost every write completes at its first poll (the socket buffer has room): those
/// cost no timer. Only a write that has to wait gets one, boxed, so that the rare
/// timer does not enlarge every connection's writer task (idle memory is the budget
/// that matters at 10k connections).
///
/// `write` comes pinned by the caller so that its state is stored once, in the
/// caller's future, not copied into this one's.
pub(crate) async fn bounded<F>(
    limit: Option<Duration>,
    progress: Option<&Progress>,
    mut write: std::pin::Pin<&mut F>,
) -> Result<()>
where
    F: Future<Output = Result<()>>,
{
    let Some(limit) = limit else {
        return write.await;
    };
    if let Some(done) = futures_util::FutureExt::now_or_never(write.as_mut()) {
        return done;
    }
    Box::pin(while_progressing(limit, progress, write)).await
}

/// The slow path of [`bounded`]: waits for `write` one `limit` at a time, and fails
/// at the end of a window in which no byte moved either way (so after between one
/// and two `limit`s without progress; without a tracker, after one).
async fn while_progressing<F>(
    limit: Duration,
    progress: Option<&Progress>,
    mut write: std::pin::Pin<&mut F>,
) -> Result<()>
where
    F: Future<Output = Result<()>>,
{
    // Bytes read count too: a peer busy sending us a large frame takes nothing
    // meanwhile, and is alive (each end waiting for the other to read would
    // otherwise drop a healthy connection).
    let mut seen = progress.map(Progress::moved);
    loop {
        tokio::select! {
            done = write.as_mut() => return done,
            () = tokio::time::sleep_until(later(Instant::now(), limit)) => {
                let now = progress.map(Progress::moved);
                if now.is_none() || now == seen {
                    return Err(Error::transport(KeepAliveTimeout(limit)));
                }
                seen = now;
            }
        }
    }
}

/// The peer did not answer a keepalive ping.
#[derive(Debug, thiserror::Error)]
#[error("no answer to a keepalive ping within {0:?}")]
pub(crate) struct KeepAliveTimeout(pub(crate) Duration);
