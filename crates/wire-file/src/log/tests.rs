//! Tests of [`UpdateLog`](super::UpdateLog): open, repair, append, squash, lock.

use std::fs;
use std::path::{Path, PathBuf};

use super::*;
use crate::create_dir_durably;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use yrs::{Doc, GetString, ReadTxn, Text, Transact};

/// A temp dir and the path of a log inside it.
fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("room_updates.y");
    (dir, path)
}

fn open(path: &Path) -> (UpdateLog, Vec<Vec<u8>>) {
    UpdateLog::open(path, Durability::default()).unwrap()
}

/// Real Yjs updates: each pushes `word` to the text "t".
fn text_updates(words: &[&str]) -> Vec<Vec<u8>> {
    let doc = Doc::with_client_id(1);
    let text = doc.get_or_insert_text("t");
    words
        .iter()
        .map(|word| {
            let before = doc.transact().state_vector();
            text.push(&mut doc.transact_mut(), word);
            doc.transact().encode_diff_v1(&before)
        })
        .collect()
}

/// The string of text "t" after applying `updates` to a fresh doc.
fn text_of(updates: &[impl AsRef<[u8]>]) -> String {
    let doc = Doc::new();
    let text = doc.get_or_insert_text("t");
    let mut txn = doc.transact_mut();
    for update in updates {
        txn.apply_update(Update::decode_v1(update.as_ref()).unwrap())
            .unwrap();
    }
    text.get_string(&txn)
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn new_log_is_just_the_header() {
    let (_dir, path) = setup();
    let (log, records) = open(&path);
    assert!(records.is_empty());
    assert_eq!(
        fs::read(&path).unwrap(),
        [0x30, 0x2e, 0x30, 0x2e, 0x31, 0x00]
    );
    assert_eq!(
        (log.len(), log.record_count(), log.is_empty()),
        (6, 0, true)
    );
    assert_eq!(log.path(), path);
    assert_eq!(log.durability(), Durability::Fsync);
}

#[test]
fn exact_bytes_of_a_small_file() {
    let (_dir, path) = setup();
    let (mut log, _) = open(&path);
    let stats = log.append([&b"ab"[..], b"", b"xyz"]).unwrap();
    assert_eq!(
        stats,
        AppendStats {
            records: 2,
            bytes: 7,
            synced: true, // the default durability is Fsync
        }
    );
    log.append([vec![0x55; 128]]).unwrap();
    let mut expected = vec![0x30, 0x2e, 0x30, 0x2e, 0x31, 0x00];
    expected.extend_from_slice(&[0x02, b'a', b'b', 0x03, b'x', b'y', b'z']);
    expected.extend_from_slice(&[0x80, 0x01]);
    expected.extend_from_slice(&[0x55; 128]);
    assert_eq!(fs::read(&path).unwrap(), expected);
    assert_eq!(log.len(), expected.len() as u64);
    assert_eq!(log.record_count(), 3);
}

#[test]
fn appends_round_trip_across_reopen() {
    let (_dir, path) = setup();
    let updates = text_updates(&["a", "bc", "def", "ghij", "k"]);
    for (i, durability) in [Durability::None, Durability::Flush, Durability::Fsync]
        .into_iter()
        .enumerate()
    {
        let (mut log, records) = UpdateLog::open(&path, durability).unwrap();
        assert_eq!(records.len(), i * 2);
        log.append(&updates[i * 2..(i * 2 + 2).min(updates.len())])
            .unwrap();
        log.sync().unwrap();
    }
    let (log, records) = open(&path);
    assert_eq!(records, updates);
    assert_eq!(log.record_count(), 5);
    assert_eq!(log.len(), fs::metadata(&path).unwrap().len());
    assert_eq!(text_of(&records), "abcdefghijk");
}

#[test]
fn empty_batch_writes_nothing() {
    let (_dir, path) = setup();
    let (mut log, _) = open(&path);
    let none: [&[u8]; 0] = [];
    assert_eq!(log.append(none).unwrap(), AppendStats::default());
    assert_eq!(log.append([b""]).unwrap(), AppendStats::default());
    assert_eq!(fs::read(&path).unwrap(), format::HEADER);
}

#[test]
fn every_truncation_of_the_last_record_is_repaired() {
    let (_dir, path) = setup();
    let updates = text_updates(&["one", "two", &"x".repeat(200)]);
    let (mut log, _) = open(&path);
    log.append(&updates).unwrap();
    drop(log);
    let whole = fs::read(&path).unwrap();
    let last_len = updates[2].len();
    assert!(last_len >= 128, "the last record needs a two-byte var-uint");
    let valid = whole.len() - 2 - last_len;

    for cut in valid + 1..whole.len() {
        fs::write(&path, &whole[..cut]).unwrap();
        let (log, records) = open(&path);
        assert_eq!(records, &updates[..2], "cut at {cut}");
        assert_eq!(log.len(), valid as u64);
        assert_eq!(log.record_count(), 2);
        assert_eq!(fs::read(&path).unwrap(), &whole[..valid], "cut at {cut}");
    }

    // And a repaired log is appendable as usual.
    let (mut log, _) = open(&path);
    log.append([&updates[2]]).unwrap();
    drop(log);
    assert_eq!(fs::read(&path).unwrap(), whole);
}

#[test]
fn torn_header_starts_afresh() {
    let (_dir, path) = setup();
    fs::write(&path, b"0.0").unwrap();
    let (log, records) = open(&path);
    assert!(records.is_empty());
    assert_eq!(log.len(), 6);
    assert_eq!(fs::read(&path).unwrap(), format::HEADER);
}

#[test]
fn absurd_declared_length_is_cut_off_without_allocating() {
    let (_dir, path) = setup();
    let mut bytes = format::encode_header();
    format::encode_record(b"kept", &mut bytes);
    let valid = bytes.len();
    // 2^60 as a var-uint: eight 0x80 bytes, then 0x10.
    bytes.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    bytes.extend_from_slice(&[1; 50]);
    fs::write(&path, &bytes).unwrap();
    let (_log, records) = open(&path);
    assert_eq!(records, [b"kept".to_vec()]);
    assert_eq!(fs::read(&path).unwrap(), &bytes[..valid]);
}

#[test]
fn version_mismatch_leaves_the_file_untouched() {
    let (_dir, path) = setup();
    let mut bytes = b"0.0.2\0".to_vec();
    format::encode_record(b"from the future", &mut bytes);
    bytes.push(0x7f); // also a torn tail: must not be "repaired" either
    fs::write(&path, &bytes).unwrap();

    let err = UpdateLog::open(&path, Durability::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, Error::VersionMismatch { path: Some(p), expected: "0.0.1", found }
            if p == &path && found == "0.0.2"),
        "{err:?}"
    );
    assert!(
        msg.contains("\"0.0.1\"") && msg.contains("\"0.0.2\""),
        "{msg}"
    );
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn foreign_file_is_not_an_update_log_and_left_untouched() {
    let (_dir, path) = setup();
    let bytes = vec![b'#'; 100];
    fs::write(&path, &bytes).unwrap();
    let err = UpdateLog::open(&path, Durability::default()).unwrap_err();
    assert!(matches!(&err, Error::NotAnUpdateLog { path: Some(p), .. } if p == &path));
    assert!(err.to_string().contains(&path.display().to_string()));
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn second_open_is_locked_until_the_first_is_dropped() {
    let (_dir, path) = setup();
    let (mut log, _) = open(&path);
    log.append([b"x"]).unwrap();
    let err = UpdateLog::open(&path, Durability::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Locked { path: p } if p == &path),
        "{err:?}"
    );
    assert!(err.to_string().contains("locked"));
    drop(log);
    let (_log, records) = open(&path);
    assert_eq!(records, [b"x".to_vec()]);
}

#[test]
fn missing_directory_is_an_io_error_naming_the_path() {
    let (dir, _) = setup();
    let path = dir.path().join("no-such-dir").join("x.y");
    let err = UpdateLog::open(&path, Durability::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path: p, .. } if p == &path),
        "{err:?}"
    );
}

#[test]
fn squash_keeps_the_content_in_one_record() {
    let (dir, path) = setup();
    let updates = text_updates(&["hello", ", ", "world", "!"]);
    let (mut log, _) = open(&path);
    log.append(&updates[..2]).unwrap();
    log.append(&updates[2..]).unwrap();
    let before = log.len();

    let merged = crate::merge_records(&updates).unwrap();
    let stats = log.squash(&merged).unwrap();
    assert_eq!(stats.bytes_before, before);
    assert_eq!(stats.bytes_after, log.len());
    assert_eq!(log.record_count(), 1);
    assert_eq!(
        entries(dir.path()),
        ["room_updates.y"],
        "no temp file remains"
    );

    // The log goes on on the new file, and still holds the lock.
    let more = {
        let doc = Doc::with_client_id(1);
        let text = doc.get_or_insert_text("t");
        doc.transact_mut()
            .apply_update(Update::decode_v1(&merged).unwrap())
            .unwrap();
        let before = doc.transact().state_vector();
        text.push(&mut doc.transact_mut(), " more");
        doc.transact().encode_diff_v1(&before)
    };
    log.append([&more]).unwrap();
    assert!(matches!(
        UpdateLog::open(&path, Durability::default()),
        Err(Error::Locked { .. })
    ));
    drop(log);

    let (log, records) = open(&path);
    assert_eq!(records, [merged, more]);
    assert_eq!(log.record_count(), 2);
    assert_eq!(text_of(&records), "hello, world! more");
}

#[test]
fn squash_through_a_doc_works_too() {
    let (_dir, path) = setup();
    let updates = text_updates(&["abc", "def"]);
    let (mut log, _) = open(&path);
    log.append(&updates).unwrap();
    let doc = Doc::new();
    {
        let mut txn = doc.transact_mut();
        for update in &updates {
            txn.apply_update(Update::decode_v1(update).unwrap())
                .unwrap();
        }
    }
    let state = doc
        .transact()
        .encode_state_as_update_v1(&yrs::StateVector::default());
    log.squash(&state).unwrap();
    drop(log);
    let (_log, records) = open(&path);
    assert_eq!(records, [state]);
    assert_eq!(text_of(&records), "abcdef");
}

#[test]
fn squash_with_an_empty_update_leaves_no_records() {
    let (_dir, path) = setup();
    let (mut log, _) = open(&path);
    log.append(text_updates(&["x"])).unwrap();
    log.squash(&[]).unwrap();
    assert_eq!((log.record_count(), log.len()), (0, 6));
    assert_eq!(fs::read(&path).unwrap(), format::HEADER);
    // The empty document as yrs encodes it, too.
    log.append(text_updates(&["y"])).unwrap();
    log.squash(&[0, 0]).unwrap();
    assert_eq!((log.record_count(), log.len()), (0, 6));
}

#[test]
fn failed_squash_leaves_the_log_intact() {
    let (dir, path) = setup();
    let updates = text_updates(&["a", "b"]);
    let (mut log, _) = open(&path);
    log.append(&updates).unwrap();
    let bytes = fs::read(&path).unwrap();
    let merged = crate::merge_records(&updates).unwrap();

    // The temp path is taken by a directory: creating the file fails.
    let temp = dir.path().join(".room_updates.y.tmp");
    fs::create_dir(&temp).unwrap();
    let err = log.squash_via(&temp, &merged).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path: p, .. } if p == &temp),
        "{err:?}"
    );
    assert!(temp.is_dir(), "a pre-existing entry is never clobbered");
    fs::remove_dir(&temp).unwrap();

    // The temp file is written but renaming fails (target is a directory).
    let elsewhere = dir.path().join("sub");
    fs::create_dir(&elsewhere).unwrap();
    let mut other = UpdateLog {
        path: elsewhere.clone(),
        ..open(&dir.path().join("other.y")).0
    };
    let temp2 = dir.path().join(".other.tmp");
    assert!(other.squash_via(&temp2, &merged).is_err());
    assert!(
        !temp2.exists(),
        "the temp file of a failed squash is removed"
    );

    // A garbage update is rejected before anything is written.
    let err = log.squash(&[0xff, 0xff, 0xff]).unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");

    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(log.record_count(), 2);
    log.append([b"still appendable"]).unwrap();
    drop(log);
    let (_log, records) = open(&path);
    assert_eq!(records.len(), 3);
    assert_eq!(entries(dir.path()), ["other.y", "room_updates.y", "sub"]);
}

#[test]
fn failed_append_is_cut_back_before_the_next_one() {
    let (_dir, path) = setup();
    let (mut log, _) = open(&path);
    log.append([b"whole"]).unwrap();
    // Simulate a write that died midway: a partial record at the end,
    // and a cut that could not be made at the time.
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[0x10, b'p', b'a'])
        .unwrap();
    log.needs_truncate = true;
    log.append([b"next"]).unwrap();
    drop(log);
    let (_log, records) = open(&path);
    assert_eq!(records, [b"whole".to_vec(), b"next".to_vec()]);
}

#[test]
fn read_records_returns_what_open_and_append_wrote() {
    let (_dir, path) = setup();
    let (mut log, _) = open(&path);
    log.append([b"one", b"two"]).unwrap();
    drop(log);
    let (mut log, _) = open(&path);
    log.append([b"three"]).unwrap();
    assert_eq!(
        log.read_records().unwrap(),
        [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
    // Appends still go to the end after a read moved the position.
    log.append([b"four"]).unwrap();
    log.squash(&[]).unwrap();
    log.append([b"five"]).unwrap();
    assert_eq!(log.read_records().unwrap(), [b"five".to_vec()]);

    // Cut behind the log's back: an error, not a silent short read.
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(8)
        .unwrap();
    let err = log.read_records().unwrap_err();
    assert!(
        matches!(&err, Error::Io { path: p, .. } if p == &path),
        "{err:?}"
    );
}

#[test]
fn temp_paths_are_hidden_siblings() {
    let a = temp_path(Path::new("/data/room_updates.y"));
    assert_eq!(a, Path::new("/data/.room_updates.y.tmp"));
    assert_eq!(temp_path(Path::new("x.y")), Path::new("./.x.y.tmp"));
}

#[test]
fn nested_directories_are_created_once_and_then_left_alone() {
    let (dir, _) = setup();
    let nested = dir.path().join("a").join("b");
    create_dir_durably(&nested).unwrap();
    assert!(nested.is_dir());
    create_dir_durably(&nested).unwrap();
    let file = dir.path().join("file");
    fs::write(&file, b"").unwrap();
    assert!(matches!(
        create_dir_durably(&file.join("x")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn records_after_a_zero_length_record_are_refused_and_left_untouched() {
    let (_dir, path) = setup();
    let mut bytes = format::encode_header();
    format::encode_record(b"one", &mut bytes);
    bytes.push(0);
    format::encode_record(b"two", &mut bytes);
    fs::write(&path, &bytes).unwrap();
    let err = UpdateLog::open(&path, Durability::default()).unwrap_err();
    assert!(
        matches!(err, Error::InvalidContent { path: Some(_), .. }),
        "{err:?}"
    );
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn a_crashed_squash_leaves_no_temp_file_after_the_next_open() {
    let (dir, path) = setup();
    drop(open(&path));
    // What a process killed between creating and renaming its temp file
    // leaves, next to another log's temp file, which must stay.
    let stale = dir.path().join(".room_updates.y.tmp");
    let other = dir.path().join(".other_updates.y.tmp");
    fs::write(&stale, b"0.0.1\0half").unwrap();
    fs::write(&other, b"0.0.1\0").unwrap();
    let (_log, records) = open(&path);
    assert!(records.is_empty());
    assert!(!stale.exists());
    assert!(other.exists());
}

#[cfg(unix)]
#[test]
fn squash_keeps_the_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path) = setup();
    let (mut log, _) = open(&path);
    log.append(text_updates(&["a", "b"])).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o604)).unwrap();
    let merged = log.read_records().unwrap();
    log.squash(&crate::squashed_state(&merged).unwrap())
        .unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o604);
}

/// Random batches, random reopens, random crashes mid-append (simulated
/// by cutting the file inside the last batch): the log always reopens
/// with exactly the records of the whole batches written before.
#[test]
fn random_batches_survive_reopens_and_torn_tails() {
    let mut rng = StdRng::seed_from_u64(0x5eed_f11e);
    for round in 0..20 {
        let (_dir, path) = setup();
        let mut expected: Vec<Vec<u8>> = Vec::new();
        let (mut log, _) = open(&path);
        for _ in 0..rng.random_range(1..15) {
            let batch: Vec<Vec<u8>> = (0..rng.random_range(0..6))
                .map(|_| {
                    let len = match rng.random_range(0..10) {
                        0 => 0,
                        1..=6 => rng.random_range(1..20),
                        7 | 8 => rng.random_range(100..300),
                        _ => rng.random_range(16_000..17_000),
                    };
                    (0..len).map(|_| rng.random()).collect()
                })
                .collect();
            let before = log.len();
            let stats = log.append(&batch).unwrap();
            assert_eq!(log.len() - before, stats.bytes);
            let written: Vec<Vec<u8>> = batch.into_iter().filter(|u| !u.is_empty()).collect();
            assert_eq!(stats.records, written.len());

            match rng.random_range(0..4) {
                0 => {
                    // Reopen cleanly.
                    drop(log);
                    expected.extend(written);
                    let records;
                    (log, records) = open(&path);
                    assert_eq!(records, expected, "round {round}");
                }
                1 if stats.bytes > 0 => {
                    // Crash in the middle of this batch's write.
                    drop(log);
                    let cut = before + rng.random_range(0..stats.bytes);
                    let file = OpenOptions::new().write(true).open(&path).unwrap();
                    file.set_len(cut).unwrap();
                    drop(file);
                    let mut prefix = format::encode_header();
                    let mut kept = Vec::new();
                    for record in expected.iter().chain(&written) {
                        let mut next = prefix.clone();
                        format::encode_record(record, &mut next);
                        if next.len() as u64 > cut {
                            break;
                        }
                        prefix = next;
                        kept.push(record.clone());
                    }
                    let records;
                    (log, records) = open(&path);
                    assert_eq!(records, kept, "round {round}");
                    assert_eq!(log.len(), prefix.len() as u64);
                    assert_eq!(fs::read(&path).unwrap(), prefix);
                    expected = kept;
                }
                _ => expected.extend(written),
            }
            assert_eq!(log.record_count(), expected.len());
        }
        drop(log);
        let (_log, records) = open(&path);
        assert_eq!(records, expected, "round {round}");
    }
}
