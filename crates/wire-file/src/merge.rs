//! Merging the records of a log into one update, the input of a squash.
//!
//! Squashing needs the document's whole state as one update. There are two
//! ways to get it, both from yrs:
//!
//! - [`merge_records`] merges the encoded updates directly
//!   (`Update::merge_updates`): no `Doc` is built, but content that was
//!   deleted stays in the merged update as it was in the records;
//! - applying every record to a `yrs::Doc` and encoding its state with
//!   `txn.encode_state_as_update_v1(&StateVector::default())`: this is what
//!   Python `wire_file` does, and it lets yrs garbage-collect deleted content,
//!   so the result is often smaller. Use it when a `Doc` is at hand anyway
//!   (a room or client always has one).

use yrs::Update;
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;

use crate::Error;

/// Merges Yjs v1 updates (typically the records of a log) into one update
/// with the same content.
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
    let updates = records
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            Update::decode_v1(record.as_ref()).map_err(|source| Error::Decode { index, source })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Update::merge_updates(updates).encode_v1())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
