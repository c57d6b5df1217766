//! Any room id: its file name is one path component that cannot name anything
//! outside the directory (no separator, no NUL, not `.` or `..`, not hidden, short),
//! and decodes back to the id whenever it was not cut.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    // yrs asserts on some malformed input; wiredb catches those panics and turns them
    // into errors (`without_panics`). libFuzzer's hook would abort on the caught ones
    // too: a quiet hook leaves only panics that escape wiredb (a real crash: the
    // harness still aborts on them).
    init: std::panic::set_hook(Box::new(|_| {})),
    |id: &str| {
    let name = wire_file::room_file_name(id);
    assert!(!name.contains('/') && !name.contains('\\') && !name.contains('\0'), "{name:?}");
    assert!(!name.starts_with('.'), "{name:?}");
    assert!(name.len() < 255, "{} bytes", name.len());
    let path = wire_file::room_path(std::path::Path::new("/data"), id);
    assert_eq!(path.parent(), Some(std::path::Path::new("/data")));
    if let Some(back) = wire_file::room_id_from_file_name(&name) {
        assert_eq!(back, id);
    }
});
