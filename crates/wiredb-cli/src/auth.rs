//! The token key shared by `serve` (which checks tokens) and `token` (which makes them).

use std::path::PathBuf;

use clap::Args;
use wire_websocket::TokenKey;

use crate::CliError;

#[derive(Debug, Args)]
pub(crate) struct KeyArgs {
    /// File holding the secret that signs room tokens (at least 32 bytes; a trailing
    /// newline is ignored). Create one with `head -c 32 /dev/urandom | base64 > key`.
    #[arg(long, value_name = "FILE", conflicts_with = "auth_key")]
    auth_key_file: Option<PathBuf>,
    /// The secret itself (prefer --auth-key-file or WIREDB_AUTH_KEY: a command line
    /// is visible to every user of the machine).
    #[arg(
        long,
        value_name = "KEY",
        env = "WIREDB_AUTH_KEY",
        hide_env_values = true
    )]
    auth_key: Option<String>,
}

impl KeyArgs {
    /// The key given, if any.
    pub(crate) fn load(&self) -> Result<Option<TokenKey>, CliError> {
        let secret = match (&self.auth_key_file, &self.auth_key) {
            (Some(path), _) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let trimmed = bytes.trim_ascii_end().to_vec();
                Some(trimmed)
            }
            (None, Some(key)) => Some(key.as_bytes().to_vec()),
            (None, None) => None,
        };
        match secret {
            Some(secret) => Ok(Some(TokenKey::new(secret)?)),
            None => Ok(None),
        }
    }
}
