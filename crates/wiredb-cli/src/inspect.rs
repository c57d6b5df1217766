//! `wiredb inspect FILE.y`: the document in an update-log file, read-only.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;
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
        return Err(format!(
            "{}: torn record at byte offset {} (a crash mid-append?): {} whole records before it",
            args.file.display(),
            torn.offset,
            parsed.records.len()
        )
        .into());
    }
    // Replayed by wire-file, which guards yrs against the malformed records it
    // would panic on, and names the record that is wrong.
    let (state, _) = wire_file::merge::document_state(&parsed.records)
        .map_err(|e| format!("{}: {e}", args.file.display()))?;
    let doc = Doc::new();
    let update = Update::decode_v1(&state).map_err(|e| format!("{}: {e}", args.file.display()))?;
    doc.transact_mut()
        .apply_update(update)
        .map_err(|e| format!("{}: {e}", args.file.display()))?;
    let roots = render::roots(&doc);
    let clients = render::client_ids(&doc);
    if args.json {
        let report = json!({
            "file": args.file.display().to_string(),
            "version": wire_file::FORMAT_VERSION,
            "bytes": bytes.len(),
            "records": parsed.records.len(),
            "clients": clients,
            "roots": roots,
        });
        println!("{report}");
    } else {
        println!(
            "{}: update log v{}, {} bytes, {} records, {} clients {:?}",
            args.file.display(),
            wire_file::FORMAT_VERSION,
            bytes.len(),
            parsed.records.len(),
            clients.len(),
            clients
        );
        print!("{}", render::roots_as_text(&roots));
    }
    Ok(())
}
