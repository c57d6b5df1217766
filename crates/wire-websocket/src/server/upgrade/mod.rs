//! The WebSocket opening handshake (RFC 6455 §4.2), done here rather than with axum's
//! `WebSocketUpgrade`: the connection then runs in a task of our own whose future is
//! sized for our code alone, which keeps idle connections about 1 KiB cheaper.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// What is wrong with a request that should have been a WebSocket upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotGet,
    NotAnUpgrade,
    UnsupportedVersion,
    MissingKey,
    InvalidKey,
}

impl Refusal {
    pub(crate) fn into_response(self) -> Response<Body> {
        match self {
            Refusal::NotGet => plain(StatusCode::METHOD_NOT_ALLOWED, "websocket upgrades use GET"),
            Refusal::NotAnUpgrade => {
                // RFC 7231 §6.5.15: a 426 names the protocol to upgrade to.
                let mut response = plain(
                    StatusCode::UPGRADE_REQUIRED,
                    "this endpoint speaks WebSocket (y-protocols); connect with a WebSocket client",
                );
                let headers = response.headers_mut();
                headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
                response
            }
            Refusal::UnsupportedVersion => {
                let mut response = plain(
                    StatusCode::UPGRADE_REQUIRED,
                    "unsupported websocket version; 13 is",
                );
                response.headers_mut().insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
                response
            }
            Refusal::MissingKey => plain(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key"),
            Refusal::InvalidKey => plain(
                StatusCode::BAD_REQUEST,
                "Sec-WebSocket-Key must be 16 bytes in base64 (RFC 6455 §4.2.1)",
            ),
        }
    }
}

/// The `101 Switching Protocols` response for a valid WebSocket upgrade request.
pub(crate) fn switching_protocols(
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response<Body>, Refusal> {
    if !has_token(headers, header::CONNECTION, "upgrade")
        || !has_token(headers, header::UPGRADE, "websocket")
    {
        return Err(Refusal::NotAnUpgrade);
    }
    // After the upgrade check: a plain GET is told to upgrade, a POST upgrade that
    // it must be a GET.
    if method != Method::GET {
        return Err(Refusal::NotGet);
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(Refusal::UnsupportedVersion);
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return Err(Refusal::MissingKey);
    };
    if !is_base64_of_16_bytes(key.as_bytes()) {
        return Err(Refusal::InvalidKey);
    }
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    response_headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    // The accept key is base64: always a valid header value.
    if let Ok(accept) = HeaderValue::try_from(derive_accept_key(key.as_bytes())) {
        response_headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    Ok(response)
}

/// Whether a request asks for a WebSocket (`Upgrade: websocket`), valid or not: such a
/// request is the rooms' to answer (with 101, or with why not), never a page's.
pub(crate) fn asks_for_websocket(headers: &HeaderMap) -> bool {
    has_token(headers, header::UPGRADE, "websocket")
}

/// RFC 6455 §4.2.1: the key is 16 random bytes in base64, i.e. 22 characters of the
/// base64 alphabet and `==`.
fn is_base64_of_16_bytes(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
}

/// True when header `name` lists `token` (comma-separated, case-insensitive), as in
/// `Connection: keep-alive, Upgrade`.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

pub(crate) fn plain(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(Body::from(message.into()));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests;
