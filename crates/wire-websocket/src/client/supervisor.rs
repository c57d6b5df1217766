//! The client's background task: one provider per connection, reconnecting with
//! backoff when a connection drops, until the client is closed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::{Instant, interval_at};
use wiredb::Provider;

use super::backoff::Jitter;
use super::{Inner, Link, forget_remote_awareness, open_socket, renew_local_awareness};
use crate::channel::ClientChannel;
use crate::close::PeerClosed;
use crate::error::Error;

/// y-protocols peers expire awareness states after 30 s; renew at half that, as the
/// JavaScript awareness does.
const AWARENESS_RENEWAL: Duration = Duration::from_secs(15);

pub(super) async fn run(inner: Arc<Inner>, first: ClientChannel) {
    let mut jitter = Jitter::new(Arc::as_ptr(&inner) as usize);
    let mut next = Some(first);
    let mut attempt = 0u32;
    loop {
        let channel = match next.take() {
            Some(channel) => channel,
            None => {
                let opened = tokio::select! {
                    opened = open_socket(&inner.url, &inner.config) => opened,
                    () = inner.stop.cancelled() => return close_link(&inner, None),
                };
                match opened {
                    Ok(channel) => channel,
                    Err(error) if refuses_for_good(&error) => {
                        tracing::warn!(url = %inner.url, %error, "server refused the reconnection; giving up");
                        return close_link(&inner, Some(error));
                    }
                    Err(error) => {
                        tracing::debug!(url = %inner.url, %error, attempt, "reconnection failed");
                        if !retry_after_backoff(&inner, &mut attempt, &mut jitter, error).await {
                            return;
                        }
                        continue;
                    }
                }
            }
        };
        let config = inner
            .config
            .provider
            .clone()
            .auto_push(inner.auto_push.load(Ordering::Acquire))
            .awareness(inner.awareness.clone());
        let provider = Arc::new(Provider::spawn(inner.doc.clone(), channel, config));
        inner.link.send_replace(Link::Connected(provider.clone()));
        tracing::debug!(url = %inner.url, "connected");

        let ended = follow_connection(&inner, &provider, &mut attempt).await;
        // Not connected any more, whatever comes next: `state()` and `push()` must not
        // report the dead provider's `Closed` while a reconnection is pending.
        inner.link.send_replace(Link::Connecting);
        drop(provider);
        forget_remote_awareness(&inner.awareness);
        if inner.closing.load(Ordering::Acquire) || inner.stop.is_cancelled() {
            return close_link(&inner, None);
        }
        let error = match ended {
            Err(error) if error.permission_denied().is_some() => {
                // Retrying cannot change the server's mind.
                return close_link(&inner, Some(error.into()));
            }
            Err(error) if PeerClosed::of(&error).is_some_and(|closed| closed.code == 1009) => {
                // Our document (its handshake) is over the server's frame limit:
                // every new connection would send it again and be closed again.
                tracing::warn!(url = %inner.url, %error, "server closed: frame too big; giving up");
                return close_link(&inner, Some(error.into()));
            }
            Err(error) => Error::from(error),
            Ok(()) => Error::Core(wiredb::Error::ChannelClosed),
        };
        tracing::info!(url = %inner.url, %error, "connection lost");
        if !retry_after_backoff(&inner, &mut attempt, &mut jitter, error).await {
            return;
        }
    }
}

/// Follows one connection until it ends (or the client stops): renews the local
/// awareness state and resets the backoff once the connection has synced.
async fn follow_connection(
    inner: &Inner,
    provider: &Provider,
    attempt: &mut u32,
) -> wiredb::Result<()> {
    // Pinned once: `Provider::wait` takes the task handle on its first poll.
    let ended = provider.wait();
    tokio::pin!(ended);
    let synced = provider.synced();
    tokio::pin!(synced);
    let mut is_synced = false;
    let mut renewal = interval_at(Instant::now() + AWARENESS_RENEWAL, AWARENESS_RENEWAL);
    loop {
        tokio::select! {
            result = &mut ended => return result,
            result = &mut synced, if !is_synced => {
                is_synced = true;
                if result.is_ok() {
                    *attempt = 0;
                }
            }
            _ = renewal.tick() => renew_local_awareness(&inner.awareness),
            () = inner.stop.cancelled() => {
                // Sends what is queued and a close frame, then the task ends.
                let _ = provider.close().await;
                return ended.await;
            }
        }
    }
}

/// Waits out the backoff before the next attempt. False when the client should stop:
/// reconnect is off, attempts are used up, or the client was closed meanwhile.
async fn retry_after_backoff(
    inner: &Inner,
    attempt: &mut u32,
    jitter: &mut Jitter,
    error: Error,
) -> bool {
    let delay = match &inner.config.reconnect {
        Some(backoff) => backoff.delay(*attempt, jitter),
        None => None,
    };
    let Some(delay) = delay else {
        close_link(inner, Some(error));
        return false;
    };
    *attempt = attempt.saturating_add(1);
    inner.link.send_replace(Link::Connecting);
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = inner.stop.cancelled() => {
            close_link(inner, None);
            false
        }
    }
}

/// Whether a failed reconnection is the server's final word: an HTTP client error
/// (401, 403, 404, ... a connect hook refusing) stays one on the next attempt; a
/// timeout (408), rate limit (429) or server error (503 while it restarts) may not.
fn refuses_for_good(error: &Error) -> bool {
    matches!(error, Error::Rejected { status, .. }
        if (400..500).contains(status) && *status != 408 && *status != 429)
}

fn close_link(inner: &Inner, error: Option<Error>) {
    inner
        .link
        .send_replace(Link::Closed(error.map(Error::shared)));
}
