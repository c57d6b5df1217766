//! `wiredb`: the command-line face of the wiredb workspace.
//!
//! ```text
//! wiredb serve [--host 127.0.0.1] [--port 8000] [--dir ./wiredb-data | --memory] [--threads 1]
//!              [--room-idle-timeout D] [--auth-key-file F] [--tls-cert F --tls-key F] [--no-page]
//! wiredb inspect FILE.y [--json]
//! wiredb squash FILE.y
//! wiredb dump ws[s]://HOST:PORT/ROOM [--json] [--timeout 10] [--ca-file F]
//! wiredb token ROOM --auth-key-file F [--prefix] [--read-only] [--expires 1h]
//! ```
//!
//! Stdout carries only what a command reports (scripts parse it); logs go to stderr,
//! filtered by `RUST_LOG`, for every command. Errors are one line on stderr
//! (`wiredb: error: ...`) and exit code 1; usage errors exit 2 (clap). A reader that
//! goes away early (`wiredb inspect f.y | head -c1`) is not an error.

mod auth;
mod dump;
mod inspect;
mod page;
mod render;
mod serve;
mod squash;
mod token;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keep Yjs documents in sync: serve rooms, inspect and squash their files.
#[derive(Debug, Parser)]
#[command(name = "wiredb", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve rooms over WebSocket (y-protocols), each persisted to `{dir}/{id}_updates.y`.
    Serve(serve::ServeArgs),
    /// Print the document held by an update-log file.
    Inspect(inspect::InspectArgs),
    /// Rewrite an update-log file as one record (atomically).
    Squash(squash::SquashArgs),
    /// Connect to a room of any y-protocols WebSocket server, sync, print the document.
    Dump(dump::DumpArgs),
    /// Print a signed token for a room, for a server run with the same --auth-key.
    Token(token::TokenArgs),
}

/// The error type of every command: printed as one line with its causes.
pub(crate) type CliError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // For every command, not only `serve`: `squash` (through wire-file) warns when it
    // cuts a torn tail, and that must reach the user.
    init_logging();
    // A server's panics (in a connection task, whose handle nobody awaits) must be
    // seen; a one-shot command reports the one that matters as its error line.
    install_panic_hook(matches!(cli.command, Command::Serve(_)));
    let outcome = std::panic::catch_unwind(|| match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Squash(args) => squash::run(args),
        Command::Dump(args) => dump::run(args),
        Command::Token(args) => token::run(args),
    });
    let result = outcome.unwrap_or_else(|_| {
        let message = last_panic().unwrap_or_else(|| "unknown panic".to_owned());
        Err(format!("internal error (please report it): {message}").into())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("wiredb: error: {}", one_line(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// yrs panics on some malformed input; the libraries catch those panics and turn them
/// into errors (a bad file is one error line, a bad peer is dropped). The default hook
/// would still print each one with a backtrace, so this one keeps the message for
/// `main`, which reports an uncaught panic as one error line too, and logs it as one
/// line: at warn level when `loud` (a server, where a panic in a task would otherwise
/// go unseen), else at debug level (a one-shot command, whose error line already says
/// what the panic was about: the hook's line would be a context-free duplicate).
fn install_panic_hook(loud: bool) {
    std::panic::set_hook(Box::new(move |info| {
        let message = info.to_string().replace('\n', " ");
        if loud {
            tracing::warn!(%message, "panic");
        } else {
            tracing::debug!(%message, "panic");
        }
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(message);
        }
    }));
}

fn last_panic() -> Option<String> {
    LAST_PANIC.lock().ok().and_then(|last| last.clone())
}

/// `error: cause: cause`, skipping causes already quoted by their parent's message.
fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

/// Writes `text` to stdout as is (no newline added), through one locked handle.
///
/// A closed stdout (`| head -c1` stopped reading) is success: the reader had all it
/// wanted, and `println!` would panic there, which `main` would report as an internal
/// error.
pub(crate) fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to stdout: {error}").into())
        }
        _ => Ok(()),
    }
}

/// "1 record", "3 records", "0 records".
pub(crate) fn plural(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// A tokio runtime for the commands that need one.
pub(crate) fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default: `info` for wiredb's crates).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("warn,wiredb=info,wire_websocket=info,wire_file=info,wiredb_cli=info")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
