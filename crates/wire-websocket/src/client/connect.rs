//! Opening one connection: the URL checked, TCP with no Nagle delay, the WebSocket
//! handshake with the client's headers, limits and timeout.

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{ClientConfig, ClientStream};
use crate::channel::ClientChannel;
use crate::error::{Error, Result};
use crate::socket::{no_delay, tracked, websocket_config};

/// `ws://host:port/id` from Python wiredb's `host`, `port`, `id`.
pub fn room_url(host: &str, port: u16, id: &str) -> String {
    let (scheme, bare) = match host.split_once("://") {
        Some(("https" | "wss", rest)) => ("wss", rest),
        Some((_, rest)) => ("ws", rest),
        None => ("ws", host),
    };
    let bare = bare.trim_end_matches('/');
    format!("{scheme}://{bare}:{port}/{}", id.trim_start_matches('/'))
}

/// Opens one WebSocket to `url` with the client's headers and limits.
pub(super) async fn open_socket(url: &str, config: &ClientConfig) -> Result<ClientChannel> {
    let mut request = url
        .into_client_request()
        .map_err(|error| Error::InvalidUrl {
            url: url.to_owned(),
            reason: error.to_string(),
        })?;
    let invalid = |reason: &str| Error::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let secure = match request.uri().scheme_str() {
        Some("ws") => false,
        #[cfg(feature = "tls")]
        Some("wss") => true,
        #[cfg(not(feature = "tls"))]
        Some("wss") => {
            return Err(invalid(
                "wss:// (TLS) needs wire-websocket's `tls` feature; use ws:// or a build with it",
            ));
        }
        _ => return Err(invalid("the scheme must be ws:// or wss://")),
    };
    // Before connecting: a bad root certificate is a settings error, not a network one.
    #[cfg(feature = "tls")]
    let tls = match secure {
        true => Some(super::tls::client_config(&config.root_certificates)?),
        false => None,
    };
    // `http::Uri` takes any digits as a port and then reports none, which would mean
    // port 80: a typo must be an error instead.
    let authority = request
        .uri()
        .authority()
        .map(|a| a.as_str())
        .unwrap_or_default();
    if let Some((_, port)) = authority.rsplit_once(':')
        && !port.contains(']')
        && port.parse::<u16>().is_err()
    {
        return Err(invalid("the port is not a number from 0 to 65535"));
    }
    for (name, value) in &config.headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    let ws_config = websocket_config(config.read_buffer_size, None, config.max_frame_size);
    // TCP first, by hand, so that the socket under the WebSocket is `Tracked` (the
    // channel bounds writes by the time the server takes no bytes).
    let connecting = async {
        let tcp = connect_tcp(request.uri(), secure).await?;
        #[cfg(feature = "tls")]
        let stream = match tls {
            Some(tls) => {
                let host = bare_host(request.uri());
                ClientStream::Tls(Box::new(super::tls::handshake(tcp, host, tls).await?))
            }
            None => ClientStream::Plain(tcp),
        };
        #[cfg(not(feature = "tls"))]
        let stream = ClientStream::Plain(tcp);
        let (tracked, progress) = tracked(stream);
        let (stream, response) =
            tokio_tungstenite::client_async_with_config(request, tracked, Some(ws_config)).await?;
        Ok::<_, tungstenite::Error>((stream, response, progress))
    };
    let connected = tokio::time::timeout(config.connect_timeout, connecting)
        .await
        .map_err(|_| Error::Connect {
            url: url.to_owned(),
            source: Box::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {:?}", config.connect_timeout),
            )),
        })?;
    match connected {
        Ok((stream, _response, progress)) => {
            Ok(ClientChannel::new(url, stream, config.keepalive).with_progress(progress))
        }
        Err(tungstenite::Error::Http(response)) => Err(Error::Rejected {
            url: url.to_owned(),
            status: response.status().as_u16(),
            body: String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned(),
        }),
        Err(error) => Err(Error::Connect {
            url: url.to_owned(),
            source: Box::new(error),
        }),
    }
}

/// The host of `uri` as the resolver and TLS want it: `[::1]` is `::1`.
fn bare_host(uri: &http::Uri) -> &str {
    let host = uri.host().unwrap_or_default();
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The TCP connection for a `ws://` (or `wss://`, `secure`) URI, without Nagle's
/// delay (frames are small and latency matters).
async fn connect_tcp(
    uri: &http::Uri,
    secure: bool,
) -> std::result::Result<TcpStream, tungstenite::Error> {
    let host = bare_host(uri);
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = TcpStream::connect((host, port)).await?;
    no_delay(&tcp);
    Ok(tcp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_style_addresses_become_ws_urls() {
        assert_eq!(
            room_url("http://127.0.0.1", 8000, "doc"),
            "ws://127.0.0.1:8000/doc"
        );
        assert_eq!(room_url("localhost", 1, "/a/b"), "ws://localhost:1/a/b");
        assert_eq!(
            room_url("https://example.com/", 443, "x"),
            "wss://example.com:443/x"
        );
    }
}
