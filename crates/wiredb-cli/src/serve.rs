//! `wiredb serve`: the WebSocket server with every room persisted to a file.

use std::path::{Path, PathBuf};

use std::time::Duration;

use clap::Args;
use tokio::signal::unix::{Signal, SignalKind, signal};
use wire_file::{AsyncFileServer, Durability, FileClientConfig};
use wire_redis::{AsyncRedisServer, RedisConfig};
use wire_websocket::wiredb::ManagerConfig;
use wire_websocket::{AsyncWebSocketServer, PrometheusMetrics, ServerConfig, ServerTls};

use crate::CliError;
use crate::auth::KeyArgs;
use crate::page;

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
    /// When a room's file is synced to the disk (`fdatasync`). Every update is written
    /// to its file (handed to the kernel) before it is relayed, whatever this says: a
    /// crash of this process, even SIGKILL, loses nothing. This decides what a power
    /// loss or kernel crash may take:
    /// a DURATION such as `1s` (default) or `100ms` syncs each busy file once per
    /// interval (group commit, as Redis's `appendfsync everysec`): at most that much
    /// is lost, at one sync per file per interval (a shorter interval costs more CPU:
    /// `100ms` adds about 25 % to a server of 20 busy rooms); `always` syncs every update before
    /// it is relayed: nothing is lost, at one sync per update (the slowest); `never`
    /// leaves it to the kernel (about 30 s on Linux) and syncs when a room closes.
    #[arg(long, value_name = "POLICY", default_value = "1s", value_parser = parse_fsync, conflicts_with = "memory")]
    fsync: FsyncPolicy,
    /// Keep rooms in memory only: nothing is written. A room's document stays while
    /// the server runs (clients that come one after another see each other's work),
    /// unless --room-idle-timeout drops it.
    #[arg(long)]
    memory: bool,
    /// How long a room with no client stays open: `30s`, `10m`, `0` (at once). With
    /// files the default is 0 (the room closes and its file is flushed when the last
    /// client leaves; it reopens from the file); with --memory the default is to keep
    /// it for ever, and a timeout drops its document.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    room_idle_timeout: Option<Duration>,
    /// Worker threads (at least 1). One (the default) costs the least CPU per
    /// delivered update; more help when rooms are large and busy.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
    /// Connections served at once; over it, a new connection is closed at once.
    /// Default: three quarters of the open-files limit (raised to its hard limit at
    /// start), at most 8192.
    #[arg(long)]
    max_connections: Option<usize>,
    #[command(flatten)]
    auth: KeyArgs,
    /// Serve `wss://` with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Share every room with the other servers on this Redis
    /// (`redis://[user:password@]host[:port][/db]`): clients of any of them meet in
    /// the same rooms. With --dir each room is also kept in a file here; with
    /// --memory Redis holds the only copy (run it with `appendonly yes`).
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Do not serve the demo page (a plain GET of any room path then gets 404).
    #[arg(long)]
    no_page: bool,
}

pub(crate) fn run(args: ServeArgs) -> Result<(), CliError> {
    crate::runtime(usize::from(args.threads))?.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> Result<(), CliError> {
    // Before anything can tell the world we are up: a script waits for the "serving on"
    // line and may signal at once. A handler installed after that line leaves a window
    // in which SIGINT/SIGTERM still have their default action, killing the process
    // without a flush and with a signal exit status instead of 0.
    let stop = StopSignals::install()?;
    // Before any room or connection exists: their metric handles are made with the
    // recorder in force then.
    let metrics = PrometheusMetrics::install()?;
    let (open_files, was) = raise_open_files_limit();
    let cap = args
        .max_connections
        .unwrap_or_else(|| connection_cap(open_files));
    let idle = match (args.room_idle_timeout, args.memory) {
        (Some(timeout), _) => timeout,
        // A memory room closed is a document lost: kept until shutdown.
        (None, true) => Duration::MAX,
        (None, false) => Duration::ZERO,
    };
    let mut config = ServerConfig::default()
        .max_connections(cap)
        .manager(ManagerConfig::default().close_grace(idle));
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config = config.tls(ServerTls::from_pem_files(cert, key)?);
    }
    let mut builder = AsyncWebSocketServer::builder()
        .config(config)
        .http(page::routes(&metrics, !args.no_page));
    let tokens = args.auth.load()?;
    if let Some(key) = tokens.clone() {
        builder = builder.connect_hook(key);
    }
    let redis = match &args.redis {
        Some(url) => Some(AsyncRedisServer::connect(url, RedisConfig::default()).await?),
        None => None,
    };
    if !args.memory {
        prepare_dir(&args.dir)?;
    }
    // The file hook first: a room opens from its file, then appends to Redis what
    // the file holds and Redis lacks.
    let server = match (args.memory, redis) {
        (true, None) => builder.build(),
        (true, Some(redis)) => builder.hooks(redis).build(),
        (false, None) => builder.hooks(file_server(&args)).build(),
        (false, Some(redis)) => builder.hooks((file_server(&args), redis)).build(),
    };
    let running = server.start(&args.host, args.port).await?;
    let mut storage = if args.memory {
        "in memory only".to_owned()
    } else {
        let fsync = match args.fsync {
            FsyncPolicy::Always => "fsync always".to_owned(),
            FsyncPolicy::Every(interval) => {
                format!("fsync every {}", humantime::format_duration(interval))
            }
            FsyncPolicy::Never => "fsync never".to_owned(),
        };
        format!("rooms in {}, {fsync}", args.dir.display())
    };
    if let Some(url) = &args.redis {
        storage.push_str(&format!(", shared through {}", wire_redis::redact_url(url)));
    }
    // On stdout, for scripts (and tests) that start the server on port 0.
    crate::print(&format!(
        "wiredb serving on {}/ROOM ({storage})\n",
        running.url()
    ))?;
    tracing::info!(url = %running.url(), %storage, tokens = tokens.is_some(), room_idle_timeout = ?idle, "serving");
    if !args.no_page {
        let page = running.url().replacen("ws", "http", 1);
        tracing::info!("demo page: open {page}/ in two browser windows");
    }
    // Logged once serving, so that a failure to start stays one error line.
    tracing::info!(open_files_limit = ?open_files, was = ?was, max_connections = cap, "open-files limit");

    let signal = stop.wait().await;
    tracing::info!(signal, "shutting down: closing rooms, flushing files");
    running.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}

/// When room files are synced (`--fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FsyncPolicy {
    /// Every update, before it is relayed.
    Always,
    /// Group commit: each written file at most once per interval.
    Every(Duration),
    /// Only when a room closes.
    Never,
}

fn parse_fsync(value: &str) -> Result<FsyncPolicy, String> {
    match value {
        "always" => Ok(FsyncPolicy::Always),
        "never" => Ok(FsyncPolicy::Never),
        interval => match humantime::parse_duration(interval) {
            // Zero would mean "always" by another name: said once, plainly.
            Ok(interval) if interval.is_zero() => Err("use `always` to sync every update".into()),
            Ok(interval) => Ok(FsyncPolicy::Every(interval)),
            Err(_) => Err(format!(
                "`{interval}` is neither `always`, `never` nor a duration such as `100ms` or `1s`"
            )),
        },
    }
}

/// The file hook for `--dir`, with the `--fsync` policy.
fn file_server(args: &ServeArgs) -> AsyncFileServer {
    let config = FileClientConfig::default();
    let config = match args.fsync {
        FsyncPolicy::Always => config
            .durability(Durability::Fsync)
            .sync_interval(Duration::ZERO),
        FsyncPolicy::Every(interval) => {
            config.durability(Durability::Fsync).sync_interval(interval)
        }
        FsyncPolicy::Never => config.durability(Durability::None),
    };
    AsyncFileServer::with_config(&args.dir, config)
}

/// Raises the soft open-files limit to the hard one, as nginx and Go's runtime do: the
/// usual soft limit of 1024 would let a thousand idle sockets lock every real client
/// out. Returns the limit in force and the one before (`None`: unlimited).
fn raise_open_files_limit() -> (Option<u64>, Option<u64>) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    if limit.current != limit.maximum {
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {}
            Err(error) => {
                tracing::warn!(%error, soft = ?limit.current, "cannot raise the open-files limit")
            }
        }
    }
    (getrlimit(Resource::Nofile).current, limit.current)
}

/// Connections served at once: three quarters of the open-files limit (the rest for
/// room files, the listener and logs), and never above the library's default.
fn connection_cap(open_files: Option<u64>) -> usize {
    let default = ServerConfig::default().max_connections;
    match open_files {
        Some(limit) => usize::try_from(limit / 4 * 3)
            .unwrap_or(default)
            .clamp(16, default),
        None => default,
    }
}

/// Creates the directory and checks that files can be created in it, so that an
/// unwritable directory is one clear error at start rather than a failure per room.
fn prepare_dir(dir: &Path) -> Result<(), CliError> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!("--dir {}: not a directory", dir.display()).into());
    }
    // Durably (each new directory synced in its parent), or a power loss could take
    // the directory with the logs synced inside it.
    wire_file::create_dir_durably(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // `create_new` on a name of our own: a fixed name could be a symlink planted by
    // someone else (we would create or truncate its target) or a file of the user's
    // that we would then delete.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    let probe = dir.join(format!(".wiredb-write-test-{}-{nanos}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| format!("cannot write in {}: {e}", dir.display()))?;
    // Only ever the file we just created (create_new refuses anything already there).
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// SIGINT (Ctrl-C) and SIGTERM handlers, registered when this is built.
struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    /// Registers both handlers now (tokio's `ctrl_c()` would only register on its
    /// first poll, too late: see `serve`).
    fn install() -> Result<StopSignals, CliError> {
        let install = |kind: SignalKind, name: &str| {
            signal(kind).map_err(|e| format!("cannot install the {name} handler: {e}"))
        };
        Ok(StopSignals {
            interrupt: install(SignalKind::interrupt(), "SIGINT")?,
            terminate: install(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// Completes on the first of SIGINT or SIGTERM; returns its name.
    async fn wait(mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fsync_policies_parse_and_zero_is_refused() {
        assert_eq!(parse_fsync("always"), Ok(FsyncPolicy::Always));
        assert_eq!(parse_fsync("never"), Ok(FsyncPolicy::Never));
        assert_eq!(
            parse_fsync("100ms"),
            Ok(FsyncPolicy::Every(Duration::from_millis(100)))
        );
        assert_eq!(
            parse_fsync("1s"),
            Ok(FsyncPolicy::Every(Duration::from_secs(1)))
        );
        assert!(parse_fsync("0s").unwrap_err().contains("always"));
        assert!(parse_fsync("often").unwrap_err().contains("`often`"));
    }
}
