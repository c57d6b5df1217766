//! Any bytes as one y-protocols frame: decoding returns messages or an error, never
//! panics, and never allocates more than the bytes can hold (libFuzzer's `-rss_limit_mb`
//! catches a declared count taken at its word).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    // yrs asserts on some malformed input; wiredb catches those panics and turns them
    // into errors (`without_panics`). libFuzzer's hook would abort on the caught ones
    // too: a quiet hook leaves only panics that escape wiredb (a real crash: the
    // harness still aborts on them).
    init: std::panic::set_hook(Box::new(|_| {})),
    |frame: &[u8]| {
    let _ = wiredb::protocol::decode_frame(frame);
});
