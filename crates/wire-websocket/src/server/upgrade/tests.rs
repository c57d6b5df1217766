//! The opening handshake's answers to valid and invalid requests.
#![allow(clippy::unwrap_used)]

use axum::http::Request;

use super::*;

fn request(headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::get("/room");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

fn switching(request: &Request<Body>) -> Result<Response<Body>, Refusal> {
    switching_protocols(request.method(), request.headers())
}

const VALID: [(&str, &str); 4] = [
    ("connection", "keep-alive, Upgrade"),
    ("upgrade", "websocket"),
    ("sec-websocket-version", "13"),
    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
];

#[test]
fn a_valid_request_gets_the_rfc_accept_key() {
    let response = switching(&request(&VALID)).unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    // The example of RFC 6455 §1.3.
    assert_eq!(
        response.headers()[header::SEC_WEBSOCKET_ACCEPT],
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn invalid_requests_get_clear_statuses() {
    let refused = |request: Request<Body>| switching(&request).unwrap_err();
    assert_eq!(refused(request(&[])), Refusal::NotAnUpgrade);
    let old_version = request(&[VALID[0], VALID[1], ("sec-websocket-version", "8"), VALID[3]]);
    let response = refused(old_version).into_response();
    assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(response.headers()[header::SEC_WEBSOCKET_VERSION], "13");
    assert_eq!(
        refused(request(&VALID[..3])).into_response().status(),
        StatusCode::BAD_REQUEST
    );
    for bad_key in [
        "",
        "short",
        "dGhlIHNhbXBsZSBub25jZQ",
        "dGhlIHNhbXBsZSBub25jZQ==x",
        "dGhlIHNhbXBsZSBub25jZ!==",
    ] {
        let request = request(&[VALID[0], VALID[1], VALID[2], ("sec-websocket-key", bad_key)]);
        assert_eq!(refused(request), Refusal::InvalidKey, "{bad_key:?}");
    }
    let mut post = request(&VALID);
    *post.method_mut() = Method::POST;
    assert_eq!(
        refused(post).into_response().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}
