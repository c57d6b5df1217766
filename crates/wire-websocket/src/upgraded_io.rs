//! [`UpgradedIo`]: the socket of an upgraded connection, reached as directly as the
//! connection allows.
//!
//! hyper hands an upgraded connection over as an `Upgraded`: the connection's I/O
//! boxed behind a trait object, with the bytes it read past the request in front.
//! Every write of a room's fan-out would then go through that box, one more pointer
//! and one more indirect call per peer per update. When the connection is a plain
//! TCP stream (the standalone server's, without TLS), the stream is taken back out
//! of hyper (`Upgraded::downcast`) and written directly; any other (a TLS stream, an
//! app's own axum server) stays as hyper gives it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// An upgraded connection's socket.
pub(crate) enum UpgradedIo {
    /// A plain TCP stream, out of hyper, and what hyper had read of it past the
    /// request (a client that did not wait for the 101), read first.
    Tcp { stream: TcpStream, unread: Bytes },
    /// Any other connection, through hyper.
    Other(TokioIo<Upgraded>),
}

impl UpgradedIo {
    pub(crate) fn new(upgraded: Upgraded) -> Self {
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => UpgradedIo::Tcp {
                stream: parts.io.into_inner(),
                unread: own_bytes(parts.read_buf),
            },
            Err(upgraded) => UpgradedIo::Other(TokioIo::new(upgraded)),
        }
    }
}

/// `bytes`, or nothing once it is empty: what hyper read past the request is a view
/// of its whole read buffer (8 KiB), which an empty view would keep alive for the
/// connection's lifetime, doubling what an idle connection costs.
fn own_bytes(bytes: Bytes) -> Bytes {
    if bytes.is_empty() {
        Bytes::new()
    } else {
        bytes
    }
}

impl AsyncRead for UpgradedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpgradedIo::Tcp { unread, .. } if !unread.is_empty() => {
                let n = unread.len().min(buf.remaining());
                buf.put_slice(&unread.split_to(n));
                *unread = own_bytes(std::mem::take(unread));
                Poll::Ready(Ok(()))
            }
            UpgradedIo::Tcp { stream, .. } => Pin::new(stream).poll_read(cx, buf),
            UpgradedIo::Other(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpgradedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpgradedIo::Tcp { stream, .. } => Pin::new(stream).poll_write(cx, buf),
            UpgradedIo::Other(io) => Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpgradedIo::Tcp { stream, .. } => Pin::new(stream).poll_write_vectored(cx, bufs),
            UpgradedIo::Other(io) => Pin::new(io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpgradedIo::Tcp { stream, .. } => stream.is_write_vectored(),
            UpgradedIo::Other(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpgradedIo::Tcp { stream, .. } => Pin::new(stream).poll_flush(cx),
            UpgradedIo::Other(io) => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpgradedIo::Tcp { stream, .. } => Pin::new(stream).poll_shutdown(cx),
            UpgradedIo::Other(io) => Pin::new(io).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::oneshot;

    /// An HTTP/1 connection served by hyper as the standalone server serves one,
    /// upgraded by a client that sends its first bytes along with the request.
    async fn upgrade_with_early_bytes(early: &[u8]) -> (UpgradedIo, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (upgraded_tx, upgraded_rx) = oneshot::channel();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let upgraded_tx = Mutex::new(Some(upgraded_tx));
            let service = hyper::service::service_fn(move |mut request| {
                let on_upgrade = hyper::upgrade::on(&mut request);
                let upgraded_tx = upgraded_tx.lock().unwrap().take().unwrap();
                tokio::spawn(async move {
                    let upgraded = on_upgrade.await.unwrap();
                    let _ = upgraded_tx.send(UpgradedIo::new(upgraded));
                });
                async {
                    let response = hyper::Response::builder()
                        .status(101)
                        .header("connection", "upgrade")
                        .header("upgrade", "test")
                        .body(axum::body::Body::empty())
                        .unwrap();
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mut request =
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: test\r\n\r\n".to_vec();
        request.extend_from_slice(early);
        client.write_all(&request).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(client.read_u8().await.unwrap());
        }
        assert!(head.starts_with(b"HTTP/1.1 101"));
        (upgraded_rx.await.unwrap(), client)
    }

    /// A plain TCP connection is taken out of hyper; the bytes hyper read past the
    /// request come first, then the stream's own, and writes reach the client.
    #[tokio::test]
    async fn a_plain_tcp_upgrade_is_read_and_written_directly_early_bytes_first() {
        let (mut io, mut client) = upgrade_with_early_bytes(b"early").await;
        match &io {
            UpgradedIo::Tcp { unread, .. } => assert_eq!(&unread[..], b"early"),
            UpgradedIo::Other(_) => panic!("a plain TCP stream stayed in hyper"),
        }
        client.write_all(b" late").await.unwrap();
        let mut read = [0u8; 10];
        io.read_exact(&mut read).await.unwrap();
        assert_eq!(&read, b"early late");
        io.write_all(b"pong").await.unwrap();
        io.flush().await.unwrap();
        let mut pong = [0u8; 4];
        client.read_exact(&mut pong).await.unwrap();
        assert_eq!(&pong, b"pong");
        io.shutdown().await.unwrap();
        assert_eq!(client.read(&mut pong).await.unwrap(), 0, "shut down");
    }

    /// Early bytes larger than the reader's buffer are handed out in pieces.
    #[tokio::test]
    async fn early_bytes_are_read_in_pieces_when_the_buffer_is_small() {
        let (mut io, _client) = upgrade_with_early_bytes(b"0123456789").await;
        let mut piece = [0u8; 4];
        let mut read = Vec::new();
        while read.len() < 10 {
            let n = io.read(&mut piece).await.unwrap();
            assert!(n <= 4);
            read.extend_from_slice(&piece[..n]);
        }
        assert_eq!(read, b"0123456789");
    }
}
