//! A room's stream entries: field `o` names the link that wrote it (a random id per
//! link, so that a link skips its own entries: what came from Redis is never
//! appended again), field `m` holds one y-protocols frame (a document update, or an
//! awareness update).

use redis::Value;
use redis::streams::StreamId;
use wiredb::protocol::decode_frame;
use wiredb::yrs::sync::awareness::AwarenessUpdate;
use wiredb::yrs::sync::{Message, SyncMessage};

/// A decoded stream entry.
pub(crate) struct Entry {
    pub(crate) id: EntryId,
    pub(crate) origin: Vec<u8>,
    pub(crate) updates: Vec<Vec<u8>>,
    pub(crate) awareness: Vec<AwarenessUpdate>,
}

/// A stream entry id, `MS-SEQ`: milliseconds of Redis's clock, then a sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct EntryId {
    pub(crate) ms: u64,
    pub(crate) seq: u64,
}

impl EntryId {
    pub(crate) fn parse(id: &str) -> Option<EntryId> {
        let (ms, seq) = id.split_once('-')?;
        Some(EntryId {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The smallest id after this one: the `MINID` that trims this entry and those
    /// before it.
    pub(crate) fn next(self) -> EntryId {
        match self.seq.checked_add(1) {
            Some(seq) => EntryId { ms: self.ms, seq },
            None => EntryId {
                ms: self.ms.saturating_add(1),
                seq: 0,
            },
        }
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.as_bytes()),
        _ => None,
    }
}

impl Entry {
    /// Decodes a stream entry; an entry that is not ours is an error naming why.
    pub(crate) fn decode(raw: &StreamId) -> Result<Entry, String> {
        let id = EntryId::parse(&raw.id).ok_or_else(|| format!("bad entry id {:?}", raw.id))?;
        let origin = raw
            .map
            .get("o")
            .and_then(bytes)
            .unwrap_or_default()
            .to_vec();
        let frame = raw
            .map
            .get("m")
            .and_then(bytes)
            .ok_or_else(|| format!("entry {} has no message", raw.id))?;
        let messages = decode_frame(frame).map_err(|error| format!("entry {}: {error}", raw.id))?;
        let mut entry = Entry {
            id,
            origin,
            updates: Vec::new(),
            awareness: Vec::new(),
        };
        for message in messages {
            match message {
                Message::Sync(SyncMessage::Update(update) | SyncMessage::SyncStep2(update)) => {
                    entry.updates.push(update)
                }
                Message::Awareness(update) => entry.awareness.push(update),
                _ => {}
            }
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_and_step() {
        let id = EntryId::parse("1700000000000-3").unwrap();
        assert_eq!(id.next().to_string(), "1700000000000-4");
        assert!(EntryId::parse("12-0").unwrap() < EntryId::parse("12-1").unwrap());
        assert!(EntryId::parse("12-9").unwrap() < EntryId::parse("13-0").unwrap());
        assert_eq!(EntryId::parse("x-1"), None);
        let last = EntryId {
            ms: 5,
            seq: u64::MAX,
        };
        assert_eq!(last.next(), EntryId { ms: 6, seq: 0 });
    }
}
