//! The token key shared by `serve` (which checks tokens) and `token` (which makes them).

use std::path::PathBuf;

use clap::Args;
use wire_websocket::TokenKey;

use crate::CliError;

#[derive(Debug, Args)]
pub(crate) struct KeyArgs {
    /// File holding the secret that signs room tokens: its bytes are the HMAC key,
    /// less one trailing newline (at least 32 bytes). Create one with
    /// `head -c 32 /dev/urandom | base64 > key` (the key is then that base64 text).
    /// Wins over --auth-key / WIREDB_AUTH_KEY.
    #[arg(long, value_name = "FILE")]
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
                // One line ending only: other trailing bytes are part of the key.
                let key = bytes
                    .strip_suffix(b"\r\n")
                    .or_else(|| bytes.strip_suffix(b"\n"))
                    .unwrap_or(&bytes)
                    .to_vec();
                Some(key)
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
