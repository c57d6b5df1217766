//! Records → one update: what a client loads, and what a squash writes.
//!
//! There are two ways to get a document's whole state as one update, both
//! from yrs:
//!
//! - [`document_state`] / [`squashed_state`] apply the records, in order, to
//!   a fresh `yrs::Doc` and encode its state. This is what Python `wire_file`
//!   does, it is fast (the 137k records of a real editing trace replay in
//!   about a tenth of a second), and yrs garbage-collects deleted content on
//!   the way, so the result is often much smaller than the records. Updates
//!   whose dependencies are missing are kept (yrs encodes its pending updates
//!   too), so nothing is lost. File clients load and squash this way;
//! - [`merge_records`] merges the encoded updates without a `Doc`
//!   (`Update::merge_updates`), keeping deleted content as it was. Fine for a
//!   handful of updates, but with yrs 0.28 its cost grows at least with the
//!   square of the number of updates: loading those same 137k records this
//!   way took two minutes (`benches/trace.rs` measures prefixes of them).
//!
//! Records come from a file, that is from outside the process, and yrs
//! asserts (panics) on some malformed input instead of returning an error; so
//! every yrs call on them runs under `catch_unwind`, and a panic becomes an
//! [`Error`] naming the record.

use std::panic::{AssertUnwindSafe, catch_unwind};

use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{Doc, ReadTxn, StateVector, Transact, Update};

use crate::Error;

/// Merges Yjs v1 updates into one update with the same content, without
/// building a document (see the `merge` module's docs for when to prefer
/// [`squashed_state`]).
///
/// An empty input gives the empty update.
///
/// # Errors
///
/// [`Error::Decode`] naming the first update yrs cannot decode.
///
/// ```
/// use yrs::{Doc, GetString, ReadTxn, StateVector, Text, Transact, Update};
/// use yrs::updates::decoder::Decode;
///
/// let doc = Doc::new();
/// let text = doc.get_or_insert_text("t");
/// let mut updates = Vec::new();
/// for word in ["hello", " world"] {
///     let before = doc.transact().state_vector();
///     text.push(&mut doc.transact_mut(), word);
///     updates.push(doc.transact().encode_diff_v1(&before));
/// }
///
/// let merged = wire_file::merge_records(&updates)?;
///
/// let fresh = Doc::new();
/// let text = fresh.get_or_insert_text("t");
/// fresh.transact_mut().apply_update(Update::decode_v1(&merged).unwrap()).unwrap();
/// assert_eq!(text.get_string(&fresh.transact()), "hello world");
/// # Ok::<(), wire_file::Error>(())
/// ```
pub fn merge_records(
    records: impl IntoIterator<Item = impl AsRef<[u8]>>,
) -> Result<Vec<u8>, Error> {
    let mut at = 0;
    guarded(&mut at, |at| {
        let mut updates = Vec::new();
        for (index, record) in records.into_iter().enumerate() {
            *at = index;
            updates.push(decode(index, record.as_ref())?);
        }
        Ok(Update::merge_updates(updates).encode_v1())
    })
}

/// The document `records` describe, as one garbage-collected update: the
/// content of a squashed log.
///
/// The records are applied in order to a fresh `yrs::Doc`, one transaction
/// each, and the doc's whole state is encoded
/// (`encode_state_as_update_v1` from an empty state vector), as Python
/// `wire_file` does when it squashes.
///
/// # Errors
///
/// - [`Error::Decode`] naming the first record yrs cannot decode (or panics
///   on);
/// - [`Error::InvalidContent`] when yrs refuses to apply one.
///
/// ```
/// use yrs::{Doc, Text, Transact, ReadTxn};
///
/// let doc = Doc::new();
/// let text = doc.get_or_insert_text("t");
/// let mut updates = Vec::new();
/// let before = doc.transact().state_vector();
/// text.push(&mut doc.transact_mut(), "hello");
/// updates.push(doc.transact().encode_diff_v1(&before));
/// let before = doc.transact().state_vector();
/// text.remove_range(&mut doc.transact_mut(), 0, 5);
/// updates.push(doc.transact().encode_diff_v1(&before));
///
/// let merged = wire_file::merge_records(&updates)?;
/// let squashed = wire_file::squashed_state(&updates)?;
/// assert!(squashed.len() < merged.len()); // "hello" itself is gone
/// # Ok::<(), wire_file::Error>(())
/// ```
pub fn squashed_state(
    records: impl IntoIterator<Item = impl AsRef<[u8]>>,
) -> Result<Vec<u8>, Error> {
    document_state(records).map(|(state, _)| state)
}

/// [`squashed_state`] and the state vector of the document: what a file
/// client loads into its document, and the state it tells the document the
/// file already has (so that the document only sends back what the file
/// lacks).
pub fn document_state(
    records: impl IntoIterator<Item = impl AsRef<[u8]>>,
) -> Result<(Vec<u8>, StateVector), Error> {
    let doc = replay(records)?;
    // Guarded like the replay: yrs encodes pending structs here, and some it has
    // accepted it cannot encode back (found by fuzzing).
    let mut at = 0;
    guarded(&mut at, |_| {
        let txn = doc.transact();
        Ok((
            txn.encode_state_as_update_v1(&StateVector::default()),
            txn.state_vector(),
        ))
    })
}

/// The document the records build, applied in order, one transaction each, as
/// a file client loads them (guarded against yrs panics like the rest of this
/// module).
///
/// # Errors
///
/// As [`squashed_state`]: [`Error::Decode`] or [`Error::InvalidContent`]
/// naming the first record yrs rejects.
pub fn replay(records: impl IntoIterator<Item = impl AsRef<[u8]>>) -> Result<Doc, Error> {
    let doc = Doc::new();
    replay_into(&doc, records)?;
    Ok(doc)
}

/// [`replay`] into an existing `doc`, which is then checked to encode back (yrs
/// keeps the structs of an update whose dependencies are missing, and some it
/// has accepted it cannot encode: found by fuzzing). On an error, `doc` may hold
/// part of the records.
pub(crate) fn replay_into(
    doc: &Doc,
    records: impl IntoIterator<Item = impl AsRef<[u8]>>,
) -> Result<(), Error> {
    let mut at = 0;
    guarded(&mut at, |at| {
        for (index, record) in records.into_iter().enumerate() {
            *at = index;
            let update = decode(index, record.as_ref())?;
            // One transaction per record, as they were written: yrs is ten
            // times slower with all of a big log in a single transaction.
            doc.transact_mut()
                .apply_update(update)
                .map_err(|e| Error::InvalidContent {
                    path: None,
                    reason: format!("record {index}: {e}"),
                })?;
        }
        let txn = doc.transact();
        if txn.has_missing_updates() {
            // Only pending structs can fail to encode; a complete doc needs no check.
            txn.encode_state_as_update_v1(&StateVector::default());
        }
        Ok(())
    })
}

/// Decodes record `index`.
fn decode(index: usize, record: &[u8]) -> Result<Update, Error> {
    Update::decode_v1(record).map_err(|source| Error::Decode {
        path: None,
        index,
        source,
    })
}

/// Runs `f`, turning a yrs panic into [`Error::Decode`] about the record `f`
/// was at (it keeps `at` up to date).
///
/// yrs asserts on some malformed input (a client id above 2^53, for one)
/// rather than returning an error; a corrupt file must be a clear error, never
/// a crashed task. The whole of `f` is guarded, the end of its transaction
/// included, since that is where yrs integrates and cleans up.
fn guarded<T>(at: &mut usize, f: impl FnOnce(&mut usize) -> Result<T, Error>) -> Result<T, Error> {
    let result = catch_unwind(AssertUnwindSafe(|| f(&mut *at)));
    result.unwrap_or_else(|panic| {
        let detail = wiredb::protocol::panic_message(panic.as_ref());
        Err(Error::Decode {
            path: None,
            index: *at,
            source: yrs::encoding::read::Error::Custom(format!("yrs panicked: {detail}")),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::Text;

    #[test]
    fn names_the_record_yrs_rejects() {
        let good = Update::new().encode_v1();
        let err = merge_records([&good[..], &good[..], &[0xff, 0xff, 0xff][..]]).unwrap_err();
        assert!(matches!(err, Error::Decode { index: 2, .. }), "{err:?}");
        assert!(err.to_string().starts_with("record 2 "));
    }

    #[test]
    fn empty_input_gives_the_empty_update() {
        let merged = merge_records(Vec::<Vec<u8>>::new()).unwrap();
        assert!(Update::decode_v1(&merged).unwrap().is_empty());
        let (state, sv) = document_state(Vec::<Vec<u8>>::new()).unwrap();
        assert_eq!(state, [0, 0]);
        assert_eq!(sv, StateVector::default());
        let squashed = squashed_state(Vec::<Vec<u8>>::new()).unwrap();
        assert!(Update::decode_v1(&squashed).unwrap().is_empty());
    }

    #[test]
    fn state_vector_covers_every_record() {
        let doc = Doc::with_client_id(7);
        let text = doc.get_or_insert_text("t");
        let mut updates = Vec::new();
        for word in ["ab", "cde"] {
            let before = doc.transact().state_vector();
            text.push(&mut doc.transact_mut(), word);
            updates.push(doc.transact().encode_diff_v1(&before));
        }
        let (state, sv) = document_state(&updates).unwrap();
        assert_eq!(sv, doc.transact().state_vector());
        assert_eq!(
            state,
            doc.transact()
                .encode_state_as_update_v1(&StateVector::default())
        );
    }

    #[test]
    fn records_missing_their_dependencies_are_kept() {
        let doc = Doc::with_client_id(7);
        let text = doc.get_or_insert_text("t");
        let mut updates = Vec::new();
        for word in ["ab", "cd", "ef"] {
            let before = doc.transact().state_vector();
            text.push(&mut doc.transact_mut(), word);
            updates.push(doc.transact().encode_diff_v1(&before));
        }
        // Without the middle record the last one cannot be integrated...
        let partial = squashed_state([&updates[0], &updates[2]]).unwrap();
        // ...but it is in the squashed state: adding the middle one completes it.
        let (_, sv) = document_state([&partial, &updates[1]]).unwrap();
        assert_eq!(sv, doc.transact().state_vector());
    }

    #[test]
    fn a_yrs_panic_is_a_decode_error() {
        let mut at = 3;
        let err = guarded::<()>(&mut at, |_| panic!("boom")).unwrap_err();
        assert!(matches!(err, Error::Decode { index: 3, .. }), "{err:?}");
        assert!(err.to_string().contains("boom"), "{err}");
    }

    #[test]
    fn squashed_state_names_the_record_yrs_rejects() {
        let good = Update::new().encode_v1();
        let err = squashed_state([&good[..], &good[..], &[0xff, 0xff][..]]).unwrap_err();
        assert!(matches!(err, Error::Decode { index: 2, .. }), "{err:?}");
    }

    /// Found by fuzzing (`fuzz/corpus/update_log/yrs-pending-that-does-not-encode`):
    /// records yrs replays, into pending structs it then cannot encode. A clear
    /// error, not a panic in the task opening the room.
    #[test]
    fn a_log_whose_state_yrs_cannot_encode_is_an_error() {
        let file: [u8; 54] = [
            48, 46, 48, 46, 49, 0, 22, 1, 1, 36, 199, 252, 252, 132, 241, 10, 2, 6, 1, 0, 0, 0, 0,
            0, 0, 56, 32, 119, 111, 50, 108, 100, 0, 21, 1, 1, 199, 252, 132, 241, 107, 1, 119, 1,
            118, 0, 10, 0, 1, 199, 252, 132, 241, 10,
        ];
        let parsed = crate::parse_log(&file).unwrap();
        let err = document_state(&parsed.records).unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    }
}
