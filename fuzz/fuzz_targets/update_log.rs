//! Any bytes as an update-log file: parsing gives records (with a torn tail noted) or a
//! clear error, and replaying the records gives a document or an error: never a panic,
//! which is what a server opening a damaged room file relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    // yrs asserts on some malformed input; wiredb catches those panics and turns them
    // into errors (`without_panics`). libFuzzer's hook would abort on the caught ones
    // too: a quiet hook leaves only panics that escape wiredb (a real crash: the
    // harness still aborts on them).
    init: std::panic::set_hook(Box::new(|_| {})),
    |file: &[u8]| {
    let Ok(parsed) = wire_file::parse_log(file) else {
        return;
    };
    assert!(parsed.valid_len <= file.len());
    let _ = wire_file::document_state(&parsed.records);
});
