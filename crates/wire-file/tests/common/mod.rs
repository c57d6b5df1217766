//! Helpers shared by the integration tests: documents with a Y.Text "text"
//! and a Y.Map "map" (the shape every interop peer uses), and a view of a
//! log file that does not go through the code under test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
#[allow(unused_imports)] // not every test binary uses every helper
pub use wiredb_test_support::{push_text, set_map as set, text_of as text};

use yrs::types::ToJson;
use yrs::updates::decoder::Decode;
use yrs::{Any, Doc, Map, Out, Transact, Update};

/// The doc's "map", values as strings (JSON for non-strings).
pub fn map(doc: &Doc) -> BTreeMap<String, String> {
    let map = doc.get_or_insert_map("map");
    let txn = doc.transact();
    map.iter(&txn)
        .map(|(key, value)| {
            let value = match value {
                Out::Any(Any::String(s)) => s.to_string(),
                other => {
                    let mut json = String::new();
                    other.to_json(&txn).to_json(&mut json);
                    json
                }
            };
            (key.to_owned(), value)
        })
        .collect()
}

/// The records of the log at `path`, read straight from its bytes. Panics on
/// a torn tail: a file left by a clean close has none.
pub fn records(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let parsed = wire_file::parse_log(&bytes).unwrap();
    assert!(parsed.torn.is_none(), "{} has a torn tail", path.display());
    parsed.records.iter().map(|r| r.to_vec()).collect()
}

/// The document `records` describe, rebuilt with bare yrs.
pub fn replay(records: &[Vec<u8>]) -> Doc {
    let doc = Doc::new();
    let _ = doc.get_or_insert_text("text");
    let _ = doc.get_or_insert_map("map");
    {
        let mut txn = doc.transact_mut();
        for record in records {
            txn.apply_update(Update::decode_v1(record).unwrap())
                .unwrap();
        }
    }
    doc
}

/// The "text" of the log at `path`, rebuilt with bare yrs.
pub fn file_text(path: &Path) -> String {
    text(&replay(&records(path)))
}

/// `[(k, v)]` as an owned map.
pub fn map_of(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}
