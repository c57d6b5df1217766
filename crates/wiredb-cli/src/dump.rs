//! `wiredb dump ws://HOST:PORT/ROOM`: join a room of any y-protocols server as a client,
//! sync, print the document, leave.

use std::time::Duration;

use clap::Args;
use serde_json::json;
use wire_websocket::{AsyncWebSocketClient, ClientConfig};

use crate::{CliError, render};

#[derive(Debug, Args)]
pub(crate) struct DumpArgs {
    /// The room's URL, e.g. `ws://127.0.0.1:8000/my-room` or `wss://host/my-room`
    /// (a token as `?token=...`).
    url: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for the server's state.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// For `wss://`: also trust the certificates of this PEM file (a private CA, a
    /// test certificate). The system's roots are trusted anyway; `SSL_CERT_FILE`
    /// replaces them.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<std::path::PathBuf>,
}

pub(crate) fn run(args: DumpArgs) -> Result<(), CliError> {
    let timeout =
        Duration::try_from_secs_f64(args.timeout).map_err(|e| format!("--timeout: {e}"))?;
    crate::runtime(1)?.block_on(async {
        let mut config = ClientConfig::default()
            .reconnect(None)
            .connect_timeout(timeout);
        if let Some(ca_file) = &args.ca_file {
            config = config.root_certificates_pem_file(ca_file)?;
        }
        let client = AsyncWebSocketClient::builder(&args.url)
            .config(config)
            .connect()
            .await?;
        tokio::time::timeout(timeout, client.synced())
            .await
            .map_err(|_| format!("{}: not synced within {timeout:?}", args.url))??;
        let roots = render::roots(client.doc());
        let clients = render::client_ids(client.doc());
        client.close().await?;
        let out = if args.json {
            let report = json!({ "url": args.url, "clients": clients, "roots": roots });
            format!("{report}\n")
        } else {
            format!(
                "{}: {} clients {:?}\n{}",
                args.url,
                clients.len(),
                clients,
                render::roots_as_text(&roots)
            )
        };
        crate::print(&out)
    })
}
