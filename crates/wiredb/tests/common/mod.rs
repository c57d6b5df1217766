//! Helpers shared by the in-memory integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

#[allow(unused_imports)] // not every test binary uses every helper
pub use wiredb_test_support::{eventually, text_of};

use wiredb::MemoryChannel;
use wiredb::{Provider, ProviderConfig, RoomManager};
use yrs::{Doc, Map, MapRef, ReadTxn, StateVector, Text, TextRef, Transact};

/// Connects a new provider for `doc` to room `id` of `manager` over an in-memory pair.
pub fn connect(manager: &RoomManager, id: &str, doc: &Doc, config: ProviderConfig) -> Provider {
    let (server_end, client_end) = MemoryChannel::pair("server", "client");
    let manager = manager.clone();
    let id = id.to_owned();
    tokio::spawn(async move { manager.serve(&id, server_end, Default::default()).await });
    Provider::spawn(doc.clone(), client_end, config)
}

pub fn text(doc: &Doc) -> TextRef {
    doc.get_or_insert_text("text")
}

pub fn map(doc: &Doc) -> MapRef {
    doc.get_or_insert_map("map")
}

pub fn map_json(doc: &Doc) -> String {
    // Sorted, because map iteration order differs between replicas.
    let map = map(doc);
    let txn = doc.transact();
    let entries: std::collections::BTreeMap<String, String> = map
        .iter(&txn)
        .map(|(k, v)| (k.to_string(), v.to_string(&txn)))
        .collect();
    format!("{entries:?}")
}

pub fn state_vector(doc: &Doc) -> StateVector {
    doc.transact().state_vector()
}

/// Small deterministic PRNG so failures replay exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// One random edit of the text or the map.
pub fn random_edit(doc: &Doc, rng: &mut Rng, who: usize) {
    // Root types first: getting one opens its own transaction.
    let (t, m) = (text(doc), map(doc));
    let mut txn = doc.transact_mut();
    match rng.below(4) {
        0 | 1 => {
            let len = t.len(&txn);
            let at = rng.below(len as u64 + 1) as u32;
            t.insert(&mut txn, at, &format!("<{who}>"));
        }
        2 => {
            let len = t.len(&txn);
            if len > 2 {
                let at = rng.below(len as u64 - 1) as u32;
                t.remove_range(&mut txn, at, 1);
            }
        }
        _ => {
            let key = format!("k{}", rng.below(8));
            m.insert(&mut txn, key, format!("v{who}-{}", rng.below(1000)));
        }
    }
}
