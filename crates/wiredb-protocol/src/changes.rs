//! [`observe_changes`]: the update of every transaction, at a cost proportional to
//! the update rather than to the document.
//!
//! yrs's `observe_update_v1` encodes a transaction's update after the commit has
//! merged the new blocks into the ones before them. An append to a text typed by one
//! client (the common case: one writer, or one paste after another) lands in one
//! block that keeps growing with the document, and encoding "this block from clock N
//! on" then walks the block's whole string to find the UTF-16 offset N: every update
//! costs time in proportion to the document. Measured with
//! `cargo bench -p wiredb-cli --bench large_docs -- --only grow` (1 KiB appends):
//! applying stays flat at about 10 µs, while the observer's encoding grows by about
//! 1 ms per MB of text (docs/yrs-growing-text.md has the minimal reproduction).
//!
//! The commit calls its `after_transaction` observers before that merge, when each
//! new block is still a block of its own: encoding there writes exactly what the
//! transaction added. The update is the same document change (blocks not yet merged
//! are encoded as the separate blocks they were created as, and content deleted by
//! the same transaction as content, not yet as a GC range), so every Yjs peer
//! applies it to the same result.

use yrs::{Origin, TransactionMut};

/// Calls `f` after every transaction on the document that changed it (the
/// transactions for which yrs's `observe_update_v1` would fire), before yrs merges
/// its blocks. `txn.encode_update_v1()` inside `f` is the transaction's update, at a
/// cost proportional to it (see the module docs for why `observe_update_v1` is not).
///
/// `key` names the subscription for [`unobserve_changes`]; a second subscription
/// under the same key replaces the first.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use wiredb_protocol::observe_changes;
/// use yrs::{Doc, Text, Transact};
///
/// let doc = Doc::new();
/// let updates = Arc::new(Mutex::new(Vec::new()));
/// observe_changes(&mut doc.transact_mut(), "log", {
///     let updates = updates.clone();
///     move |txn| updates.lock().unwrap().push(txn.encode_update_v1())
/// });
/// let text = doc.get_or_insert_text("t");
/// text.push(&mut doc.transact_mut(), "hello");
/// drop(doc.transact_mut()); // changes nothing: no update
/// assert_eq!(updates.lock().unwrap().len(), 1);
/// ```
pub fn observe_changes<K, F>(txn: &mut TransactionMut, key: K, mut f: F)
where
    K: Into<Origin>,
    F: FnMut(&TransactionMut) + Send + Sync + 'static,
{
    txn.observe_after_transaction(key, move |txn| {
        if changed(txn) {
            f(txn);
        }
    });
}

/// Ends the subscription [`observe_changes`] made under `key`; false if there was
/// none.
pub fn unobserve_changes<K: Into<Origin>>(txn: &TransactionMut, key: K) -> bool {
    txn.unobserve_after_transaction(key)
}

/// Whether the transaction inserted or deleted anything: the condition under which
/// yrs emits an update event.
fn changed(txn: &TransactionMut) -> bool {
    !txn.delete_set().is_empty() || txn.after_state() != txn.before_state()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use yrs::types::ToJson;
    use yrs::types::text::YChange;
    use yrs::updates::decoder::Decode;
    use yrs::{
        Any, Array, Doc, GetString, Map, ReadTxn, StateVector, Text, Transact, Update, WriteTxn,
    };

    use super::*;

    /// A small deterministic generator: the same edits on every run.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u32) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) % u64::from(n.max(1))) as u32
        }
    }

    fn replay(updates: &[Vec<u8>]) -> Doc {
        let doc = Doc::new();
        for update in updates {
            doc.transact_mut()
                .apply_update(Update::decode_v1(update).unwrap())
                .unwrap();
        }
        doc
    }

    fn state(doc: &Doc) -> Vec<u8> {
        doc.transact()
            .encode_state_as_update_v1(&StateVector::default())
    }

    /// The updates `observe_changes` yields rebuild the same document, byte for byte,
    /// as the ones of yrs's own `observe_update_v1`, over edits of every kind: typing
    /// and deleting in a text (at its end, where blocks merge, and anywhere), formatting,
    /// maps, arrays, several edits per transaction, content deleted by the transaction
    /// that inserted it, and transactions that change nothing.
    #[test]
    fn updates_rebuild_the_same_document_as_yrs_observer() {
        let doc = Doc::with_client_id(7);
        let ours = Arc::new(Mutex::new(Vec::new()));
        let yrs_own = Arc::new(Mutex::new(Vec::new()));
        observe_changes(&mut doc.transact_mut(), "ours", {
            let ours = ours.clone();
            move |txn| ours.lock().unwrap().push(txn.encode_update_v1())
        });
        doc.transact_mut().observe_update_v1("yrs", {
            let yrs_own = yrs_own.clone();
            move |_, event| yrs_own.lock().unwrap().push(event.update.clone())
        });
        let (text, map, array) = {
            let mut txn = doc.transact_mut();
            (
                txn.get_or_insert_text("text"),
                txn.get_or_insert_map("map"),
                txn.get_or_insert_array("array"),
            )
        };
        let mut random = Lcg(42);
        for round in 0..2000 {
            let mut txn = doc.transact_mut();
            for _ in 0..=random.below(3) {
                let len = text.len(&txn);
                match random.below(8) {
                    0..=2 => text.push(&mut txn, "abc"),
                    3 => text.insert(&mut txn, random.below(len + 1), "xyz"),
                    4 if len > 0 => {
                        let at = random.below(len);
                        text.remove_range(&mut txn, at, random.below((len - at).min(4)).max(1));
                    }
                    5 if len > 2 => {
                        let attributes = [("bold".into(), Any::Bool(true))].into_iter().collect();
                        text.format(&mut txn, 1, random.below(len - 1).max(1), attributes);
                    }
                    6 => {
                        map.insert(&mut txn, format!("k{}", random.below(10)), round);
                        if random.below(3) == 0 {
                            map.remove(&mut txn, &format!("k{}", random.below(10)));
                        }
                    }
                    _ => {
                        let n = array.len(&txn);
                        array.insert(&mut txn, random.below(n + 1), round);
                        if n > 3 {
                            array.remove_range(&mut txn, random.below(n - 2), 2);
                        }
                    }
                }
            }
            if round % 50 == 0 {
                // Inserted and deleted again in one transaction.
                let len = text.len(&txn);
                text.insert(&mut txn, len, "gone");
                text.remove_range(&mut txn, len, 4);
            }
        }
        drop(doc.transact_mut());
        let (ours, yrs_own) = (ours.lock().unwrap(), yrs_own.lock().unwrap());
        assert_eq!(
            ours.len(),
            yrs_own.len(),
            "one update per changing transaction"
        );
        let (from_ours, from_yrs) = (replay(&ours), replay(&yrs_own));
        assert_eq!(state(&from_ours), state(&from_yrs));
        // And what it holds is the original's (its encoding differs: the original
        // still has the blocks that were merged or collected as they were made).
        assert_eq!(contents(&from_ours), contents(&doc));
        assert_eq!(
            from_ours.transact().snapshot(),
            doc.transact().snapshot(),
            "the same operations, deletions included"
        );
    }

    /// Every root's content, the text's formatting included.
    fn contents(doc: &Doc) -> String {
        let (text, map, array) = (
            doc.get_or_insert_text("text"),
            doc.get_or_insert_map("map"),
            doc.get_or_insert_array("array"),
        );
        let txn = doc.transact();
        let formatted: Vec<String> = text
            .diff(&txn, YChange::identity)
            .iter()
            .map(|chunk| format!("{:?} {:?}", chunk.insert, chunk.attributes))
            .collect();
        format!(
            "{formatted:?}\n{}\n{}\n{}",
            text.get_string(&txn),
            map.iter(&txn)
                .map(|(key, value)| (key.to_owned(), value.to_string(&txn)))
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect::<Vec<_>>()
                .join(","),
            array.to_json(&txn)
        )
    }

    #[test]
    fn unobserving_ends_the_calls() {
        let doc = Doc::new();
        let calls = Arc::new(Mutex::new(0));
        observe_changes(&mut doc.transact_mut(), "count", {
            let calls = calls.clone();
            move |_| *calls.lock().unwrap() += 1
        });
        let text = doc.get_or_insert_text("t");
        text.push(&mut doc.transact_mut(), "a");
        assert!(unobserve_changes(&doc.transact_mut(), "count"));
        text.push(&mut doc.transact_mut(), "b");
        assert_eq!(*calls.lock().unwrap(), 1);
        assert!(!unobserve_changes(&doc.transact_mut(), "count"));
    }
}
