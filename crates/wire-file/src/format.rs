//! The on-disk format of an update log, as pure functions over bytes.
//!
//! ```text
//! "0.0.1" 0x00                 header: ASCII version string, NUL
//! varuint(len) update_v1       one record per persisted update, repeated
//! ```
//!
//! `varuint` is lib0's unsigned variable-length integer (LEB128: 7 bits per
//! byte, least significant group first, high bit set on every byte but the
//! last). This is exactly what Python `wire_file` 0.7 writes, so files move
//! freely between the two implementations.
//!
//! This module does no I/O so that every corner of the format (torn tails,
//! absurd lengths, foreign headers) can be tested on plain byte slices; the
//! file handling lives in [`crate::log`].
//!
//! A log is only ever appended to, so the one kind of damage a crash can cause
//! is a *torn tail*: the last record's length prefix or payload stops short of
//! what it declares. [`parse`] reports it as a [`TornTail`] instead of an
//! error, keeping every whole record before it.

use crate::Error;

/// The format version this crate reads and writes, as found in the header.
pub const FORMAT_VERSION: &str = "0.0.1";

/// The complete header: [`FORMAT_VERSION`] followed by a NUL byte.
pub const HEADER: &[u8] = b"0.0.1\0";

/// How far [`parse`] looks for the NUL that ends the version string.
///
/// Bounded so that an arbitrary binary file is rejected quickly with a clear
/// message instead of being searched end to end.
pub const MAX_HEADER_LEN: usize = 64;

/// The longest valid var-uint for a `u64` (⌈64 / 7⌉ bytes).
const MAX_VARUINT_LEN: usize = 10;

/// Returns the header that starts every update log.
///
/// ```
/// assert_eq!(wire_file::encode_header(), b"0.0.1\0");
/// ```
pub fn encode_header() -> Vec<u8> {
    HEADER.to_vec()
}

/// Appends one record (`varuint(len)` then the update bytes) to `out`.
///
/// ```
/// let mut out = Vec::new();
/// wire_file::encode_record(&[7; 200], &mut out);
/// assert_eq!(&out[..2], &[0xc8, 0x01]); // 200 as a var-uint
/// assert_eq!(out.len(), 2 + 200);
/// ```
pub fn encode_record(update: &[u8], out: &mut Vec<u8>) {
    out.reserve(MAX_VARUINT_LEN + update.len());
    write_varuint(update.len() as u64, out);
    out.extend_from_slice(update);
}

/// Appends `value` to `out` as a lib0 var-uint.
fn write_varuint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        // Truncation to the low 7 bits is the point of the encoding.
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Why a var-uint could not be read.
#[derive(Debug, PartialEq, Eq)]
enum VarUintError {
    /// The data ended before the last byte (one with the high bit clear).
    Incomplete,
    /// The value does not fit in 64 bits.
    Overflow,
}

/// Reads a lib0 var-uint from the start of `bytes`, returning the value and
/// the number of bytes it took.
fn read_varuint(bytes: &[u8]) -> Result<(u64, usize), VarUintError> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        if i == MAX_VARUINT_LEN {
            return Err(VarUintError::Overflow);
        }
        let group = u64::from(byte & 0x7f);
        let shift = 7 * i as u32;
        // The tenth byte may only carry the single remaining bit of a u64.
        if shift == 63 && group > 1 {
            return Err(VarUintError::Overflow);
        }
        value |= group << shift;
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(VarUintError::Incomplete)
}

/// An update log split into its parts by [`parse`].
///
/// Records borrow from the parsed bytes: no update is copied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParsedLog<'a> {
    /// Length of the header, or 0 when there is none yet: the data is empty,
    /// or is a prefix of [`HEADER`] left by a crash while the file was being
    /// created. Either way the file is new and needs a header written.
    pub header_len: usize,
    /// The payload of every whole record, in file order.
    ///
    /// A zero-length record is never among them: zeros to the end are the
    /// torn tail ([`ParsedLog::torn`]), anything else after one is an error.
    pub records: Vec<&'a [u8]>,
    /// Where each record (its length prefix) starts in the data, parallel to
    /// [`ParsedLog::records`]: what names a bad record to a person with `xxd`.
    pub offsets: Vec<usize>,
    /// End offset of the last whole record (or of the header): everything
    /// from here on is a torn tail.
    pub valid_len: usize,
    /// The incomplete last record (or the zero-filled end), if any.
    pub torn: Option<TornTail>,
}

impl ParsedLog<'_> {
    /// Whether the data has no header yet (see [`ParsedLog::header_len`]).
    ///
    /// ```
    /// assert!(wire_file::parse_log(b"").unwrap().is_new());
    /// assert!(!wire_file::parse_log(b"0.0.1\0").unwrap().is_new());
    /// ```
    pub fn is_new(&self) -> bool {
        self.header_len == 0
    }
}

/// The incomplete record at the end of a log: what a crash in the middle of an
/// append leaves behind (or a zero-filled end: see [`parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// Where the incomplete record starts (equal to
    /// [`ParsedLog::valid_len`]).
    pub offset: usize,
    /// The payload length its prefix declares, or `None` when the var-uint
    /// itself is cut short (or does not fit in 64 bits, which no length that
    /// fits in memory can), or when it is the header that is torn.
    pub declared_len: Option<u64>,
    /// How many bytes there are from `offset` to the end of the data: the
    /// bytes that are lost when the tail is cut off.
    pub available: usize,
}

/// Splits an update log into header, records and torn tail.
///
/// Empty data is a new log (no header yet, see [`ParsedLog::is_new`]). A
/// record whose length prefix or payload runs past the end of the data is
/// reported in [`ParsedLog::torn`] rather than as an error, so that the
/// caller can keep every whole record before it. A declared length is never
/// used to allocate, so an absurd one (say 2⁶⁰) is just a torn tail. Zero
/// bytes from a record boundary to the end are a torn tail too (what a power
/// loss leaves of an append that had not reached the disk; Python `wire_file`
/// reads a zero length as the end).
///
/// # Errors
///
/// - [`Error::VersionMismatch`] when the header holds another version string;
/// - [`Error::NotAnUpdateLog`] when there is no NUL-terminated, non-empty
///   version string within the first [`MAX_HEADER_LEN`] bytes;
/// - [`Error::InvalidContent`] when a zero-length record is followed by data
///   other than zeros (Python would silently stop reading there; cutting it
///   could destroy records, so the caller must leave the file alone).
///
/// The errors carry no path; [`UpdateLog::open`](crate::UpdateLog::open) adds it.
///
/// ```
/// use wire_file::{encode_header, encode_record, parse_log as parse};
///
/// let mut bytes = encode_header();
/// encode_record(b"first", &mut bytes);
/// encode_record(b"second", &mut bytes);
/// let whole = bytes.len();
/// bytes.extend_from_slice(&[10, b'x']); // declares 10 bytes, has 1: torn
///
/// let log = parse(&bytes)?;
/// assert_eq!(log.records, [&b"first"[..], &b"second"[..]]);
/// assert_eq!(log.valid_len, whole);
/// let torn = log.torn.unwrap();
/// assert_eq!((torn.offset, torn.declared_len, torn.available), (whole, Some(10), 2));
/// # Ok::<(), wire_file::Error>(())
/// ```
pub fn parse(bytes: &[u8]) -> Result<ParsedLog<'_>, Error> {
    let header_len = match parse_header(bytes)? {
        Some(len) => len,
        None => {
            // Empty, or a torn header: a new file either way.
            let torn = (!bytes.is_empty()).then_some(TornTail {
                offset: 0,
                declared_len: None,
                available: bytes.len(),
            });
            return Ok(ParsedLog {
                header_len: 0,
                records: Vec::new(),
                offsets: Vec::new(),
                valid_len: 0,
                torn,
            });
        }
    };

    let mut records = Vec::new();
    let mut offsets = Vec::new();
    let mut pos = header_len;
    let mut torn = None;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let tail = |declared_len| TornTail {
            offset: pos,
            declared_len,
            available: rest.len(),
        };
        let (declared, prefix_len) = match read_varuint(rest) {
            Ok(read) => read,
            Err(VarUintError::Incomplete | VarUintError::Overflow) => {
                torn = Some(tail(None));
                break;
            }
        };
        let payload = &rest[prefix_len..];
        if declared == 0 {
            // No writer puts an empty record in a log. Zero bytes to the end
            // are what a power loss leaves of an append whose data had not
            // reached the disk: a torn tail. Anything else after a zero length
            // is data Python `wire_file` would never read (it stops there) and
            // that we must not cut either: the file is refused, untouched.
            if payload.iter().all(|&b| b == 0) {
                torn = Some(tail(Some(0)));
                break;
            }
            return Err(Error::InvalidContent {
                path: None,
                reason: format!(
                    "a zero-length record at byte offset {pos} is followed by {} more bytes \
                     (Python wire_file stops reading there); left as it is",
                    payload.len()
                ),
            });
        }
        // Compare in u64 so a huge declared length is never cast down.
        if declared > payload.len() as u64 {
            torn = Some(tail(Some(declared)));
            break;
        }
        let len = declared as usize; // fits: it is at most payload.len()
        records.push(&payload[..len]);
        offsets.push(pos);
        pos += prefix_len + len;
    }

    Ok(ParsedLog {
        header_len,
        records,
        offsets,
        valid_len: pos,
        torn,
    })
}

/// Checks the header, returning its length, or `None` when there is none yet
/// (empty data, or a strict prefix of [`HEADER`]).
fn parse_header(bytes: &[u8]) -> Result<Option<usize>, Error> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let window = &bytes[..bytes.len().min(MAX_HEADER_LEN)];
    match window.iter().position(|&b| b == 0) {
        Some(0) => Err(Error::NotAnUpdateLog {
            path: None,
            reason: "the version string before the first NUL byte is empty".to_owned(),
        }),
        Some(nul) if &bytes[..nul] == FORMAT_VERSION.as_bytes() => Ok(Some(nul + 1)),
        Some(nul) => Err(Error::VersionMismatch {
            path: None,
            expected: FORMAT_VERSION,
            found: String::from_utf8_lossy(&bytes[..nul]).into_owned(),
        }),
        None if bytes.len() < HEADER.len() && HEADER.starts_with(bytes) => Ok(None),
        None => Err(Error::NotAnUpdateLog {
            path: None,
            reason: format!(
                "no NUL-terminated version string in the first {} bytes (expected {FORMAT_VERSION:?} and a NUL)",
                window.len()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yrs::encoding::read::{Cursor, Read};
    use yrs::encoding::write::Write;

    const VALUES: [u64; 14] = [
        0,
        1,
        0x7f,
        0x80,
        300,
        0x3fff,
        0x4000,
        u32::MAX as u64,
        1 << 35,
        1 << 56,
        1 << 60,
        (1 << 63) - 1,
        1 << 63,
        u64::MAX,
    ];

    #[test]
    fn varuint_matches_yrs_lib0_encoding() {
        for value in VALUES {
            let mut ours = Vec::new();
            write_varuint(value, &mut ours);
            let mut theirs = Vec::new();
            theirs.write_var(value);
            assert_eq!(ours, theirs, "encoding {value}");
            assert_eq!(read_varuint(&ours), Ok((value, ours.len())));
            let decoded: u64 = Cursor::new(&ours).read_var().unwrap();
            assert_eq!(decoded, value);
        }
    }

    #[test]
    fn varuint_rejects_truncation_and_overflow() {
        assert_eq!(read_varuint(&[]), Err(VarUintError::Incomplete));
        assert_eq!(read_varuint(&[0x80, 0x80]), Err(VarUintError::Incomplete));
        // 2^64 needs a 2 in the tenth byte.
        let mut too_big = vec![0x80; 9];
        too_big.push(0x02);
        assert_eq!(read_varuint(&too_big), Err(VarUintError::Overflow));
        assert_eq!(read_varuint(&[0xff; 11]), Err(VarUintError::Overflow));
        // Trailing data after the value is not consumed.
        assert_eq!(read_varuint(&[0x05, 0xff]), Ok((5, 1)));
    }

    #[test]
    fn empty_data_is_a_new_log() {
        let log = parse(b"").unwrap();
        assert!(log.is_new());
        assert_eq!((log.valid_len, log.torn, log.records.len()), (0, None, 0));
    }

    #[test]
    fn header_only_is_an_empty_log() {
        let log = parse(HEADER).unwrap();
        assert_eq!(log.header_len, 6);
        assert_eq!((log.valid_len, log.torn, log.records.len()), (6, None, 0));
    }

    #[test]
    fn torn_header_is_a_new_log() {
        for len in 1..HEADER.len() {
            let log = parse(&HEADER[..len]).unwrap();
            assert!(log.is_new(), "prefix {len}");
            assert_eq!(log.valid_len, 0);
            let torn = log.torn.unwrap();
            assert_eq!(
                (torn.offset, torn.declared_len, torn.available),
                (0, None, len)
            );
        }
    }

    #[test]
    fn other_version_is_a_mismatch_naming_both() {
        let err = parse(b"0.0.2\0\x01x").unwrap_err();
        assert!(
            matches!(&err, Error::VersionMismatch { path: None, expected: "0.0.1", found } if found == "0.0.2"),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("0.0.1") && msg.contains("0.0.2"), "{msg}");
        // Non-UTF-8 versions are shown lossily, never rejected with a panic.
        let err = parse(b"\xff\xfe\0").unwrap_err();
        assert!(matches!(err, Error::VersionMismatch { found, .. } if found == "\u{fffd}\u{fffd}"));
    }

    #[test]
    fn data_without_header_is_not_an_update_log() {
        for data in [
            &b"hello world, no NUL here"[..],
            &[0u8; 3],
            &[0x42; 200],
            b"0.0.1x",
        ] {
            let err = parse(data).unwrap_err();
            assert!(
                matches!(err, Error::NotAnUpdateLog { path: None, .. }),
                "{data:?}: {err:?}"
            );
        }
        // A NUL beyond the first 64 bytes does not count.
        let mut late = vec![b'1'; MAX_HEADER_LEN];
        late.push(0);
        assert!(matches!(parse(&late), Err(Error::NotAnUpdateLog { .. })));
    }

    #[test]
    fn records_round_trip() {
        let updates: Vec<Vec<u8>> = (1..300usize).map(|n| vec![n as u8; n]).collect();
        let mut bytes = encode_header();
        for update in &updates {
            encode_record(update, &mut bytes);
        }
        let log = parse(&bytes).unwrap();
        assert_eq!(log.torn, None);
        assert_eq!(log.valid_len, bytes.len());
        assert_eq!(log.records.len(), 299);
        assert!(log.records.iter().zip(&updates).all(|(a, b)| a == b));
    }

    #[test]
    fn offsets_point_at_each_records_length_prefix() {
        let mut bytes = encode_header();
        let header = bytes.len();
        encode_record(b"abc", &mut bytes);
        encode_record(&[7u8; 300], &mut bytes); // a two-byte length prefix
        encode_record(b"z", &mut bytes);
        let log = parse(&bytes).unwrap();
        assert_eq!(log.offsets, [header, header + 4, header + 4 + 302]);
    }

    #[test]
    fn a_zero_filled_end_is_a_torn_tail() {
        let mut bytes = encode_header();
        encode_record(b"keep me", &mut bytes);
        let valid = bytes.len();
        for zeros in [1, 2, 64, 5000] {
            let mut data = bytes.clone();
            data.resize(valid + zeros, 0);
            let log = parse(&data).unwrap();
            assert_eq!(log.records, [&b"keep me"[..]]);
            assert_eq!(log.valid_len, valid);
            let torn = log.torn.unwrap();
            assert_eq!((torn.offset, torn.declared_len), (valid, Some(0)));
            assert_eq!(torn.available, zeros);
        }
    }

    #[test]
    fn data_after_a_zero_length_record_is_refused_not_cut() {
        let mut bytes = encode_header();
        encode_record(b"keep me", &mut bytes);
        let offset = bytes.len();
        bytes.push(0);
        encode_record(b"after", &mut bytes);
        let err = parse(&bytes).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::InvalidContent { .. }), "{err:?}");
        assert!(
            message.contains(&format!("byte offset {offset}")),
            "{message}"
        );
    }

    #[test]
    fn truncation_anywhere_in_the_last_record_is_a_torn_tail() {
        let mut bytes = encode_header();
        encode_record(b"keep me", &mut bytes);
        let valid = bytes.len();
        encode_record(&[9; 130], &mut bytes); // two-byte var-uint
        for cut in valid + 1..bytes.len() {
            let log = parse(&bytes[..cut]).unwrap();
            assert_eq!(log.records, [&b"keep me"[..]], "cut at {cut}");
            assert_eq!(log.valid_len, valid);
            let torn = log.torn.unwrap();
            assert_eq!((torn.offset, torn.available), (valid, cut - valid));
            let expected = if cut == valid + 1 { None } else { Some(130) };
            assert_eq!(torn.declared_len, expected, "cut at {cut}");
        }
    }

    #[test]
    fn absurd_declared_length_is_a_torn_tail() {
        let mut bytes = encode_header();
        encode_record(b"ok", &mut bytes);
        let valid = bytes.len();
        write_varuint(1 << 60, &mut bytes);
        bytes.extend_from_slice(b"some bytes");
        let log = parse(&bytes).unwrap();
        assert_eq!(log.records, [&b"ok"[..]]);
        let torn = log.torn.unwrap();
        assert_eq!(torn.declared_len, Some(1 << 60));
        assert_eq!((torn.offset, torn.available), (valid, bytes.len() - valid));

        // A var-uint too long for 64 bits also runs past any end of data.
        bytes.truncate(valid);
        bytes.extend_from_slice(&[0xff; 12]);
        let torn = parse(&bytes).unwrap().torn.unwrap();
        assert_eq!((torn.offset, torn.declared_len), (valid, None));
    }
}
