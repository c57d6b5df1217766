//! A link: one document (a room, or a client's doc) kept in sync with its room in
//! Redis. Local changes are appended to the room's stream; entries other links wrote
//! are read with a blocking read and applied; awareness goes the same way, with the
//! states of remote clients dropped when they stop being renewed; and the link takes
//! its turn compacting the stream.
//!
//! Tasks of a link (each ends when the link stops):
//! - the writer: appends local changes, in batches;
//! - the reader: blocking reads on a connection of its own; after any failure it
//!   reconnects with backoff and resyncs ([`Link::resync`]);
//! - the keeper: expires remote awareness states, and compacts when it holds the lease.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use wiredb::lock_unpoisoned;
use wiredb::protocol::{
    ProtocolError, encode_awareness, encode_update, observe_changes, unobserve_changes,
    without_panics,
};
use wiredb::yrs::block::ClientID;
use wiredb::yrs::sync::awareness::{AwarenessUpdate, AwarenessUpdateEntry};
use wiredb::yrs::updates::decoder::Decode;
use wiredb::yrs::{Doc, Origin, ReadTxn, StateVector, Transact, Update};

use crate::config::RedisConfig;
use crate::entry::{Entry, EntryId};
use crate::error::{Error, Result};
use crate::keys::RoomKeys;
use crate::store::{self, Stored};
use crate::target::Target;

/// Further attempts to load a room before it opens without Redis (and resyncs later).
const OPEN_RETRIES: usize = 2;

/// Frames handed to the writer at most per round trip.
const MAX_BATCH: usize = 256;

/// A connection to one Redis, shared by every link of a server or client.
#[derive(Clone)]
pub(crate) struct Redis {
    pub(crate) client: redis::Client,
    pub(crate) manager: ConnectionManager,
    /// The URL with its password hidden, for messages.
    pub(crate) shown: String,
}

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a command (other than the blocking read) may take: a compaction of a big
/// room is the slowest.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

impl Redis {
    /// Connects to `url` and checks it answers (and that the credentials are good).
    pub(crate) async fn connect(url: &str, config: &RedisConfig) -> Result<Redis> {
        let shown = crate::error::redact_url(url);
        let client = redis::Client::open(url).map_err(|error| Error::InvalidUrl {
            url: shown.clone(),
            reason: error.to_string(),
        })?;
        let redis_error = |source| Error::Redis {
            url: shown.clone(),
            source,
        };
        // A first connection by hand: the manager would retry a refused one, and a
        // wrong password must be one error at start.
        let mut first = client
            .get_multiplexed_async_connection_with_config(
                &redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(COMMAND_TIMEOUT)),
            )
            .await
            .map_err(redis_error)?;
        redis::cmd("PING")
            .query_async::<()>(&mut first)
            .await
            .map_err(redis_error)?;
        let manager_config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_min_delay(config.min_backoff)
            .set_max_delay(config.max_backoff);
        let manager = client
            .get_connection_manager_with_config(manager_config)
            .await
            .map_err(redis_error)?;
        Ok(Redis {
            client,
            manager,
            shown,
        })
    }

    /// A connection of its own for a link's blocking reads: its replies may take the
    /// whole `block` (redis-rs's default response timeout of 500 ms would cut every
    /// read short), and a little more before a dead connection counts as one.
    async fn reader_connection(
        &self,
        block: Duration,
    ) -> redis::RedisResult<MultiplexedConnection> {
        self.client
            .get_multiplexed_async_connection_with_config(
                &redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(block + COMMAND_TIMEOUT)),
            )
            .await
    }
}

/// What a link's tasks share.
struct Inner<T: Target> {
    target: T,
    redis: Redis,
    keys: RoomKeys,
    config: RedisConfig,
    /// Written into every entry this link appends, and compared on read.
    tag: String,
    /// The transaction origin of what this link applies: its observers skip it.
    origin: Origin,
    last_id: std::sync::Mutex<EntryId>,
    /// Remote awareness clients and when each was last renewed.
    remote: std::sync::Mutex<HashMap<ClientID, Instant>>,
    /// Set when an append failed: the reader resyncs (pushes what Redis lacks).
    resync_needed: AtomicBool,
    wake_reader: Notify,
    stop: CancellationToken,
    /// Logged once per outage, not once per failed command.
    outage: AtomicBool,
    /// Frames handed to the writer and not yet appended (or given up on).
    pending: std::sync::atomic::AtomicUsize,
    drained: Notify,
}

/// A running link; [`Link::close`] ends it.
pub(crate) struct Link<T: Target> {
    inner: Arc<Inner<T>>,
    writer: tokio::task::JoinHandle<()>,
}

/// How long closing waits for the last local changes to be appended.
const CLOSE_FLUSH_LIMIT: Duration = Duration::from_secs(5);

impl<T: Target + Clone> Link<T> {
    /// Loads the room from Redis into `target` (and pushes what `target` already
    /// holds that Redis does not: a room loaded from a file, say), then starts the
    /// link's reader and keeper with `spawn` (they end when `stop` is cancelled) and
    /// its writer (which ends at [`Link::close`], once it has appended everything).
    pub(crate) async fn open(
        redis: &Redis,
        target: T,
        config: &RedisConfig,
        stop: CancellationToken,
        spawn: impl Fn(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>),
    ) -> Result<Link<T>> {
        let tag = unique_tag();
        let inner = Arc::new(Inner {
            keys: RoomKeys::new(&config.prefix, target.name()),
            origin: Origin::from(format!("wire-redis:{tag}").as_str()),
            tag,
            target,
            redis: redis.clone(),
            config: config.clone(),
            last_id: std::sync::Mutex::new(EntryId::default()),
            remote: std::sync::Mutex::new(HashMap::new()),
            resync_needed: AtomicBool::new(false),
            wake_reader: Notify::new(),
            stop,
            outage: AtomicBool::new(false),
            pending: std::sync::atomic::AtomicUsize::new(0),
            drained: Notify::new(),
        });
        // Observers first: an edit made while the room loads is appended, not lost.
        let (frames, outgoing) = mpsc::unbounded_channel();
        inner.observe(frames);
        let mut conn = redis.manager.clone();
        let mut loaded = inner.resync(&mut conn).await;
        // The manager learns that its connection died (a Redis restart) from the
        // command that fails, and reconnects for the next: a room opening just after
        // must not pay for that.
        for _ in 0..OPEN_RETRIES {
            if !matches!(loaded, Err(Error::Redis { .. })) {
                break;
            }
            tokio::time::sleep(config.min_backoff).await;
            loaded = inner.resync(&mut conn).await;
        }
        match loaded {
            Ok(()) => {}
            // Redis unreachable (or a connection that broke): the room opens anyway and
            // serves its local clients; the reader resyncs once Redis answers.
            Err(error @ Error::Redis { .. }) => {
                inner.note_failure("loading the room from Redis", &error);
                inner.resync_needed.store(true, Ordering::Release);
            }
            Err(error) => {
                inner.unobserve();
                return Err(error);
            }
        }
        // Not on `spawn`: a room's close waits for the tasks spawned on it before its
        // hooks close, and the writer must outlive the room's last edits.
        let writer = tokio::spawn(write_loop(inner.clone(), outgoing));
        spawn(Box::pin(read_loop(inner.clone())));
        spawn(Box::pin(keep_loop(inner.clone())));
        Ok(Link { inner, writer })
    }
}

impl<T: Target> Link<T> {
    /// Ends the link: no more changes are observed, those made so far are appended
    /// (within a bound: an unreachable Redis gets a warning), the reader and keeper
    /// stop.
    pub(crate) async fn close(self) {
        self.inner.unobserve();
        // The observers held the writer's senders: it drains and ends.
        let mut writer = self.writer;
        if tokio::time::timeout(CLOSE_FLUSH_LIMIT, &mut writer)
            .await
            .is_err()
        {
            tracing::warn!(
                room = self.inner.room(),
                "closing with edits not yet appended to Redis"
            );
            writer.abort();
        }
        self.inner.stop.cancel();
    }

    /// Completes once every local change made so far has been appended to Redis
    /// (or its append failed: the resync after reconnecting appends it then).
    pub(crate) async fn flushed(&self) {
        loop {
            let drained = self.inner.drained.notified();
            if self.inner.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            drained.await;
        }
    }
}

impl<T: Target> Inner<T> {
    fn observe(self: &Arc<Self>, frames: mpsc::UnboundedSender<Bytes>) {
        let origin = self.origin.clone();
        let updates = frames.clone();
        // Weak: the observers live in the document, which must not keep the link alive.
        let link = Arc::downgrade(self);
        // Not yrs's `observe_update_v1`: its encoding costs time in proportion to the
        // document when a text grows at its end (see `observe_changes`).
        observe_changes(
            &mut self.target.doc().transact_mut(),
            self.origin.clone(),
            move |txn| {
                if txn.origin() != Some(&origin)
                    && let Some(link) = link.upgrade()
                {
                    link.pending.fetch_add(1, Ordering::AcqRel);
                    let _ = updates.send(encode_update(&txn.encode_update_v1()));
                }
            },
        );
        let link = Arc::downgrade(self);
        let origin = self.origin.clone();
        self.target.with_awareness(|awareness| {
            awareness.on_update(self.origin.clone(), move |awareness, event, from| {
                if from == Some(&origin) {
                    return;
                }
                match awareness.update_with_clients(event.all_changes()) {
                    Ok(update) => {
                        if let Some(link) = link.upgrade() {
                            link.pending.fetch_add(1, Ordering::AcqRel);
                            let _ = frames.send(encode_awareness(&update));
                        }
                    }
                    Err(error) => tracing::debug!(%error, "awareness change not appended"),
                }
            });
        });
    }

    /// `count` frames left the writer (appended, or left to the resync).
    fn done_with(&self, count: usize) {
        if self.pending.fetch_sub(count, Ordering::AcqRel) == count {
            self.drained.notify_waiters();
        }
    }

    fn unobserve(&self) {
        unobserve_changes(&self.target.doc().transact_mut(), self.origin.clone());
        self.target
            .with_awareness(|awareness| awareness.unobserve_update(self.origin.clone()));
    }

    fn room(&self) -> &str {
        self.target.name()
    }

    fn redis_error(&self, source: redis::RedisError) -> Error {
        Error::Redis {
            url: self.redis.shown.clone(),
            source,
        }
    }

    fn note_failure(&self, what: &str, error: &dyn std::fmt::Display) {
        if !self.outage.swap(true, Ordering::AcqRel) {
            tracing::warn!(room = self.room(), redis = %self.redis.shown, %error, "{what} failed: serving local clients, reconnecting");
        }
    }

    fn note_recovery(&self) {
        if self.outage.swap(false, Ordering::AcqRel) {
            tracing::info!(room = self.room(), redis = %self.redis.shown, "Redis reachable again: resynced");
        }
    }

    /// Brings the document and Redis level: everything Redis holds is applied, and
    /// what the document holds that Redis lacks (edits made while it was unreachable,
    /// a room loaded from a file, a Redis that lost its data) is appended as one
    /// update. Idempotent, as applying a Yjs update twice is.
    async fn resync<C: redis::aio::ConnectionLike + Send>(&self, conn: &mut C) -> Result<()> {
        let stored = store::load(conn, &self.keys, self.room())
            .await
            .map_err(|e| self.redis_error(e))?;
        let had_content = !self.target.doc().transact().state_vector().is_empty();
        self.apply_stored(&stored)?;
        if had_content {
            let in_redis = state_vector_of(&stored, self.room())?;
            let missing = self
                .target
                .doc()
                .transact()
                .encode_state_as_update_v1(&in_redis);
            if !is_empty_update(&missing) {
                store::append(conn, &self.keys, &self.tag, &[encode_update(&missing)])
                    .await
                    .map_err(|e| self.redis_error(e))?;
            }
        }
        // Our local clients' presence, which other servers may have expired meanwhile.
        let local = self.target.with_awareness(|awareness| {
            let remote = lock_unpoisoned(&self.remote);
            let ids: Vec<ClientID> = awareness
                .iter()
                .map(|(id, _)| id)
                .filter(|id| !remote.contains_key(id))
                .collect();
            (!ids.is_empty())
                .then(|| awareness.update_with_clients(ids).ok())
                .flatten()
        });
        if let Some(update) = local {
            store::append(conn, &self.keys, &self.tag, &[encode_awareness(&update)])
                .await
                .map_err(|e| self.redis_error(e))?;
        }
        *lock_unpoisoned(&self.last_id) = stored.last_id();
        Ok(())
    }

    fn apply_stored(&self, stored: &Stored) -> Result<()> {
        if let Some(state) = &stored.snapshot {
            self.apply_update(state).map_err(|error| Error::BadData {
                room: self.room().to_owned(),
                reason: format!("the snapshot does not apply: {error}"),
            })?;
        }
        // Presence older than the timeout is left out: its client is gone or renews.
        let fresh_after = unix_ms().saturating_sub(duration_ms(self.config.awareness_timeout));
        for entry in &stored.entries {
            self.apply_entry(entry, entry.id.ms >= fresh_after);
        }
        Ok(())
    }

    /// Applies another link's entry (ours are skipped: they are in the doc already).
    fn apply_entry(&self, entry: &Entry, with_awareness: bool) {
        if entry.origin == self.tag.as_bytes() {
            return;
        }
        for update in &entry.updates {
            if let Err(error) = self.apply_update(update) {
                tracing::warn!(room = self.room(), id = %entry.id, %error, "skipping an update that does not apply");
            }
        }
        if with_awareness {
            for update in &entry.awareness {
                self.apply_awareness(update.clone());
            }
        }
    }

    fn apply_update(&self, update: &[u8]) -> std::result::Result<(), ProtocolError> {
        without_panics("applying an update from Redis", || {
            let update = Update::decode_v1(update)?;
            self.target
                .doc()
                .transact_mut_with(self.origin.clone())
                .apply_update(update)
                .map_err(|e| ProtocolError::InvalidUpdate(e.to_string()))
        })
    }

    fn apply_awareness(&self, update: AwarenessUpdate) {
        let applied = self.target.with_awareness(|awareness| {
            awareness.apply_update_summary_with(update, self.origin.clone())
        });
        match applied {
            Ok(Some(summary)) => {
                let mut remote = lock_unpoisoned(&self.remote);
                let now = Instant::now();
                for id in summary.added.iter().chain(&summary.updated) {
                    remote.insert(*id, now);
                }
                for id in &summary.removed {
                    remote.remove(id);
                }
            }
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(room = self.room(), %error, "awareness update from Redis ignored")
            }
        }
    }

    /// Drops the presence of remote clients not renewed within the timeout (their
    /// server died without saying they left).
    fn expire_remote_awareness(&self) {
        let timeout = self.config.awareness_timeout;
        let stale: Vec<ClientID> = {
            let mut remote = lock_unpoisoned(&self.remote);
            let stale: Vec<ClientID> = remote
                .iter()
                .filter(|(_, seen)| seen.elapsed() >= timeout)
                .map(|(id, _)| *id)
                .collect();
            for id in &stale {
                remote.remove(id);
            }
            stale
        };
        if stale.is_empty() {
            return;
        }
        tracing::debug!(room = self.room(), clients = ?stale, "remote presence expired");
        // Removed with this link's origin, as if Redis had said so: the room's own
        // clients hear of it, Redis does not (the client may be alive and merely cut
        // off from us; its server renews it for everyone else).
        let origin = self.origin.clone();
        let applied = self.target.with_awareness(|awareness| {
            let clients = stale
                .iter()
                .filter_map(|&id| {
                    let (clock, _) = awareness.meta(id)?;
                    let entry = AwarenessUpdateEntry {
                        clock: clock.wrapping_add(1),
                        json: "null".into(),
                    };
                    Some((id, entry))
                })
                .collect();
            awareness.apply_update_with(AwarenessUpdate { clients }, origin)
        });
        if let Err(error) = applied {
            tracing::debug!(room = self.room(), %error, "expired presence not removed");
        }
    }

    /// One compaction, if this link holds (or takes) the lease and the stream is long
    /// enough: the snapshot and the entries older than `retain` merged into one
    /// update, written with the trim in one script.
    async fn compact_once(&self, conn: &mut ConnectionManager) -> redis::RedisResult<bool> {
        let config = &self.config;
        if store::stream_len(conn, &self.keys).await? < config.compact_min_entries {
            return Ok(false);
        }
        if !store::hold_lease(conn, &self.keys, &self.tag, config.lease_ttl).await? {
            return Ok(false);
        }
        let stored = store::load(conn, &self.keys, self.room()).await?;
        // Age by Redis's clock, the one entry ids are made of: measured from the
        // newest entry instead, the last `retain` of a burst would stay until the
        // room is written again, however long that takes.
        let now = store::server_time_ms(conn).await?;
        let cutoff = now.saturating_sub(duration_ms(config.retain));
        let merged: Vec<&Entry> = stored
            .entries
            .iter()
            .filter(|e| e.id.ms <= cutoff)
            .collect();
        let Some(upto) = merged.last().map(|entry| entry.id) else {
            return Ok(false);
        };
        let scratch = Doc::new();
        let apply = |update: &[u8]| apply_to(&scratch, update, "compacting");
        if let Some(state) = &stored.snapshot
            && let Err(error) = apply(state)
        {
            tracing::error!(room = self.room(), %error, "snapshot does not apply: not compacting");
            return Ok(false);
        }
        for update in merged.iter().flat_map(|entry| &entry.updates) {
            if let Err(error) = apply(update) {
                tracing::warn!(room = self.room(), %error, "compaction skips an update that does not apply");
            }
        }
        let state = scratch
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let done = store::replace_snapshot(
            conn,
            &self.keys,
            &self.tag,
            &state,
            upto,
            stored.snapshot_upto,
        )
        .await?;
        if done {
            tracing::debug!(room = self.room(), %upto, entries = merged.len(), bytes = state.len(), "stream compacted");
        }
        Ok(done)
    }
}

/// Applies v1 `update` to `doc` (with no origin), a yrs panic on bad input an error.
fn apply_to(doc: &Doc, update: &[u8], what: &str) -> std::result::Result<(), ProtocolError> {
    without_panics(what, || {
        let update = Update::decode_v1(update)?;
        doc.transact_mut()
            .apply_update(update)
            .map_err(|e| ProtocolError::InvalidUpdate(e.to_string()))
    })
}

/// The state vector of what Redis holds (built in a scratch document).
fn state_vector_of(stored: &Stored, room: &str) -> Result<StateVector> {
    let scratch = Doc::new();
    let apply = |update: &[u8]| apply_to(&scratch, update, "reading Redis's state");
    if let Some(state) = &stored.snapshot {
        apply(state).map_err(|error| Error::BadData {
            room: room.to_owned(),
            reason: format!("the snapshot does not apply: {error}"),
        })?;
    }
    for update in stored.entries.iter().flat_map(|entry| &entry.updates) {
        // Logged when applied to the document already.
        let _ = apply(update);
    }
    let vector = scratch.transact().state_vector();
    Ok(vector)
}

/// A tag no other link writes: this process's id, and a random number seeded from
/// the clock and a counter (unique within the process).
fn unique_tag() -> String {
    use rand::{Rng, SeedableRng};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(nanos ^ n.rotate_left(40));
    format!("{:x}-{:016x}", std::process::id(), rng.random::<u64>())
}

/// The v1 update that holds nothing (no structs, no deletions).
fn is_empty_update(update: &[u8]) -> bool {
    update == [0, 0]
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(duration_ms)
        .unwrap_or(0)
}

/// Appends local changes. A failed batch is not retried as such: the reader's resync
/// appends whatever Redis lacks, so nothing is lost and nothing needs ordering.
async fn write_loop<T: Target>(inner: Arc<Inner<T>>, mut outgoing: mpsc::UnboundedReceiver<Bytes>) {
    let mut conn = inner.redis.manager.clone();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Until every sender is gone (the link closed) and the queue is empty.
    while let Some(first) = outgoing.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match outgoing.try_recv() {
                Ok(frame) => batch.push(frame),
                Err(_) => break,
            }
        }
        let count = batch.len();
        if inner.resync_needed.load(Ordering::Acquire) && !inner.stop.is_cancelled() {
            // The resync to come appends the document's whole difference.
            batch.clear();
            inner.done_with(count);
            continue;
        }
        let appended = store::append(&mut conn, &inner.keys, &inner.tag, &batch).await;
        batch.clear();
        inner.done_with(count);
        if let Err(error) = appended {
            inner.note_failure("appending to Redis", &error);
            inner.resync_needed.store(true, Ordering::Release);
            inner.wake_reader.notify_one();
        }
    }
}

/// Reads other links' entries on a connection of its own (a blocking read holds its
/// connection), reconnecting with backoff and resyncing after any failure.
async fn read_loop<T: Target>(inner: Arc<Inner<T>>) {
    let config = &inner.config;
    let mut backoff = config.min_backoff;
    let mut conn: Option<MultiplexedConnection> = None;
    loop {
        let Some(connection) = conn.as_mut() else {
            let connected = tokio::select! {
                () = inner.stop.cancelled() => return,
                connected = inner.redis.reader_connection(config.block) => connected,
            };
            match connected {
                Ok(connected) => conn = Some(connected),
                Err(error) => {
                    inner.note_failure("connecting to Redis", &error);
                    inner.resync_needed.store(true, Ordering::Release);
                    if pause(&inner.stop, &mut backoff, config.max_backoff).await {
                        return;
                    }
                }
            }
            continue;
        };
        if inner.resync_needed.swap(false, Ordering::AcqRel) {
            let resynced = tokio::select! {
                () = inner.stop.cancelled() => return,
                resynced = inner.resync(connection) => resynced,
            };
            match resynced {
                Ok(()) => {
                    inner.note_recovery();
                    backoff = config.min_backoff;
                }
                Err(error) => {
                    inner.note_failure("resyncing with Redis", &error);
                    inner.resync_needed.store(true, Ordering::Release);
                    conn = None;
                    if pause(&inner.stop, &mut backoff, config.max_backoff).await {
                        return;
                    }
                    continue;
                }
            }
        }
        let last = *lock_unpoisoned(&inner.last_id);
        let read = tokio::select! {
            () = inner.stop.cancelled() => return,
            // An append failed: resync now, on a fresh connection (this one is held
            // by the blocking read until it times out).
            () = inner.wake_reader.notified() => {
                conn = None;
                continue;
            }
            read = store::read_after(connection, &inner.keys, inner.room(), last, config.block) => read,
        };
        match read {
            Ok(entries) => {
                for entry in &entries {
                    inner.apply_entry(entry, true);
                }
                if let Some(entry) = entries.last() {
                    *lock_unpoisoned(&inner.last_id) = entry.id;
                }
            }
            Err(error) => {
                inner.note_failure("reading from Redis", &error);
                inner.resync_needed.store(true, Ordering::Release);
                conn = None;
                if pause(&inner.stop, &mut backoff, config.max_backoff).await {
                    return;
                }
            }
        }
    }
}

/// Expires remote presence and compacts, each on its own interval.
async fn keep_loop<T: Target>(inner: Arc<Inner<T>>) {
    let expiry = (inner.config.awareness_timeout / 4).max(Duration::from_millis(50));
    let mut expire = tokio::time::interval(expiry);
    let mut compact = tokio::time::interval(inner.config.compact_interval);
    expire.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    compact.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut conn = inner.redis.manager.clone();
    loop {
        tokio::select! {
            () = inner.stop.cancelled() => return,
            _ = expire.tick() => inner.expire_remote_awareness(),
            _ = compact.tick() => {
                let compacted = tokio::select! {
                    () = inner.stop.cancelled() => return,
                    compacted = inner.compact_once(&mut conn) => compacted,
                };
                if let Err(error) = compacted {
                    tracing::debug!(room = inner.room(), %error, "compaction not done");
                }
            }
        }
    }
}

/// Sleeps `backoff` (then doubles it, up to `max`); true if the link stopped meanwhile.
async fn pause(stop: &CancellationToken, backoff: &mut Duration, max: Duration) -> bool {
    let stopped = tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(*backoff) => false,
    };
    *backoff = (*backoff * 2).min(max);
    stopped
}
