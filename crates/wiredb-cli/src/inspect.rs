//! `wiredb inspect FILE.y`: the document in an update-log file, read-only.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use wire_file::format::ParsedLog;
use yrs::updates::decoder::Decode;
use yrs::{Doc, Transact, Update};

use crate::CliError;
use crate::render;

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The update-log file (`{id}_updates.y`).
    file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: InspectArgs) -> Result<(), CliError> {
    let bytes = std::fs::read(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file.display()))?;
    let parsed =
        wire_file::format::parse(&bytes).map_err(|e| format!("{}: {e}", args.file.display()))?;
    if let Some(torn) = &parsed.torn {
        // Reported, not repaired: inspect never writes. Opening it with a client (or
        // `wiredb squash`) truncates the torn tail.
        let what = match torn.declared_len {
            Some(0) => "zero bytes from",
            _ => "torn record at",
        };
        return Err(format!(
            "{}: {what} byte offset {} to the end (a crash mid-append?): {} whole records before it",
            args.file.display(),
            torn.offset,
            parsed.records.len()
        )
        .into());
    }
    let doc = replay(&bytes, &parsed).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let roots = render::roots(&doc);
    let clients = render::client_ids(&doc);
    let out = if args.json {
        let report = json!({
            "file": args.file.display().to_string(),
            "version": wire_file::FORMAT_VERSION,
            "bytes": bytes.len(),
            "records": parsed.records.len(),
            "clients": clients,
            "roots": roots,
        });
        format!("{report}\n")
    } else {
        format!(
            "{}: update log v{}, {} bytes, {} records, {} clients {:?}\n{}",
            args.file.display(),
            wire_file::FORMAT_VERSION,
            bytes.len(),
            parsed.records.len(),
            clients.len(),
            clients,
            render::roots_as_text(&roots)
        )
    };
    crate::print(&out)
}

/// The document the records of `parsed` (slices of `bytes`) build, applied in file order, one
/// transaction each, as a file client loads them.
///
/// Done here rather than by `wire_file::merge::document_state` so that a record yrs
/// rejects is named by where it sits in the file, the byte offset a person can look
/// at with `xxd`, not only by its index. yrs panics on some malformed input (a client
/// id above 2^53) instead of returning an error, so each record is applied under
/// `catch_unwind`, its transaction's end included (that is where yrs integrates).
fn replay(bytes: &[u8], parsed: &ParsedLog<'_>) -> Result<Doc, String> {
    let offsets = record_offsets(bytes, parsed.header_len, &parsed.records);
    let doc = Doc::new();
    for (index, (record, offset)) in parsed.records.iter().zip(offsets).enumerate() {
        let applied = catch_unwind(AssertUnwindSafe(|| {
            let update = Update::decode_v1(record).map_err(|e| e.to_string())?;
            doc.transact_mut()
                .apply_update(update)
                .map_err(|e| e.to_string())
        }));
        let reason = match applied {
            Ok(Ok(())) => continue,
            Ok(Err(reason)) => reason,
            Err(panic) => {
                // A doc yrs panicked inside is in no known state: do not run its
                // destructor either, the process is about to report and exit.
                std::mem::forget(doc);
                let detail = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                format!("yrs panicked: {detail}")
            }
        };
        return Err(format!(
            "record {index} at byte offset {offset} is not a valid Yjs v1 update: {reason}"
        ));
    }
    Ok(doc)
}

/// Where each record starts in `bytes` (at its length prefix, where a hex dump shows it
/// begin), from the payload slices `wire_file::format::parse` returned.
///
/// The records are contiguous (a zero-length record ends the data, so nothing lies
/// between two of them): each one starts where the previous payload ended, the first
/// at the end of the header. That is exact whatever the width of a length prefix.
fn record_offsets(bytes: &[u8], header_len: usize, records: &[&[u8]]) -> Vec<usize> {
    let mut next = header_len;
    records
        .iter()
        .map(|record| {
            let start = next;
            // Addresses compared as integers: `record` borrows from `bytes` (parse
            // copies nothing), so this is the index of its payload's end there.
            next =
                (record.as_ptr() as usize + record.len()).saturating_sub(bytes.as_ptr() as usize);
            start
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test: a failure should panic
mod tests {
    use super::*;

    #[test]
    fn offsets_point_at_each_records_length_prefix() {
        let mut bytes = wire_file::format::encode_header();
        let header = bytes.len();
        let long = vec![7u8; 300]; // a two-byte length prefix
        wire_file::format::encode_record(b"abc", &mut bytes);
        wire_file::format::encode_record(&long, &mut bytes);
        wire_file::format::encode_record(b"z", &mut bytes);
        let parsed = wire_file::format::parse(&bytes).unwrap();
        let offsets = record_offsets(&bytes, parsed.header_len, &parsed.records);
        assert_eq!(offsets, [header, header + 4, header + 4 + 302]);
    }
}
