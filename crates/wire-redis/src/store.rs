//! The Redis commands a link sends, one function each: load a room (snapshot and
//! stream), append frames, read what comes after an entry, compact.

use bytes::Bytes;
use redis::aio::ConnectionLike;
use redis::streams::{StreamRangeReply, StreamReadReply};
use redis::{RedisResult, Value};

use crate::entry::{Entry, EntryId};
use crate::keys::RoomKeys;

/// Entries asked for at once: a long stream is read in pages, not in one reply.
const PAGE: usize = 1000;

/// What Redis holds for a room.
pub(crate) struct Stored {
    /// The compacted document, if compacted yet.
    pub(crate) snapshot: Option<Vec<u8>>,
    /// The last entry merged into the snapshot.
    pub(crate) snapshot_upto: Option<EntryId>,
    /// The entries after it, in order; those that do not decode are left out (and
    /// logged).
    pub(crate) entries: Vec<Entry>,
}

impl Stored {
    /// The id of the last entry seen (or merged into the snapshot).
    pub(crate) fn last_id(&self) -> EntryId {
        self.entries
            .last()
            .map(|entry| entry.id)
            .or(self.snapshot_upto)
            .unwrap_or_default()
    }
}

/// Decodes `ids`, skipping (and logging) what is not a wiredb entry: one foreign or
/// damaged entry must not keep a room from opening.
pub(crate) fn decode_entries(room: &str, ids: &[redis::streams::StreamId]) -> Vec<Entry> {
    ids.iter()
        .filter_map(|raw| match Entry::decode(raw) {
            Ok(entry) => Some(entry),
            Err(reason) => {
                tracing::warn!(room, %reason, "skipping a stream entry that is not a wiredb message");
                None
            }
        })
        .collect()
}

/// The snapshot and every entry after it.
pub(crate) async fn load<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &RoomKeys,
    room: &str,
) -> RedisResult<Stored> {
    let (state, upto): (Option<Vec<u8>>, Option<String>) = redis::cmd("HMGET")
        .arg(&keys.snapshot)
        .arg("state")
        .arg("upto")
        .query_async(conn)
        .await?;
    let snapshot_upto = upto.as_deref().and_then(EntryId::parse);
    let mut entries = Vec::new();
    let mut after = snapshot_upto;
    loop {
        let start = match after {
            Some(id) => format!("({id}"),
            None => "-".to_owned(),
        };
        let page: StreamRangeReply = redis::cmd("XRANGE")
            .arg(&keys.stream)
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(PAGE)
            .query_async(conn)
            .await?;
        let Some(last) = page.ids.last().and_then(|raw| EntryId::parse(&raw.id)) else {
            break;
        };
        let full = page.ids.len() == PAGE;
        entries.extend(decode_entries(room, &page.ids));
        after = Some(last);
        if !full {
            break;
        }
    }
    Ok(Stored {
        snapshot: state,
        snapshot_upto,
        entries,
    })
}

/// Appends each frame as one entry written by `origin`, in one round trip.
pub(crate) async fn append<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &RoomKeys,
    origin: &str,
    frames: &[Bytes],
) -> RedisResult<()> {
    let mut pipe = redis::pipe();
    for frame in frames {
        pipe.cmd("XADD")
            .arg(&keys.stream)
            .arg("*")
            .arg("o")
            .arg(origin)
            .arg("m")
            .arg(frame.as_ref())
            .ignore();
    }
    pipe.query_async::<()>(conn).await
}

/// The entries after `last`, waiting up to `block` for one to come.
pub(crate) async fn read_after<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &RoomKeys,
    room: &str,
    last: EntryId,
    block: std::time::Duration,
) -> RedisResult<Vec<Entry>> {
    let block_ms = u64::try_from(block.as_millis()).unwrap_or(u64::MAX).max(1);
    let reply: Option<StreamReadReply> = redis::cmd("XREAD")
        .arg("COUNT")
        .arg(PAGE)
        .arg("BLOCK")
        .arg(block_ms)
        .arg("STREAMS")
        .arg(&keys.stream)
        .arg(last.to_string())
        .query_async(conn)
        .await?;
    Ok(reply
        .into_iter()
        .flat_map(|reply| reply.keys)
        .flat_map(|key| decode_entries(room, &key.ids))
        .collect())
}

/// Redis's clock, in ms since the epoch: what stream entry ids are made of.
pub(crate) async fn server_time_ms<C: ConnectionLike + Send>(conn: &mut C) -> RedisResult<u64> {
    let (seconds, micros): (u64, u64) = redis::cmd("TIME").query_async(conn).await?;
    Ok(seconds.saturating_mul(1000).saturating_add(micros / 1000))
}

/// Number of entries in the stream.
pub(crate) async fn stream_len<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &RoomKeys,
) -> RedisResult<usize> {
    redis::cmd("XLEN").arg(&keys.stream).query_async(conn).await
}

/// Takes or renews the room's compaction lease for `holder`; true if it holds it.
pub(crate) async fn hold_lease<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &RoomKeys,
    holder: &str,
    ttl: std::time::Duration,
) -> RedisResult<bool> {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
    // Renew if ours, else take it if free: one script, so that no other process can
    // take it between the check and the renewal.
    let held: i64 = redis::Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            return 1
        end
        if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
            return 1
        end
        return 0
        ",
    )
    .key(&keys.lease)
    .arg(holder)
    .arg(ttl_ms)
    .invoke_async(conn)
    .await?;
    Ok(held == 1)
}

/// Replaces the snapshot with `state` (the document up to entry `upto`) and trims
/// the entries up to `upto`, if `holder` still holds the lease and `upto` is past the
/// current snapshot; atomically. True if done.
pub(crate) async fn replace_snapshot<C: ConnectionLike + Send>(
    conn: &mut C,
    keys: &RoomKeys,
    holder: &str,
    state: &[u8],
    upto: EntryId,
    previous: Option<EntryId>,
) -> RedisResult<bool> {
    let done: Value = redis::Script::new(
        r"
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
        local current = redis.call('HGET', KEYS[2], 'upto')
        if (current or '') ~= ARGV[5] then return 0 end
        redis.call('HSET', KEYS[2], 'state', ARGV[2], 'upto', ARGV[3])
        redis.call('XTRIM', KEYS[3], 'MINID', ARGV[4])
        return 1
        ",
    )
    .key(&keys.lease)
    .key(&keys.snapshot)
    .key(&keys.stream)
    .arg(holder)
    .arg(state)
    .arg(upto.to_string())
    .arg(upto.next().to_string())
    .arg(previous.map(|id| id.to_string()).unwrap_or_default())
    .invoke_async(conn)
    .await?;
    Ok(matches!(done, Value::Int(1)))
}
