//! `wiredb token ROOM`: print a signed room token for a server run with the same key.

use std::time::{Duration, SystemTime};

use clap::Args;
use wire_websocket::{Access, Grant, RoomScope};

use crate::CliError;
use crate::auth::KeyArgs;

#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The room the token opens (with `--prefix`: every room whose id starts with it;
    /// end a prefix with a separator, `team-a/`, or it also opens `team-admin`).
    room: String,
    #[command(flatten)]
    key: KeyArgs,
    /// Open every room whose id starts with ROOM (`team-a/`), not only ROOM.
    #[arg(long)]
    prefix: bool,
    /// Receive only: the connection's edits are dropped (its presence is shared).
    #[arg(long)]
    read_only: bool,
    /// How long the token works: `90s`, `30m`, `1h`, `7d`.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    expires: Duration,
}

pub(crate) fn run(args: TokenArgs) -> Result<(), CliError> {
    if args.room.is_empty() {
        return Err("a token names a room (or, with --prefix, a non-empty prefix)".into());
    }
    let key = args
        .key
        .load()?
        .ok_or("a key is needed: --auth-key-file FILE, --auth-key KEY or WIREDB_AUTH_KEY")?;
    let expires = SystemTime::now()
        .checked_add(args.expires)
        .ok_or("--expires is too far in the future")?;
    let grant = Grant {
        scope: if args.prefix {
            RoomScope::Prefix(args.room)
        } else {
            RoomScope::Room(args.room)
        },
        access: if args.read_only {
            Access::ReadOnly
        } else {
            Access::ReadWrite
        },
        expires: Some(expires),
    };
    crate::print(&format!("{}\n", key.sign(&grant)))
}
