//! Room ids → file names: every room of an [`AsyncFileServer`](crate::AsyncFileServer)
//! lives in `{dir}/{encoded id}_updates.y`.
//!
//! A room id comes from a client (a URL path), so it may be anything: `../x`,
//! `/etc/passwd`, `a/b`, `..`, an empty string, a NUL byte, 10 KB of text. The
//! encoding makes every one of them a single, ordinary file name inside the
//! directory:
//!
//! - every byte of the id's UTF-8 other than `A-Z a-z 0-9 _ . - ~` is
//!   percent-encoded as `%XX` (upper-case hex), exactly like Python's
//!   `urllib.parse.quote(id, safe="")`: no `/`, no NUL, no control character
//!   can reach the file system, and ordinary ids give the same names as the
//!   `{quote(id)}_updates.y` naming of the Python interop server
//!   (`tests/interop/py_server.py`);
//! - a leading `.` is encoded too (`%2E`; `.` and `..` become `%2E` and
//!   `%2E%2E`, as in that Python server), so no room file is hidden, and no
//!   name can be mistaken for the `.{name}.tmp-…` temp files of a squash;
//! - the encoded id is capped at [`MAX_ENCODED_LEN`] bytes, because file names
//!   are limited to 255 bytes and a squash adds a temp-file suffix: a longer
//!   one is cut (never inside a `%XX`) and followed by `~` and the 128-bit
//!   FNV-1a hash of the whole id in hex. FNV-1a is written out here rather than
//!   taken from `std`, whose hasher is free to change between releases: a file
//!   name must stay the same forever.
//!
//! The mapping is injective: two different ids never share a file (for cut
//! ids, barring a 128-bit hash collision). Ids that are not cut decode back
//! with [`id_from_file_name`].
//!
//! One thing it cannot do: on a case-insensitive file system (macOS, Windows
//! by default) the ids `Doc` and `doc` name the same file, as they would in
//! Python.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What follows the encoded id in every room file name.
pub const FILE_SUFFIX: &str = "_updates.y";

/// The longest encoded id kept whole, in bytes.
///
/// With [`FILE_SUFFIX`], the hash of a cut id, and the temp-file decoration a
/// squash adds (`.` … `.tmp-{pid}-{counter}`, at most 34 bytes), every name
/// stays well under the usual 255-byte limit.
pub const MAX_ENCODED_LEN: usize = 150;

/// The file name of room `id`: `{encoded id}_updates.y` (see the `naming`
/// module's docs).
///
/// ```
/// use wire_file::room_file_name as file_name;
///
/// assert_eq!(file_name("my-room"), "my-room_updates.y");
/// assert_eq!(file_name("../etc/passwd"), "%2E.%2Fetc%2Fpasswd_updates.y");
/// assert_eq!(file_name(".."), "%2E%2E_updates.y");
/// assert_eq!(file_name("café"), "caf%C3%A9_updates.y");
/// assert_eq!(file_name(""), "_updates.y");
/// assert!(file_name(&"x".repeat(10_000)).len() < 200);
/// ```
pub fn file_name(id: &str) -> String {
    let mut name = encode_id(id);
    name.push_str(FILE_SUFFIX);
    name
}

/// `dir` joined with [`file_name`]`(id)`: always a direct child of `dir`.
///
/// ```
/// use std::path::Path;
/// let path = wire_file::room_path(Path::new("/data"), "a/../../b");
/// assert_eq!(path.parent(), Some(Path::new("/data")));
/// ```
pub fn path_for(dir: &Path, id: &str) -> PathBuf {
    dir.join(file_name(id))
}

/// The room id a file name was made from, or `None` when the name is not one
/// [`file_name`] produces, or is the name of a cut (hashed) id.
///
/// ```
/// use wire_file::{room_file_name as file_name, room_id_from_file_name as id_from_file_name};
///
/// assert_eq!(id_from_file_name("a%2Fb_updates.y").as_deref(), Some("a/b"));
/// assert_eq!(id_from_file_name(&file_name("..")).as_deref(), Some(".."));
/// assert_eq!(id_from_file_name("notes.txt"), None);
/// assert_eq!(id_from_file_name("a%2fb_updates.y"), None); // not how we write it
/// ```
pub fn id_from_file_name(name: &str) -> Option<String> {
    let encoded = name.strip_suffix(FILE_SUFFIX)?;
    if encoded.len() > MAX_ENCODED_LEN {
        return None;
    }
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = tail.get(..2)?;
            let hex = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    let id = String::from_utf8(bytes).ok()?;
    // Only the canonical spelling counts: `%2f` or an unencoded leading `.`
    // would decode, but no id is stored under such a name.
    (encode_id(&id) == encoded).then_some(id)
}

/// The id part of a file name: percent-encoded, leading dot encoded, capped.
fn encode_id(id: &str) -> String {
    let mut name = String::with_capacity(id.len());
    for &byte in id.as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-' | b'~') {
            name.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(name, "%{byte:02X}");
        }
    }
    if name == "." || name == ".." {
        name = name.replace('.', "%2E");
    } else if name.starts_with('.') {
        name.replace_range(..1, "%2E");
    }
    if name.len() > MAX_ENCODED_LEN {
        let mut cut = MAX_ENCODED_LEN;
        // Back up to the start of a `%XX` escape cut in the middle. The name
        // is ASCII, so every index is a char boundary.
        let bytes = name.as_bytes();
        if bytes[cut - 1] == b'%' {
            cut -= 1;
        } else if bytes[cut - 2] == b'%' {
            cut -= 2;
        }
        name.truncate(cut);
        // The result is longer than MAX_ENCODED_LEN, so it cannot be the
        // whole encoding of another, shorter id.
        let _ = write!(name, "~{:032x}", fnv1a_128(id.as_bytes()));
    }
    name
}

/// 128-bit FNV-1a (<http://www.isthe.com/chongo/tech/comp/fnv/>): tiny, stable
/// forever, and well spread; not meant to resist a deliberate collision.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET_BASIS: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| {
        (hash ^ u128::from(byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::HashMap;

    /// A name that is one plain file name in the directory.
    fn assert_safe(id: &str) {
        let name = file_name(id);
        assert!(name.len() <= 255 - 34, "{id:?} -> {} bytes", name.len());
        assert!(!name.starts_with('.'), "{id:?} -> hidden {name:?}");
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-~%".contains(&b)),
            "{id:?} -> {name:?}"
        );
        let dir = Path::new("/rooms");
        let path = path_for(dir, id);
        assert_eq!(path.parent(), Some(dir), "{id:?}");
        assert_eq!(
            path.components().count(),
            dir.components().count() + 1,
            "{id:?}"
        );
    }

    #[test]
    fn hostile_ids_stay_inside_the_directory() {
        let long = "é/".repeat(5_000);
        for id in [
            "../x", "/etc/x", "a/b", "..", ".", "", "\0", "a\0b", "\\..\\x", ".hidden", "~", "%",
            "%2E", &long,
        ] {
            assert_safe(id);
        }
        assert_eq!(file_name("../x"), "%2E.%2Fx_updates.y");
        assert_eq!(file_name("/etc/x"), "%2Fetc%2Fx_updates.y");
        assert_eq!(file_name("a/b"), "a%2Fb_updates.y");
        assert_eq!(file_name("."), "%2E_updates.y");
        assert_eq!(file_name("a\0b"), "a%00b_updates.y");
        assert_eq!(file_name("%"), "%25_updates.y");
        assert_eq!(file_name("%2E"), "%252E_updates.y");
    }

    #[test]
    fn ordinary_ids_match_python_quote() {
        // urllib.parse.quote(id, safe="") for each id, computed with Python 3.11.
        for (id, quoted) in [
            ("doc1", "doc1"),
            ("my room", "my%20room"),
            ("a-b_c.d~e", "a-b_c.d~e"),
            ("日本", "%E6%97%A5%E6%9C%AC"),
            ("x?y=z&w#v", "x%3Fy%3Dz%26w%23v"),
            ("emoji🙂", "emoji%F0%9F%99%82"),
        ] {
            assert_eq!(file_name(id), format!("{quoted}_updates.y"));
        }
    }

    #[test]
    fn long_ids_are_cut_and_hashed() {
        let a = "a".repeat(10_000);
        let mut b = a.clone();
        b.push('b');
        let (na, nb) = (file_name(&a), file_name(&b));
        assert_ne!(na, nb, "same prefix, different ids");
        assert!(na.starts_with(&"a".repeat(MAX_ENCODED_LEN)));
        assert_eq!(na.len(), MAX_ENCODED_LEN + 1 + 32 + FILE_SUFFIX.len());
        assert_eq!(file_name(&a), na, "stable");
        assert_eq!(id_from_file_name(&na), None);

        // An escape straddling the cut is dropped whole, never split.
        for pad in 0..3 {
            let id = format!(
                "{}{}",
                "a".repeat(MAX_ENCODED_LEN - 3 + pad),
                "/".repeat(60)
            );
            let name = file_name(&id);
            let encoded = name.strip_suffix(FILE_SUFFIX).unwrap();
            let (prefix, _hash) = encoded.rsplit_once('~').unwrap();
            assert!(prefix.len() <= MAX_ENCODED_LEN && prefix.len() >= MAX_ENCODED_LEN - 2);
            assert!(prefix.ends_with("%2F") || prefix.ends_with('a'), "{prefix}");
            assert_safe(&id);
        }
    }

    #[test]
    fn fnv1a_128_matches_the_reference_vectors() {
        // The published FNV-1a 128 vectors for "" and "a".
        assert_eq!(fnv1a_128(b""), 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d);
        assert_eq!(fnv1a_128(b"a"), 0xd228_cb69_6f1a_8caf_7891_2b70_4e4a_8964);
    }

    /// Random ids, biased towards the troublesome characters: names never
    /// collide, are always safe, and those not cut decode back.
    #[test]
    fn random_ids_are_injective_and_decode_back() {
        let alphabet: Vec<char> = "a./%~_\0é🙂 -Z".chars().collect();
        let mut rng = StdRng::seed_from_u64(0x1d5);
        let mut seen: HashMap<String, String> = HashMap::new();
        for _ in 0..20_000 {
            let len = match rng.random_range(0..10) {
                0 => rng.random_range(100..300),
                _ => rng.random_range(0..8),
            };
            let id: String = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let name = file_name(&id);
            if let Some(other) = seen.insert(name.clone(), id.clone()) {
                assert_eq!(other, id, "two ids share {name:?}");
            }
            assert_safe(&id);
            let encoded_len = name.len() - FILE_SUFFIX.len();
            if encoded_len <= MAX_ENCODED_LEN {
                assert_eq!(id_from_file_name(&name).as_deref(), Some(id.as_str()));
            }
        }
    }

    #[test]
    fn foreign_names_do_not_decode() {
        for name in [
            "x.y",
            "a%2_updates.y",
            "a%zz_updates.y",
            "a%FF_updates.y", // not UTF-8
            ".a_updates.y",   // we write %2Ea
            "a/b_updates.y",
        ] {
            assert_eq!(id_from_file_name(name), None, "{name}");
        }
    }
}
