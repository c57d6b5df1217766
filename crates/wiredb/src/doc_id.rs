//! [`new_doc`]: a document whose client id fits in 32 bits, as Yjs makes them.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use yrs::Doc;

/// A new document with a random client id below 2³², as Yjs (`random.uint32()`) and
/// most peers make them, rather than yrs's 53-bit default.
///
/// Some peers keep client ids in 32 bits: Python wiredb 0.7.1 (on pycrdt 0.12) takes a
/// document holding a larger id, and then never sends its own edits. Every document
/// the wiredb crates create for a client uses this; pass one of your own to a builder
/// (`.doc(..)`) to choose otherwise.
///
/// ```
/// let doc = wiredb::new_doc();
/// assert!(doc.client_id().get() <= u64::from(u32::MAX));
/// ```
pub fn new_doc() -> Doc {
    Doc::with_client_id(random_client_id())
}

fn random_client_id() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is keyed from the OS's randomness once per process; the counter and
    // the clock make each call's id differ.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0);
    hasher.write_u64(nanos);
    // Never 0, which some peers read as "no client".
    (hasher.finish() as u32).max(1).into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_32_bit_and_differ() {
        let ids: std::collections::HashSet<u64> = (0..1000)
            .map(|_| super::new_doc().client_id().get())
            .collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|&id| id > 0 && id <= u64::from(u32::MAX)));
    }
}
