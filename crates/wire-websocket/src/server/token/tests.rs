use std::time::{Duration, SystemTime};

use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn key() -> TokenKey {
    TokenKey::new(SECRET).unwrap()
}

fn request(uri: &str, room: &str, authorization: Option<&str>) -> ConnectRequest {
    let mut headers = HeaderMap::new();
    if let Some(value) = authorization {
        headers.insert("authorization", value.parse().unwrap());
    }
    ConnectRequest {
        room: room.into(),
        uri: uri.parse().unwrap(),
        headers,
        remote_addr: None,
    }
}

#[test]
fn a_token_opens_its_room_with_its_access() {
    let hour = Duration::from_secs(3600);
    let rw = key().sign(&Grant::room("notes/today", hour));
    let ro = key().sign(&Grant::room("notes/today", hour).access(Access::ReadOnly));
    assert_eq!(key().verify(&rw, "notes/today"), Ok(Access::ReadWrite));
    assert_eq!(key().verify(&ro, "notes/today"), Ok(Access::ReadOnly));
    let err = key().verify(&rw, "notes/other").unwrap_err();
    assert_eq!(
        err,
        TokenError::WrongRoom {
            room: "notes/other".into()
        }
    );
    assert_eq!(err.status(), StatusCode::FORBIDDEN);
}

#[test]
fn a_prefix_token_opens_the_rooms_under_it() {
    let grant = Grant {
        scope: RoomScope::Prefix("team-a/".into()),
        access: Access::ReadWrite,
        expires: None,
    };
    let token = key().sign(&grant);
    assert_eq!(key().verify(&token, "team-a/plan"), Ok(Access::ReadWrite));
    assert!(matches!(
        key().verify(&token, "team-b/plan"),
        Err(TokenError::WrongRoom { .. })
    ));
}

#[test]
fn an_expired_token_is_refused() {
    let token = key().sign(&Grant::room("r", Duration::from_secs(60)));
    let later = SystemTime::now() + Duration::from_secs(61);
    assert_eq!(
        key().verify_at(&token, "r", later),
        Err(TokenError::Expired)
    );
    assert_eq!(TokenError::Expired.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn a_tampered_or_foreign_token_is_refused() {
    let token = key().sign(&Grant::room("r", Duration::from_secs(60)));
    // Claims swapped for a grant of another room, signature kept.
    let parts: Vec<&str> = token.split('.').collect();
    let forged_claims = URL_SAFE_NO_PAD.encode(r#"{"room":"admin","access":"rw"}"#);
    let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
    assert_eq!(
        key().verify(&forged, "admin"),
        Err(TokenError::BadSignature)
    );
    // Signed with another key.
    let other = TokenKey::new("another secret of thirty-two bytes!!").unwrap();
    assert_eq!(other.verify(&token, "r"), Err(TokenError::BadSignature));
    // "alg": "none" with no signature.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(r#"{"room":"r","access":"rw"}"#)
    );
    assert_eq!(key().verify(&none, "r"), Err(TokenError::BadSignature));
    for junk in ["", "abc", "a.b", "a.b.c.d", "@@.@@.@@"] {
        assert!(
            matches!(key().verify(junk, "r"), Err(TokenError::Malformed(_))),
            "{junk}"
        );
    }
}

#[test]
fn a_signed_token_with_another_algorithm_or_bad_claims_is_refused() {
    // Signed with our key but claiming HS512: the header is not ours to trust.
    let sign = |header: &str, claims: &str| {
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(key().signature(signed.as_bytes()))
        )
    };
    let hs512 = sign(r#"{"alg":"HS512"}"#, r#"{"room":"r","access":"rw"}"#);
    assert!(matches!(
        key().verify(&hs512, "r"),
        Err(TokenError::Malformed(_))
    ));
    let both = sign(HEADER, r#"{"room":"r","room_prefix":"","access":"rw"}"#);
    assert!(matches!(
        key().verify(&both, "r"),
        Err(TokenError::Malformed(_))
    ));
    let admin = sign(HEADER, r#"{"room":"r","access":"admin"}"#);
    assert!(matches!(
        key().verify(&admin, "r"),
        Err(TokenError::Malformed(_))
    ));
    // Any JWT library with the same key makes tokens we accept.
    let foreign = sign(
        HEADER,
        r#"{"room":"r","access":"r","exp":99999999999,"sub":"ada"}"#,
    );
    assert_eq!(key().verify(&foreign, "r"), Ok(Access::ReadOnly));
}

#[test]
fn a_short_key_is_refused() {
    assert!(TokenKey::new("short").is_err());
    assert!(TokenKey::new([7u8; MIN_KEY_BYTES]).is_ok());
}

#[test]
fn the_hook_reads_the_query_or_the_bearer_header() {
    let token = key().sign(&Grant::room("r", Duration::from_secs(60)));
    let query = request(&format!("/r?token={token}"), "r", None);
    assert_eq!(key().check_request(&query), Ok(Access::ReadWrite));
    let bearer = request("/r", "r", Some(&format!("Bearer {token}")));
    assert_eq!(key().check_request(&bearer), Ok(Access::ReadWrite));
    assert_eq!(
        key().check_request(&request("/r", "r", None)),
        Err(TokenError::Missing)
    );
    assert_eq!(
        key().check_request(&request("/r?token=", "r", None)),
        Err(TokenError::Missing)
    );
}
