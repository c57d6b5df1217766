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
    // Reported, not repaired: inspect never writes. What is shown is what a server
    // would load: the whole records before the tail (opening the file with a client,
    // or `wiredb squash`, cuts the tail).
    let torn = parsed.torn.as_ref().map(|torn| {
        let what = match torn.declared_len {
            _ if parsed.header_len == 0 => "a torn header",
            Some(0) => "zero bytes",
            _ => "a torn record",
        };
        let warning = format!(
            "{what} from byte offset {} to the end ({} bytes; a crash mid-append?): shown without it",
            torn.offset,
            bytes.len() as u64 - torn.offset as u64
        );
        tracing::warn!("{}: {warning}", args.file.display());
        (torn.offset, warning)
    });
    let doc = replay(&parsed).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let roots = render::roots(&doc);
    let clients = render::client_ids(&doc);
    let out = if args.json {
        let report = json!({
            "file": args.file.display().to_string(),
            "version": (parsed.header_len > 0).then_some(wire_file::FORMAT_VERSION),
            "bytes": bytes.len(),
            "records": parsed.records.len(),
            "torn_tail": torn.as_ref().map(|(offset, warning)| json!({ "offset": offset, "warning": warning })),
            "clients": clients,
            "roots": roots,
        });
        format!("{report}\n")
    } else if bytes.is_empty() {
        format!(
            "{}: empty file (0 bytes, not even a header yet): an empty document\n",
            args.file.display()
        )
    } else if parsed.header_len == 0 {
        // Only part of a header (a crash while the file was created): no records.
        let warning = torn.as_ref().map(|(_, w)| w.as_str()).unwrap_or_default();
        format!(
            "{}: {} bytes, no complete header: an empty document\nwarning: {warning}\n",
            args.file.display(),
            bytes.len()
        )
    } else {
        let torn_line = match &torn {
            Some((_, warning)) => format!("warning: {warning}\n"),
            None => String::new(),
        };
        format!(
            "{}: update log v{}, {} bytes, {}, {} {:?}\n{torn_line}{}",
            args.file.display(),
            wire_file::FORMAT_VERSION,
            bytes.len(),
            crate::plural(parsed.records.len(), "record"),
            crate::plural(clients.len(), "client"),
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
