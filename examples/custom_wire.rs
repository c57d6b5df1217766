//! Run with: `cargo run -p wiredb-examples --example custom_wire`
//!
//! A new wire in one file: y-protocols frames over a plain TCP stream, each frame a
//! big-endian `u32` length followed by that many bytes. `TcpChannel` implements
//! `wiredb::Channel`; a `RoomManager` serves it, two `Provider`s sync over it, and a
//! peer that declares an absurd frame length is dropped without disturbing them.
//! Walked through in `docs/writing-a-wire.md`.
//!
//! The wire's own handshake: a client's first frame is the room id (the WebSocket
//! wire takes it from the URL path instead).

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinSet;
use wiredb::{
    Channel, CloseKind, CloseReason, Error, ManagerConfig, PeerOptions, Provider, ProviderConfig,
    Result, RoomManager,
};
use yrs::{Doc, GetString, Text, Transact};

/// The limit the example uses on both sides, the same as the rooms' (see
/// `RoomConfig::max_frame_size`): the room checks its own limit again, but only the
/// wire can refuse a length before buffering the frame.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Bytes of the length prefix.
const HEADER: usize = 4;
/// Most bytes reserved for one read, whatever length the peer declares: a peer that
/// announces 16 MiB and sends nothing makes us allocate 64 KiB, not 16 MiB.
const READ_CHUNK: usize = 64 * 1024;
/// Longest room id a client may ask for in its first frame.
const MAX_ROOM_ID: usize = 256;
/// How long a new connection has to name its room, and a close to flush: a peer that
/// sends nothing, or stops reading, must not hold a task forever.
const PATIENCE: Duration = Duration::from_secs(5);

// ANCHOR: struct
/// One TCP connection as a wiredb [`Channel`] of length-prefixed frames.
///
/// Read and write halves sit behind separate async locks: a room reads a peer in one
/// task and writes to it in another, at the same time, through `&self`.
struct TcpChannel {
    id: String,
    reader: Mutex<FrameReader>,
    writer: Mutex<BufWriter<OwnedWriteHalf>>,
}

/// The read half and the bytes read from it that do not yet form a whole frame. The
/// buffer lives here, not in `recv`'s future, so a cancelled `recv` loses nothing.
struct FrameReader {
    socket: OwnedReadHalf,
    buffer: BytesMut,
    max_frame: usize,
}
// ANCHOR_END: struct

impl TcpChannel {
    /// Wraps an accepted or connected stream; frames longer than `max_frame` bytes
    /// from the peer are refused.
    fn new(id: String, stream: TcpStream, max_frame: usize) -> Self {
        // Frames are small and latency matters: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let (socket, writer) = stream.into_split();
        TcpChannel {
            id,
            reader: Mutex::new(FrameReader {
                socket,
                buffer: BytesMut::new(),
                max_frame,
            }),
            writer: Mutex::new(BufWriter::new(writer)),
        }
    }

    /// The client side: connects and names the room.
    async fn connect(address: SocketAddr, room: &str) -> Result<Self> {
        let stream = TcpStream::connect(address)
            .await
            .map_err(Error::transport)?;
        let channel = TcpChannel::new(format!("tcp:{address}"), stream, MAX_FRAME);
        channel
            .send(Bytes::copy_from_slice(room.as_bytes()))
            .await?;
        Ok(channel)
    }
}

// ANCHOR: recv
impl FrameReader {
    /// The next whole frame. Cancel-safe: `read_buf` either reads into the buffer
    /// or, when cancelled, reads nothing; bytes already in the buffer stay there for
    /// the next call, and a frame is only taken out of it once it is complete.
    async fn next_frame(&mut self) -> Option<Result<Bytes>> {
        loop {
            match self.whole_frame() {
                Ok(Some(frame)) => return Some(Ok(frame)),
                Ok(None) => {}
                Err(error) => return Some(Err(error)),
            }
            let missing = self.missing().min(READ_CHUNK);
            self.buffer.reserve(missing);
            match self.socket.read_buf(&mut self.buffer).await {
                // End of stream between frames: the peer closed cleanly.
                Ok(0) if self.buffer.is_empty() => return None,
                Ok(0) => {
                    let cut = std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("stream ended inside a frame ({} bytes)", self.buffer.len()),
                    );
                    return Some(Err(Error::transport(cut)));
                }
                Ok(_) => {}
                Err(error) => return Some(Err(Error::transport(error))),
            }
        }
    }

    /// Takes one frame out of the buffer if it is all there. The declared length is
    /// peer input: it is checked against the limit before anything is reserved for
    /// it, and a bad one is an error for this connection, never a panic.
    fn whole_frame(&mut self) -> Result<Option<Bytes>> {
        let Some(length) = self.declared_length() else {
            return Ok(None);
        };
        if length > self.max_frame {
            return Err(Error::FrameTooLarge {
                size: length,
                limit: self.max_frame,
            });
        }
        if self.buffer.len() < HEADER + length {
            return Ok(None);
        }
        self.buffer.advance(HEADER);
        // `split_to` + `freeze` hands the bytes over without copying them.
        Ok(Some(self.buffer.split_to(length).freeze()))
    }

    fn declared_length(&self) -> Option<usize> {
        let header: [u8; HEADER] = self.buffer.get(..HEADER)?.try_into().ok()?;
        usize::try_from(u32::from_be_bytes(header)).ok()
    }

    /// Bytes still needed to complete the header or the frame being read.
    fn missing(&self) -> usize {
        let wanted = match self.declared_length() {
            Some(length) => HEADER.saturating_add(length),
            None => HEADER,
        };
        wanted.saturating_sub(self.buffer.len()).max(1)
    }
}
// ANCHOR_END: recv

// ANCHOR: channel
impl Channel for TcpChannel {
    fn id(&self) -> &str {
        &self.id
    }

    async fn send(&self, frame: Bytes) -> Result<()> {
        self.send_batch(vec![frame]).await
    }

    /// Writes every frame into the buffered writer and flushes once: a burst of
    /// small frames becomes one system call. (`BufWriter` passes a frame larger than
    /// its buffer straight through, so big frames are not copied.)
    async fn send_batch(&self, frames: Vec<Bytes>) -> Result<()> {
        let mut writer = self.writer.lock().await;
        for frame in frames {
            let length = u32::try_from(frame.len()).map_err(|_| Error::FrameTooLarge {
                size: frame.len(),
                limit: u32::MAX as usize,
            })?;
            writer
                .write_all(&length.to_be_bytes())
                .await
                .map_err(Error::transport)?;
            writer.write_all(&frame).await.map_err(Error::transport)?;
        }
        writer.flush().await.map_err(Error::transport)
    }

    async fn recv(&self) -> Option<Result<Bytes>> {
        // Waiting for the lock is cancel-safe too: a cancelled wait holds nothing.
        self.reader.lock().await.next_frame().await
    }

    /// A length-prefixed stream has no close message to carry the reason, so it is
    /// only logged here; the peer sees the end of the stream (its `recv` returns
    /// `None`). A WebSocket would send `reason.kind` as a close code.
    async fn close(&self, reason: CloseReason) -> Result<()> {
        if reason.kind != CloseKind::Normal {
            println!(
                "  [{}] closed: {:?}, {}",
                self.id, reason.kind, reason.message
            );
        }
        let shutdown = async { self.writer.lock().await.shutdown().await };
        // The peer may be gone already, or may have stopped reading: either way
        // there is nothing left to tell it, so a failed or stuck flush is not an error.
        let _ = tokio::time::timeout(PATIENCE, shutdown).await;
        Ok(())
    }
}
// ANCHOR_END: channel

// ANCHOR: server
/// Accepts connections until `stop` fires, then shuts down in order: stop accepting,
/// close every room (peers are told "going away"), wait for every connection task.
async fn run_server(listener: TcpListener, rooms: RoomManager, mut stop: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let channel = TcpChannel::new(format!("tcp:{peer}"), stream, MAX_FRAME);
                    connections.spawn(serve_connection(rooms.clone(), channel));
                }
                Err(error) => {
                    // Out of file descriptors, say: keep serving the peers we have,
                    // and do not spin on the error.
                    println!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    if let Err(error) = rooms.shutdown().await {
        println!("shutdown: {error}"); // a room's closing hook failed
    }
    while connections.join_next().await.is_some() {}
}

/// Reads the room id (the wire's handshake), then hands the channel to the room.
async fn serve_connection(rooms: RoomManager, channel: TcpChannel) {
    let room = match tokio::time::timeout(PATIENCE, channel.recv()).await {
        Ok(Some(Ok(frame))) if frame.len() <= MAX_ROOM_ID => {
            String::from_utf8_lossy(&frame).into_owned()
        }
        _ => {
            let refused = Err(Error::UnexpectedFrame("expected a room id".into()));
            let _ = channel.close(CloseReason::for_result(&refused)).await;
            return;
        }
    };
    // Returns when the peer leaves, misbehaves or the room closes. The room has then
    // closed the channel with a fitting reason and logged why (through `tracing`).
    let _ = rooms.serve(&room, channel, PeerOptions::default()).await;
}
// ANCHOR_END: server

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn StdError>> {
    // ANCHOR: main
    let rooms = RoomManager::new((), ManagerConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let server = tokio::spawn(run_server(listener, rooms.clone(), stopped));
    println!("serving rooms on tcp://{address}");

    let (alice_doc, bob_doc) = (Doc::new(), Doc::new());
    let alice = Provider::spawn(
        alice_doc.clone(),
        TcpChannel::connect(address, "notes").await?,
        ProviderConfig::default(),
    );
    let bob = Provider::spawn(
        bob_doc.clone(),
        TcpChannel::connect(address, "notes").await?,
        ProviderConfig::default(),
    );
    alice.synced().await?;
    bob.synced().await?;
    // ANCHOR_END: main

    // A peer that announces a 4 GiB frame is refused before anything is buffered;
    // Alice, Bob and their room do not notice.
    let mut rogue = TcpStream::connect(address).await?;
    rogue.write_all(&5u32.to_be_bytes()).await?;
    rogue.write_all(b"notes").await?;
    rogue.write_all(&u32::MAX.to_be_bytes()).await?;
    rogue.read_to_end(&mut Vec::new()).await?;
    println!("rogue peer dropped; its stream ended");

    let arrived = bob.next_remote_change();
    let text = alice_doc.get_or_insert_text("text");
    text.push(&mut alice_doc.transact_mut(), "Hello over TCP");
    arrived.await;
    let text = bob_doc.get_or_insert_text("text");
    println!("Bob reads: {}", text.get_string(&bob_doc.transact()));

    // Server shutdown: the clients see their streams end, and their providers stop.
    let _ = stop.send(());
    server.await?;
    alice.wait().await?;
    bob.wait().await?;
    println!(
        "server stopped; providers {:?} / {:?}",
        alice.state(),
        bob.state()
    );
    Ok(())
}
