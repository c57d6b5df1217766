//! The WebSocket opening handshake (RFC 6455 §4.2), done here rather than with axum's
//! `WebSocketUpgrade`: the connection then runs in a task of our own whose future is
//! sized for our code alone, which keeps idle connections about 1 KiB cheaper.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// What is wrong with a request that should have been a WebSocket upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotGet,
    NotAnUpgrade,
    UnsupportedVersion,
    MissingKey,
}

impl Refusal {
    pub(crate) fn into_response(self) -> Response<Body> {
        match self {
            Refusal::NotGet => plain(StatusCode::METHOD_NOT_ALLOWED, "websocket upgrades use GET"),
            Refusal::NotAnUpgrade => plain(
                StatusCode::UPGRADE_REQUIRED,
                "this endpoint speaks WebSocket (y-protocols); connect with a WebSocket client",
            ),
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
        }
    }
}

/// The `101 Switching Protocols` response for a valid WebSocket upgrade request.
pub(crate) fn switching_protocols(request: &Request<Body>) -> Result<Response<Body>, Refusal> {
    if request.method() != Method::GET {
        return Err(Refusal::NotGet);
    }
    let headers = request.headers();
    if !has_token(headers, header::CONNECTION, "upgrade")
        || !has_token(headers, header::UPGRADE, "websocket")
    {
        return Err(Refusal::NotAnUpgrade);
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
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request<Body> {
        let mut builder = Request::get("/room");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    const VALID: [(&str, &str); 4] = [
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn a_valid_request_gets_the_rfc_accept_key() {
        let response = switching_protocols(&request(&VALID)).unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        // The example of RFC 6455 §1.3.
        assert_eq!(
            response.headers()[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn invalid_requests_get_clear_statuses() {
        let refused = |request: Request<Body>| switching_protocols(&request).unwrap_err();
        assert_eq!(refused(request(&[])), Refusal::NotAnUpgrade);
        let old_version = request(&[VALID[0], VALID[1], ("sec-websocket-version", "8"), VALID[3]]);
        let response = refused(old_version).into_response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()[header::SEC_WEBSOCKET_VERSION], "13");
        assert_eq!(
            refused(request(&VALID[..3])).into_response().status(),
            StatusCode::BAD_REQUEST
        );
        let mut post = request(&VALID);
        *post.method_mut() = Method::POST;
        assert_eq!(
            refused(post).into_response().status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
}
