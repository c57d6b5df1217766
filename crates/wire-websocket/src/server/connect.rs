//! The connect hook: who may join which room, decided before the WebSocket upgrade.

use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode, Uri};
use wiredb::BoxFuture;

/// What the server knows about a connection request when the connect hook runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectRequest {
    /// The room asked for: the URL path after the mount point, percent-decoded,
    /// without the leading `/` (`ws://h:p/notes/today?token=x` → `notes/today`).
    pub room: String,
    /// The request URI as the server's router saw it (relative to the mount point
    /// when nested); its query string carries tokens and other parameters.
    pub uri: Uri,
    /// The request headers (`Authorization`, `Cookie`, `Origin`, ...).
    pub headers: HeaderMap,
    /// The peer address, when the app was served with connect info (the standalone
    /// server always is; see axum's `into_make_service_with_connect_info`).
    pub remote_addr: Option<SocketAddr>,
}

impl ConnectRequest {
    /// The raw query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The value of query parameter `name`, percent-decoded (`?token=a%20b` → `a b`).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key) == name).then(|| percent_decode(value))
        })
    }

    /// The value of cookie `name` from the `Cookie` headers.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|header| header.split(';'))
            .find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                (key == name).then(|| value.to_owned())
            })
    }

    /// The value of header `name` if it is valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}

/// What an accepted connection may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Read and write the document.
    #[default]
    ReadWrite,
    /// Receive everything; the connection's document updates are dropped (its
    /// awareness is still shared, so others see who is looking).
    ReadOnly,
}

/// A refused connection: answered with an HTTP status and a short text body, before
/// any WebSocket is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejection {
    /// The HTTP status (401, 403, 404, ...).
    pub status: StatusCode,
    /// The response body, for the client's logs.
    pub message: String,
}

impl Rejection {
    /// A rejection with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Rejection {
            status,
            message: message.into(),
        }
    }

    /// 401 Unauthorized.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 503 Service Unavailable: what every upgrade request gets once the server has
    /// begun to shut down.
    pub(crate) fn shutting_down() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "server shutting down")
    }
}

/// Decides, before the upgrade, whether a connection request is accepted and with
/// which [`Access`].
///
/// Any `Fn(&ConnectRequest) -> Result<Access, Rejection>` is a hook; implement the
/// trait for asynchronous checks (a token looked up in a database).
///
/// ```
/// use wire_websocket::{Access, ConnectRequest, Rejection};
///
/// let hook = |request: &ConnectRequest| match request.query_param("token").as_deref() {
///     Some("secret") => Ok(Access::ReadWrite),
///     Some("viewer") => Ok(Access::ReadOnly),
///     _ => Err(Rejection::unauthorized("a valid ?token= is required")),
/// };
/// # let _: &dyn wire_websocket::ConnectHook = &hook;
/// ```
pub trait ConnectHook: Send + Sync + 'static {
    /// Accepts (with an access level) or rejects `request`.
    fn check<'a>(&'a self, request: &'a ConnectRequest)
    -> BoxFuture<'a, Result<Access, Rejection>>;
}

impl<F> ConnectHook for F
where
    F: Fn(&ConnectRequest) -> Result<Access, Rejection> + Send + Sync + 'static,
{
    fn check<'a>(
        &'a self,
        request: &'a ConnectRequest,
    ) -> BoxFuture<'a, Result<Access, Rejection>> {
        let decision = self(request);
        Box::pin(std::future::ready(decision))
    }
}

/// Decodes `%XX` escapes and `+` (as a space, per form encoding); invalid escapes
/// are kept as they are.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                // Two hex digits exactly: `from_str_radix` alone would take "+1".
                let digits = &bytes[i + 1..i + 3];
                let hex = digits
                    .iter()
                    .all(u8::is_ascii_hexdigit)
                    .then(|| std::str::from_utf8(digits).ok())
                    .flatten();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, cookie: Option<&str>) -> ConnectRequest {
        let mut headers = HeaderMap::new();
        if let Some(cookie) = cookie {
            headers.insert(axum::http::header::COOKIE, cookie.parse().unwrap());
        }
        ConnectRequest {
            room: "r".into(),
            uri: uri.parse().unwrap(),
            headers,
            remote_addr: None,
        }
    }

    #[test]
    fn query_params_are_decoded() {
        let r = request("/r?a=1&token=a%20b+c&flag", None);
        assert_eq!(r.query_param("token").as_deref(), Some("a b c"));
        assert_eq!(r.query_param("a").as_deref(), Some("1"));
        assert_eq!(r.query_param("flag").as_deref(), Some(""));
        assert_eq!(r.query_param("missing"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
        // Not hex digits, though `u8::from_str_radix` would read "+1" as 1.
        assert_eq!(percent_decode("%+1x"), "% 1x");
    }

    #[test]
    fn cookies_are_found() {
        let r = request("/r", Some("theme=dark; session=abc123"));
        assert_eq!(r.cookie("session").as_deref(), Some("abc123"));
        assert_eq!(r.cookie("theme").as_deref(), Some("dark"));
        assert_eq!(r.cookie("nope"), None);
    }
}
