//! `wiredb serve`: the WebSocket server with every room persisted to a file.

use std::path::{Path, PathBuf};

use clap::Args;
use wire_file::AsyncFileServer;
use wire_websocket::AsyncWebSocketServer;

use crate::CliError;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0: any free port; the chosen one is printed).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Directory of the room files, `{dir}/{id}_updates.y` (created if missing).
    #[arg(long, default_value = "./wiredb-data", conflicts_with = "memory")]
    dir: PathBuf,
    /// Keep rooms in memory only: nothing is written.
    #[arg(long)]
    memory: bool,
    /// Worker threads. One (the default) costs the least CPU per delivered update;
    /// more help when rooms are large and busy.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

pub(crate) fn run(args: ServeArgs) -> Result<(), CliError> {
    crate::init_logging();
    crate::runtime(args.threads)?.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let server = if args.memory {
        AsyncWebSocketServer::new(())
    } else {
        prepare_dir(&args.dir)?;
        AsyncWebSocketServer::new(AsyncFileServer::new(&args.dir))
    };
    let running = server.start(&args.host, args.port).await?;
    let storage = if args.memory {
        "in memory only".to_owned()
    } else {
        format!("rooms in {}", args.dir.display())
    };
    // On stdout, for scripts (and tests) that start the server on port 0.
    println!("wiredb serving on {}/ROOM ({storage})", running.url());
    tracing::info!(url = %running.url(), %storage, "serving");

    stop_signal().await?;
    tracing::info!("shutting down: closing rooms, flushing files");
    running.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Creates the directory and checks that files can be created in it, so that an
/// unwritable directory is one clear error at start rather than a failure per room.
fn prepare_dir(dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let probe = dir.join(".wiredb-write-test");
    std::fs::write(&probe, b"").map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn stop_signal() -> Result<(), CliError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
