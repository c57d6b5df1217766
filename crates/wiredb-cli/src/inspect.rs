//! `wiredb inspect FILE.y`: the document in an update-log file, read-only.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
use wire_file::ParsedLog;
use yrs::Doc;

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
        wire_file::parse_log(&bytes).map_err(|e| format!("{}: {e}", args.file.display()))?;
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
    let doc = replay(&parsed).map_err(|e| format!("{}: {e}", args.file.display()))?;
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

/// The document the records build (replayed by wire-file, guarded against the
/// malformed input yrs panics on), with a record yrs rejects named by where it sits
/// in the file: the byte offset a person can look at with `xxd`, not only its index.
fn replay(parsed: &ParsedLog<'_>) -> Result<Doc, String> {
    wire_file::replay(&parsed.records).map_err(|error| match error {
        wire_file::Error::Decode { index, source, .. } => {
            let offset = parsed.offsets.get(index).copied().unwrap_or_default();
            format!("record {index} at byte offset {offset} is not a valid Yjs v1 update: {source}")
        }
        other => other.to_string(),
    })
}
