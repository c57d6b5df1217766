//! Room tokens: signed, expiring grants of one room (or a room prefix) with an access,
//! checked before the upgrade. A token is a JWT (HS256), so any JWT library can mint
//! one with the same key; [`TokenKey::sign`] and `wiredb token` make them too.
//!
//! Claims: `room` (an exact room id) or `room_prefix` (every room whose id starts
//! with it; an empty prefix is refused), `access` (`"rw"` or `"r"`), `exp` (seconds
//! since the Unix epoch, fractions allowed; optional, but `wiredb token` and
//! [`Grant::room`] always set it: a token without one never expires), and `nbf`
//! (not before), checked when present.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use wiredb::BoxFuture;

use super::{Access, ConnectHook, ConnectRequest, Rejection};

/// The fixed JOSE header of every token: HS256 only, so that a token cannot choose
/// its own algorithm (`"alg":"none"` and key-confusion attacks).
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Keys shorter than this are refused: HS256 wants at least 256 bits of key, and a
/// short one can be guessed offline from any token.
pub const MIN_KEY_BYTES: usize = 32;

/// Which rooms a token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomScope {
    /// Exactly this room id.
    Room(String),
    /// Every room whose id starts with this (`"team-a/"`; end it with a separator, or
    /// `"team-a"` also opens `"team-admin"`). An empty prefix opens nothing.
    Prefix(String),
}

impl RoomScope {
    fn admits(&self, room: &str) -> bool {
        match self {
            RoomScope::Room(id) => id == room,
            // An empty prefix would open every room: never what a grant means.
            RoomScope::Prefix(prefix) => !prefix.is_empty() && room.starts_with(prefix.as_str()),
        }
    }
}

/// What a token grants: rooms, access, expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The rooms it opens.
    pub scope: RoomScope,
    /// What a connection with it may do.
    pub access: Access,
    /// When it stops working (`None`: never; avoid).
    pub expires: Option<SystemTime>,
}

impl Grant {
    /// Read-write access to room `room`, expiring after `lifetime`.
    pub fn room(room: impl Into<String>, lifetime: Duration) -> Self {
        Grant {
            scope: RoomScope::Room(room.into()),
            access: Access::ReadWrite,
            // A lifetime past what a clock can hold is "far future", not "never".
            expires: Some(
                SystemTime::now()
                    .checked_add(lifetime)
                    .unwrap_or(UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX))),
            ),
        }
    }

    /// The same grant with `access`.
    pub fn access(mut self, access: Access) -> Self {
        self.access = access;
        self
    }
}

/// Why a token was refused; [`TokenError::status`] is the HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No `?token=` and no `Authorization: Bearer` header.
    #[error("a token is required (?token=... or Authorization: Bearer ...)")]
    Missing,
    /// Not a token of ours: not three base64url parts, another algorithm, claims
    /// that are not what a token holds.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The signature does not match: tampered with, or signed with another key.
    #[error("invalid token signature")]
    BadSignature,
    /// Past its `exp`.
    #[error("token expired")]
    Expired,
    /// Before its `nbf`.
    #[error("token not valid yet")]
    NotYetValid,
    /// Valid, but for other rooms.
    #[error("token not valid for room {room:?}")]
    WrongRoom {
        /// The room asked for.
        room: String,
    },
}

impl TokenError {
    /// 401 for a token that proves nothing (missing, malformed, tampered, expired),
    /// 403 for a valid token for another room.
    pub fn status(&self) -> StatusCode {
        match self {
            TokenError::WrongRoom { .. } => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    room_prefix: Option<String>,
    access: String,
    /// Seconds since the epoch; JWT allows fractions (PyJWT writes them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    exp: Option<f64>,
    /// Not before (seconds since the epoch), checked when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<f64>,
}

/// The key that signs and checks room tokens (HMAC-SHA256). As a [`ConnectHook`]
/// it admits a connection whose token grants its room, with the token's access, and
/// refuses the rest with 401 or 403 before the upgrade.
///
/// ```
/// use std::time::Duration;
/// use wire_websocket::{Access, Grant, TokenKey};
///
/// let key = TokenKey::new("a secret of at least thirty-two bytes!")?;
/// let token = key.sign(&Grant::room("notes", Duration::from_secs(3600)).access(Access::ReadOnly));
/// assert_eq!(key.verify(&token, "notes"), Ok(Access::ReadOnly));
/// assert!(key.verify(&token, "other").is_err());
/// // A server that checks them: AsyncWebSocketServer::builder().connect_hook(key).build()
/// # Ok::<(), wire_websocket::Error>(())
/// ```
#[derive(Clone)]
pub struct TokenKey {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// A key from secret bytes (at least [`MIN_KEY_BYTES`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) for a shorter secret.
    pub fn new(secret: impl AsRef<[u8]>) -> crate::Result<Self> {
        let secret = secret.as_ref();
        if secret.len() < MIN_KEY_BYTES {
            return Err(crate::Error::Config {
                reason: format!(
                    "a token key needs at least {MIN_KEY_BYTES} bytes, this one has {}",
                    secret.len()
                ),
            });
        }
        let mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|error| crate::Error::Config {
            reason: error.to_string(),
        })?;
        Ok(TokenKey { mac })
    }

    /// A signed token for `grant`.
    pub fn sign(&self, grant: &Grant) -> String {
        let (room, room_prefix) = match &grant.scope {
            RoomScope::Room(id) => (Some(id.clone()), None),
            RoomScope::Prefix(prefix) => (None, Some(prefix.clone())),
        };
        let claims = Claims {
            room,
            room_prefix,
            access: match grant.access {
                Access::ReadWrite => "rw".into(),
                Access::ReadOnly => "r".into(),
            },
            exp: grant.expires.map(|at| unix_seconds(at) as f64),
            nbf: None,
        };
        // Serializing a struct of strings and numbers cannot fail.
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = self.signature(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// The access `token` grants to room `room`, now.
    ///
    /// # Errors
    ///
    /// The [`TokenError`] saying why not.
    pub fn verify(&self, token: &str, room: &str) -> Result<Access, TokenError> {
        self.verify_at(token, room, SystemTime::now())
    }

    /// [`TokenKey::verify`] at time `now`.
    pub fn verify_at(
        &self,
        token: &str,
        room: &str,
        now: SystemTime,
    ) -> Result<Access, TokenError> {
        let mut parts = token.trim().split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("not three dot-separated parts"));
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed("signature is not base64url"))?;
        // The signature first, in constant time: nothing of an unsigned token is read.
        let signed_len = header.len() + 1 + payload.len();
        let mut mac = self.mac.clone();
        mac.update(&token.trim().as_bytes()[..signed_len]);
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let header = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| TokenError::Malformed("header is not base64url"))?;
        let header: serde_json::Value = serde_json::from_slice(&header)
            .map_err(|_| TokenError::Malformed("header is not JSON"))?;
        if header.get("alg").and_then(|alg| alg.as_str()) != Some("HS256") {
            return Err(TokenError::Malformed("the algorithm must be HS256"));
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed("claims are not base64url"))?;
        let claims: Claims = serde_json::from_slice(&payload)
            .map_err(|_| TokenError::Malformed("claims are not a room grant"))?;
        let now_seconds = unix_seconds(now) as f64;
        if let Some(exp) = claims.exp
            && now_seconds >= exp
        {
            return Err(TokenError::Expired);
        }
        if let Some(nbf) = claims.nbf
            && now_seconds < nbf
        {
            return Err(TokenError::NotYetValid);
        }
        let access = match claims.access.as_str() {
            "rw" => Access::ReadWrite,
            "r" => Access::ReadOnly,
            _ => return Err(TokenError::Malformed("access must be \"rw\" or \"r\"")),
        };
        let scope = match (claims.room, claims.room_prefix) {
            (Some(id), None) => RoomScope::Room(id),
            (None, Some(prefix)) if !prefix.is_empty() => RoomScope::Prefix(prefix),
            _ => {
                return Err(TokenError::Malformed(
                    "exactly one of room and a non-empty room_prefix",
                ));
            }
        };
        if !scope.admits(room) {
            return Err(TokenError::WrongRoom {
                room: room.to_owned(),
            });
        }
        Ok(access)
    }

    /// The access the token of `request` (`?token=`, else `Authorization: Bearer`)
    /// grants to its room: the check the hook makes, for an app's own handler.
    ///
    /// # Errors
    ///
    /// The [`TokenError`] saying why not ([`TokenError::status`] is the answer).
    pub fn check_request(&self, request: &ConnectRequest) -> Result<Access, TokenError> {
        // An empty `?token=` (a page without one) does not hide a Bearer header.
        let token = request
            .query_param("token")
            .filter(|t| !t.is_empty())
            .or_else(|| {
                let value = request.header("authorization")?;
                let (scheme, token) = value.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_owned())
            });
        match token {
            Some(token) if !token.is_empty() => self.verify(&token, &request.room),
            _ => Err(TokenError::Missing),
        }
    }

    fn signature(&self, signed: &[u8]) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(signed);
        mac.finalize().into_bytes().to_vec()
    }
}

impl ConnectHook for TokenKey {
    fn check<'a>(
        &'a self,
        request: &'a ConnectRequest,
    ) -> BoxFuture<'a, Result<Access, Rejection>> {
        let decision = self
            .check_request(request)
            .map_err(|error| Rejection::new(error.status(), error.to_string()));
        Box::pin(std::future::ready(decision))
    }
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
