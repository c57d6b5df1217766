//! Encoding and decoding of y-protocols frames.
//!
//! A frame (one WebSocket message, one in-memory send) carries one or more
//! y-protocols messages back to back. The message types themselves are yrs's
//! ([`Message`], [`SyncMessage`]); this module only walks the frame, because yrs's own
//! `MessageReader` treats a truncated message as a clean end of input, and we want a
//! truncated frame to be an error the peer hears about.

use bytes::Bytes;
use yrs::StateVector;
use yrs::encoding::read::{Cursor, Read};
use yrs::sync::awareness::AwarenessUpdate;
use yrs::sync::protocol::{
    MSG_AUTH, MSG_AWARENESS, MSG_QUERY_AWARENESS, MSG_SYNC, MSG_SYNC_STEP_1, MSG_SYNC_STEP_2,
    MSG_SYNC_UPDATE, PERMISSION_DENIED,
};
use yrs::sync::{Message, SyncMessage};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;

use crate::error::{ProtocolError, Result};
use crate::panics::without_panics;

/// Decodes every message of a frame.
///
/// A message type this crate does not know ends the walk: its payload layout is
/// unknown, so nothing after it can be located, and y-protocols says unknown types are
/// to be ignored. Such a message is reported as [`Message::Custom`] with the rest of the
/// frame as payload.
///
/// ```
/// use wiredb_protocol::{decode_frame, encode_update};
/// use yrs::sync::{Message, SyncMessage};
///
/// let frame = encode_update(&[0, 0]);
/// let messages = decode_frame(&frame).unwrap();
/// assert_eq!(messages, vec![Message::Sync(SyncMessage::Update(vec![0, 0]))]);
/// assert!(decode_frame(&[0, 2, 200]).is_err()); // length runs past the end
/// ```
pub fn decode_frame(frame: &[u8]) -> Result<Vec<Message>> {
    without_panics("decoding a frame", || decode_messages(frame))
}

fn decode_messages(frame: &[u8]) -> Result<Vec<Message>> {
    let mut cursor = Cursor::new(frame);
    let mut messages = Vec::with_capacity(1);
    while cursor.has_content() {
        let tag: u8 = cursor.read_var()?;
        let message = match tag {
            MSG_SYNC => Message::Sync(decode_sync(&mut cursor)?),
            MSG_AWARENESS => {
                let payload = cursor.read_buf()?;
                check_count("awareness update", payload, AWARENESS_ENTRY_MIN)?;
                Message::Awareness(AwarenessUpdate::decode_v1(payload)?)
            }
            MSG_AUTH => {
                let permission: u8 = cursor.read_var()?;
                let reason = if permission == PERMISSION_DENIED {
                    Some(cursor.read_string()?.to_owned())
                } else {
                    None
                };
                Message::Auth(reason)
            }
            MSG_QUERY_AWARENESS => Message::AwarenessQuery,
            other => {
                let rest = &cursor.buf[cursor.next..];
                messages.push(Message::Custom(other, rest.to_vec()));
                break;
            }
        };
        messages.push(message);
    }
    Ok(messages)
}

fn decode_sync(cursor: &mut Cursor<'_>) -> Result<SyncMessage> {
    let tag: u8 = cursor.read_var()?;
    let payload = cursor.read_buf()?;
    Ok(match tag {
        MSG_SYNC_STEP_1 => {
            check_count("state vector", payload, STATE_VECTOR_ENTRY_MIN)?;
            SyncMessage::SyncStep1(StateVector::decode_v1(payload)?)
        }
        // Update payloads stay opaque here; `Connection` checks them before decoding.
        MSG_SYNC_STEP_2 => SyncMessage::SyncStep2(payload.to_vec()),
        MSG_SYNC_UPDATE => SyncMessage::Update(payload.to_vec()),
        _ => return Err(yrs::encoding::read::Error::UnexpectedValue.into()),
    })
}

/// The fewest bytes one entry of each counted structure takes, after its leading
/// var-uint count: a state vector entry is a client id and a clock (a var-uint each);
/// an awareness entry a client id, a clock and a JSON string (its length at least);
/// an update's client block its block count, client id and first clock.
const STATE_VECTOR_ENTRY_MIN: u64 = 2;
const AWARENESS_ENTRY_MIN: u64 = 3;
pub(crate) const UPDATE_CLIENT_MIN: u64 = 3;

/// Refuses a payload whose leading count declares more entries than its remaining
/// bytes can hold, before yrs reserves memory for that many.
pub(crate) fn check_count(what: &'static str, payload: &[u8], entry_min: u64) -> Result<()> {
    let mut cursor = Cursor::new(payload);
    let declared: u64 = cursor.read_var()?;
    let bytes = payload.len() - cursor.next;
    if declared > bytes as u64 / entry_min {
        return Err(ProtocolError::ImpossibleCount {
            what,
            declared,
            bytes,
        });
    }
    Ok(())
}

/// Encodes one message as a frame.
pub fn encode_message(message: &Message) -> Bytes {
    Bytes::from(message.encode_v1())
}

/// Encodes a SyncStep1 frame carrying `state_vector`.
pub fn encode_sync_step1(state_vector: &StateVector) -> Bytes {
    encode_message(&Message::Sync(SyncMessage::SyncStep1(state_vector.clone())))
}

/// Encodes a SyncStep2 frame carrying `update` (v1 encoding).
pub fn encode_sync_step2(update: &[u8]) -> Bytes {
    encode_sync_payload(MSG_SYNC_STEP_2, update)
}

/// Encodes an Update frame carrying `update` (v1 encoding).
///
/// This is the hot path of a room: every document change is encoded once with this
/// function and the resulting [`Bytes`] is shared by every peer's queue.
pub fn encode_update(update: &[u8]) -> Bytes {
    encode_sync_payload(MSG_SYNC_UPDATE, update)
}

fn encode_sync_payload(sync_tag: u8, payload: &[u8]) -> Bytes {
    use yrs::encoding::write::Write;
    // tag + sync tag + var-uint length (at most 5 bytes for a u32) + payload
    let mut buf = Vec::with_capacity(payload.len() + 7);
    buf.write_var(MSG_SYNC);
    buf.write_var(sync_tag);
    buf.write_buf(payload);
    Bytes::from(buf)
}

/// Encodes an awareness frame.
pub fn encode_awareness(update: &AwarenessUpdate) -> Bytes {
    encode_message(&Message::Awareness(update.clone()))
}

/// Encodes an auth frame denying access, with `reason`.
pub fn encode_permission_denied(reason: &str) -> Bytes {
    encode_message(&Message::Auth(Some(reason.to_owned())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use wiredb_test_support::{counted_frame, var_uint};

    #[test]
    fn several_messages_in_one_frame_decode_in_order() {
        let mut frame = encode_update(&[1, 2]).to_vec();
        frame.extend_from_slice(&encode_message(&Message::AwarenessQuery));
        frame.extend_from_slice(&encode_sync_step1(&StateVector::default()));
        let decoded = decode_frame(&frame).unwrap();
        assert_eq!(
            decoded,
            vec![
                Message::Sync(SyncMessage::Update(vec![1, 2])),
                Message::AwarenessQuery,
                Message::Sync(SyncMessage::SyncStep1(StateVector::default())),
            ]
        );
    }

    #[test]
    fn truncated_frames_are_errors_not_silence() {
        let frame = encode_update(&[1, 2, 3, 4]);
        for end in 1..frame.len() {
            assert!(
                decode_frame(&frame[..end]).is_err(),
                "prefix of {end} bytes"
            );
        }
    }

    #[test]
    fn absurd_declared_length_is_an_error_without_allocating() {
        // sync / update / var-uint 2^60
        let mut frame = vec![0, 2];
        let mut n: u64 = 1 << 60;
        while n >= 0x80 {
            frame.push((n as u8) | 0x80);
            n >>= 7;
        }
        frame.push(n as u8);
        assert!(decode_frame(&frame).is_err());
    }

    #[test]
    fn counts_the_bytes_cannot_hold_are_refused_before_decoding() {
        // sync / step 1 / payload of 5 bytes declaring 2^29 state-vector entries.
        let err = decode_frame(&counted_frame(&[0, 0], 1 << 29, &[])).unwrap_err();
        assert!(
            matches!(
                err,
                ProtocolError::ImpossibleCount {
                    what: "state vector",
                    ..
                }
            ),
            "{err:?}"
        );
        // awareness declaring 2^28 entries
        let err = decode_frame(&counted_frame(&[1], 1 << 28, &[1, 1, 0])).unwrap_err();
        assert!(
            matches!(
                err,
                ProtocolError::ImpossibleCount {
                    what: "awareness update",
                    ..
                }
            ),
            "{err:?}"
        );
        // An update declaring 2^30 clients (checked where updates are decoded).
        let mut payload = Vec::new();
        var_uint(1 << 30, &mut payload);
        assert!(matches!(
            check_count("update", &payload, UPDATE_CLIENT_MIN),
            Err(ProtocolError::ImpossibleCount { what: "update", .. })
        ));
        // Real messages still pass.
        let doc = yrs::Doc::new();
        let sv = yrs::ReadTxn::state_vector(&yrs::Transact::transact(&doc));
        assert!(decode_frame(&encode_sync_step1(&sv)).is_ok());
        assert!(decode_frame(&encode_update(&[0, 0])).is_ok());
    }

    #[test]
    fn unknown_message_type_is_reported_and_ends_the_walk() {
        let decoded = decode_frame(&[42, 1, 2, 3]).unwrap();
        assert_eq!(decoded, vec![Message::Custom(42, vec![1, 2, 3])]);
    }

    #[test]
    fn permission_denied_round_trips() {
        let decoded = decode_frame(&encode_permission_denied("no token")).unwrap();
        assert_eq!(decoded, vec![Message::Auth(Some("no token".into()))]);
    }

    #[test]
    fn unknown_sync_tag_is_an_error() {
        assert!(decode_frame(&[0, 9, 0]).is_err());
    }
}
