//! A server-side connection fed a sequence of frames (each prefixed by its length in
//! one byte), as a peer would send them: every frame is handled or refused with an
//! error, the state machine never panics, and after an error the peer is dropped (as
//! the room does).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wiredb::protocol::{AwarenessLimits, Connection};
use wiredb::yrs::sync::Awareness;
use wiredb::yrs::{Doc, Text, Transact};

fuzz_target!(
    // yrs asserts on some malformed input; wiredb catches those panics and turns them
    // into errors (`without_panics`). libFuzzer's hook would abort on the caught ones
    // too: a quiet hook leaves only panics that escape wiredb (a real crash: the
    // harness still aborts on them).
    init: std::panic::set_hook(Box::new(|_| {})),
    |data: &[u8]| {
    let doc = Doc::with_client_id(1);
    doc.get_or_insert_text("text")
        .push(&mut doc.transact_mut(), "seed");
    let mut awareness = Awareness::new(doc);
    let mut connection = Connection::server(7u64);
    connection.set_awareness_limits(AwarenessLimits::default().max_states(8));
    if data.first().is_some_and(|b| b & 1 == 1) {
        connection.set_hold_remote_updates(true);
    }
    let _ = connection.open(&awareness);
    let mut rest = data.get(1..).unwrap_or_default();
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (frame, tail) = tail.split_at(len);
        rest = tail;
        let mut replied = 0usize;
        let handled = connection.receive_with(&mut awareness, frame, |reply| {
            replied += reply.len();
            Ok::<(), wiredb::protocol::ProtocolError>(())
        });
        if handled.is_err() {
            return;
        }
    }
    let _ = connection.release_held(&awareness);
});
