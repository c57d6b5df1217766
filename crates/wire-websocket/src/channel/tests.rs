//! Tests of the WebSocket channel: keepalive with a busy writer, write bounds, batching, close reasons.

use super::*;
use tokio::io::DuplexStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;
use wiredb::CloseKind;

type MemoryChannel = WebSocketChannel<
    WebSocketStream<crate::shared_socket::SharedSocket<Tracked<DuplexStream>>>,
    Message,
>;

/// A server's channel over an in-memory socket (tracked and shared, as the server's
/// is: binary frames are framed by the channel, the rest by tungstenite), and the
/// raw WebSocket of its peer.
async fn pair(
    keepalive: Option<KeepAlive>,
    buffer: usize,
) -> (MemoryChannel, WebSocketStream<DuplexStream>) {
    let (ours, theirs) = tokio::io::duplex(buffer);
    let channel = server_channel(ours, keepalive).await;
    let theirs = WebSocketStream::from_raw_socket(theirs, Role::Client, None).await;
    (channel, theirs)
}

/// A server's channel over `ours`, tracked and shared as the server's socket is.
async fn server_channel(ours: DuplexStream, keepalive: Option<KeepAlive>) -> MemoryChannel {
    let progress = Progress::new();
    let ours = crate::shared_socket::SharedSocket::new(Tracked::new(ours, progress.clone()));
    let frame_writer = ours.frame_writer();
    let ours = WebSocketStream::from_raw_socket(ours, Role::Server, None).await;
    WebSocketChannel::new("test", ours, keepalive)
        .with_progress(progress)
        .with_frame_writer(frame_writer)
}

/// The server frames its binary frames itself while tungstenite answers the
/// peer's pings on the same socket, from the reader: through a pipe far smaller
/// than what is sent, every frame arrives whole and in order, and every ping is
/// answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framed_batches_and_pongs_share_the_socket_without_cutting_each_other() {
    let (channel, peer) = pair(None, 256).await;
    let channel = std::sync::Arc::new(channel);
    // Our reader: tungstenite answers pings while it reads.
    let reading = tokio::spawn({
        let channel = channel.clone();
        async move { while let Some(Ok(_)) = channel.recv().await {} }
    });
    let (mut to_server, mut from_server) = peer.split();
    const PINGS: usize = 200;
    let pinging = tokio::spawn(async move {
        for i in 0..PINGS {
            to_server
                .send(Message::Ping(ping_payload(i)))
                .await
                .unwrap();
            tokio::task::yield_now().await;
        }
        to_server
    });
    // Batches of frames of every length class: 1-byte, 16-bit and 64-bit lengths.
    let sizes = [1usize, 125, 126, 3000, 70_000];
    let expected: Vec<Bytes> = (0..100usize)
        .map(|i| Bytes::from(vec![(i % 251) as u8; sizes[i % sizes.len()]]))
        .collect();
    let writing = tokio::spawn({
        let channel = channel.clone();
        let expected = expected.clone();
        async move {
            for batch in expected.chunks(7) {
                channel.send_batch(batch.to_vec()).await.unwrap();
            }
        }
    });
    let mut frames = Vec::new();
    let mut pongs = 0;
    let receiving = async {
        while frames.len() < expected.len() || pongs < PINGS {
            match from_server.next().await.unwrap().unwrap() {
                Message::Binary(frame) => frames.push(frame),
                Message::Pong(payload) => {
                    assert_eq!(payload, ping_payload(pongs));
                    pongs += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    // A writer left unwoken (two tasks waiting on one socket) would stall here.
    tokio::time::timeout(Duration::from_secs(30), receiving)
        .await
        .expect("the server stopped writing");
    assert!(frames == expected, "frames cut, lost or out of order");
    writing.await.unwrap();
    drop(pinging.await.unwrap());
    reading.abort();
}

/// A ping's payload: its number, padded to the 125-byte limit of a control frame's
/// payload, so that the pong is large enough for the pipe to take only part of it.
fn ping_payload(i: usize) -> Bytes {
    Bytes::from(format!("{i:0125}"))
}

/// After the close, no binary frame follows it on the wire.
#[tokio::test]
async fn nothing_is_framed_after_the_close() {
    let (channel, mut peer) = pair(None, 64 * 1024).await;
    channel.send(Bytes::from_static(b"before")).await.unwrap();
    channel
        .close(CloseReason::new(CloseKind::Normal, "bye"))
        .await
        .unwrap();
    let after = channel.send(Bytes::from_static(b"after")).await;
    assert!(matches!(after, Err(Error::ChannelClosed)), "{after:?}");
    assert_eq!(
        peer.next().await.unwrap().unwrap(),
        Message::Binary(Bytes::from_static(b"before"))
    );
    match peer.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.reason.as_str(), "bye"),
        other => panic!("expected the close, got {other:?}"),
    }
}

/// Frames written at once from another thread (a room's fan-out, which takes no
/// writer lock) while the channel closes: on the wire, each is wholly before the
/// close or not there at all, never after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_written_at_once_never_follow_the_close() {
    use tokio::io::AsyncReadExt;
    let mut refused_after_close = 0;
    for _ in 0..200 {
        let (ours, mut theirs) = tokio::io::duplex(1 << 20);
        let channel = Arc::new(server_channel(ours, None).await);
        let stop = Arc::new(AtomicBool::new(false));
        let sent_any = Arc::new(AtomicBool::new(false));
        let writing = std::thread::spawn({
            let (channel, stop, sent_any) = (channel.clone(), stop.clone(), sent_any.clone());
            move || {
                let frame = [Bytes::from_static(b"edit")];
                let mut refused_after_sent = 0;
                while !stop.load(Ordering::Relaxed) {
                    match channel.try_send_now(&frame) {
                        SendNow::NotNow if sent_any.load(Ordering::Relaxed) => {
                            refused_after_sent += 1
                        }
                        SendNow::NotNow => {}
                        _ => sent_any.store(true, Ordering::Relaxed),
                    }
                }
                refused_after_sent
            }
        });
        // The close is started while the other thread is writing.
        while !sent_any.load(Ordering::Relaxed) {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
        channel
            .close(CloseReason::new(CloseKind::Normal, "bye"))
            .await
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        if writing.join().unwrap() > 0 {
            refused_after_close += 1;
        }
        drop(channel);
        let mut wire = Vec::new();
        theirs.read_to_end(&mut wire).await.unwrap();
        let opcodes = server_frame_opcodes(&wire);
        assert_eq!(opcodes.last(), Some(&0x8), "the close comes last");
        assert!(opcodes.len() > 1, "frames were written before the close");
        assert!(opcodes[..opcodes.len() - 1].iter().all(|&op| op == 0x2));
    }
    assert!(refused_after_close > 0, "the writes never met the close");
}

/// The opcodes of the unmasked frames in `wire`, which must hold whole frames only.
fn server_frame_opcodes(mut wire: &[u8]) -> Vec<u8> {
    let mut opcodes = Vec::new();
    while !wire.is_empty() {
        assert!(wire.len() >= 2, "a cut frame header");
        let (len, header) = match wire[1] {
            126 => (usize::from(u16::from_be_bytes([wire[2], wire[3]])), 4),
            127 => panic!("no frame here is that long"),
            len => (usize::from(len), 2),
        };
        assert!(wire.len() >= header + len, "a cut frame");
        opcodes.push(wire[0] & 0x0f);
        wire = &wire[header + len..];
    }
    opcodes
}

/// Frames written at once (`try_send_now`, one or a few at a time) while the peer
/// reads nothing: the pipe takes the first whole, then part of the next group
/// (`Started`), then nothing more at once (`NotNow`: those go through
/// `send_batch`); a send of no frames writes the rest. Every frame arrives whole
/// and in order, small (framed on the stack) and large alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_sent_at_once_keep_their_order_when_the_socket_fills() {
    let (channel, mut peer) = pair(None, 256).await;
    let frames: Vec<Bytes> = (0..40usize)
        .map(|i| Bytes::from(vec![i as u8; if i % 5 == 4 { 300 } else { 100 }]))
        .collect();
    let mut outcomes = Vec::new();
    let mut queued = Vec::new();
    let mut rest = &frames[..];
    for size in [1, 3, 2].into_iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (group, after) = rest.split_at(size.min(rest.len()));
        rest = after;
        let outcome = channel.try_send_now(group);
        if outcome == SendNow::NotNow {
            queued.push(group.to_vec());
        }
        outcomes.push(outcome);
    }
    assert_eq!(outcomes[0], SendNow::Sent, "{outcomes:?}");
    assert_eq!(outcomes[1], SendNow::Started, "{outcomes:?}");
    assert!(
        outcomes[2..].iter().all(|o| *o == SendNow::NotNow),
        "{outcomes:?}"
    );
    let channel = std::sync::Arc::new(channel);
    let writing = tokio::spawn({
        let channel = channel.clone();
        async move {
            channel.send_batch(Vec::new()).await.unwrap();
            for group in queued {
                channel.send_batch(group).await.unwrap();
            }
        }
    });
    assert_received(&mut peer, &frames).await;
    writing.await.unwrap();
    channel
        .close(CloseReason::new(CloseKind::Normal, "bye"))
        .await
        .unwrap();
    assert_eq!(
        channel.try_send_now(&frames[..1]),
        SendNow::NotNow,
        "nothing at once after the close"
    );
    match peer.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => assert_eq!(frame.reason.as_str(), "bye"),
        other => panic!("expected the close, got {other:?}"),
    }
}

/// A socket with room takes a group of frames at once whatever its size: one edit,
/// a busy room's tick framed on the stack, and one too large for the stack.
#[tokio::test]
async fn groups_of_frames_sent_at_once_arrive_whole_and_in_order() {
    let (channel, mut peer) = pair(None, 64 * 1024).await;
    let frame = |i: usize, len: usize| Bytes::from(vec![i as u8; len]);
    let one = vec![frame(0, 40)];
    let tick: Vec<Bytes> = (1..6).map(|i| frame(i, 100)).collect();
    let large: Vec<Bytes> = (6..16).map(|i| frame(i, 300)).collect();
    for group in [&one, &tick, &large] {
        assert_eq!(channel.try_send_now(group), SendNow::Sent);
    }
    let all: Vec<Bytes> = [one, tick, large].concat();
    assert_received(&mut peer, &all).await;
}

/// A group too large for the stack, offered to a socket with no room at all, is
/// not taken (so that it stays in the peer's queue and budget), and goes out
/// whole with the next send.
#[tokio::test]
async fn a_large_group_the_socket_cannot_take_at_all_is_declined() {
    let (channel, mut peer) = pair(None, 256).await;
    // 4 bytes of header and 252 of payload: the pipe is exactly full.
    let filler = vec![Bytes::from(vec![1u8; 252])];
    assert_eq!(channel.try_send_now(&filler), SendNow::Sent);
    let large: Vec<Bytes> = (0..10).map(|i| Bytes::from(vec![i as u8; 300])).collect();
    assert_eq!(channel.try_send_now(&large), SendNow::NotNow);
    let channel = std::sync::Arc::new(channel);
    let sending = tokio::spawn({
        let (channel, large) = (channel.clone(), large.clone());
        async move { channel.send_batch(large).await.unwrap() }
    });
    assert_received(&mut peer, &[filler, large].concat()).await;
    sending.await.unwrap();
}

/// Reads `frames` from `peer`, each one whole and in order.
async fn assert_received(peer: &mut WebSocketStream<DuplexStream>, frames: &[Bytes]) {
    for expected in frames {
        let message = tokio::time::timeout(Duration::from_secs(10), peer.next())
            .await
            .expect("the rest was not written")
            .unwrap()
            .unwrap();
        assert_eq!(&message, &Message::Binary(expected.clone()));
    }
}

const SECOND: Duration = Duration::from_secs(1);

/// The room's writer holding the socket when a ping is due must delay the ping,
/// not skip it: a skipped ping made a silent but healthy peer look dead.
#[tokio::test(start_paused = true)]
async fn a_ping_due_while_the_writer_is_busy_is_sent_late_not_skipped() {
    let keepalive = KeepAlive::default().interval(SECOND).timeout(SECOND);
    let (channel, mut peer) = pair(Some(keepalive), 64 * 1024).await;
    // The peer only reads (tungstenite answers pings while reading).
    let reading = tokio::spawn(async move { while let Some(Ok(_)) = peer.next().await {} });
    let channel = std::sync::Arc::new(channel);
    let busy_writer = channel.writer.lock().await;
    let receiving = tokio::spawn({
        let channel = channel.clone();
        async move { channel.recv().await.map(|r| r.map_err(|e| e.to_string())) }
    });
    // The ping falls due at 1 s, while the writer is held until 1.5 s.
    tokio::time::sleep(SECOND + SECOND / 2).await;
    drop(busy_writer);
    // Ten quiet intervals later the peer is still connected.
    tokio::time::sleep(10 * SECOND).await;
    assert!(!receiving.is_finished(), "{:?}", receiving.await);
    receiving.abort();
    reading.abort();
}

/// A peer that takes no data fails the send once the keepalive timeout is over,
/// instead of blocking the sender for ever.
#[tokio::test(start_paused = true)]
async fn a_write_the_peer_never_takes_fails_after_the_timeout() {
    let keepalive = KeepAlive::default().interval(10 * SECOND).timeout(SECOND);
    // A tiny pipe the peer never reads: the first big frame fills it.
    let (channel, _peer) = pair(Some(keepalive), 1024).await;
    let frame = Bytes::from(vec![7u8; 64 * 1024]);
    let started = Instant::now();
    let sent = channel.send_batch(vec![frame.clone(), frame]).await;
    assert!(sent.is_err());
    assert!(started.elapsed() >= SECOND);
    let single = channel.send(Bytes::from(vec![1u8; 64 * 1024])).await;
    assert!(single.is_err());
}

/// A peer on a slow link takes a frame far longer to receive than the timeout,
/// but keeps taking bytes: the write goes on, it is not given up.
#[tokio::test(start_paused = true)]
async fn a_slow_but_steady_peer_gets_a_frame_longer_than_the_timeout() {
    let keepalive = KeepAlive::default().interval(100 * SECOND).timeout(SECOND);
    let (channel, peer) = pair(Some(keepalive), 1024).await;
    let mut raw = peer.into_inner();
    // 512 bytes every 100 ms: 64 KiB take about 13 s.
    let reading = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 512];
        let mut total = 0;
        while total < 64 * 1024 {
            tokio::time::sleep(SECOND / 10).await;
            match raw.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        total
    });
    let started = Instant::now();
    channel
        .send(Bytes::from(vec![7u8; 64 * 1024]))
        .await
        .unwrap();
    assert!(started.elapsed() > 10 * SECOND);
    assert!(reading.await.unwrap() >= 64 * 1024 - 1024);
}

/// A large frame arriving slowly (for far longer than the keepalive's interval
/// and timeout) from a peer that, busy sending, answers no ping: the bytes moving
/// in are its sign of life, and the frame is received whole.
#[tokio::test(start_paused = true)]
async fn a_large_frame_arriving_slowly_keeps_its_sender_alive() {
    let keepalive = KeepAlive::default().interval(SECOND).timeout(SECOND);
    let (ours, mut theirs) = tokio::io::duplex(64 * 1024);
    let progress = Progress::new();
    // Our end as the client, so that the peer's frame is unmasked and can be
    // written by hand: 60 000 bytes in 1 000-byte pieces, one a second.
    let ours = Tracked::new(ours, progress.clone());
    let ours = WebSocketStream::from_raw_socket(ours, Role::Client, None).await;
    let channel = WebSocketChannel::new("test", ours, Some(keepalive)).with_progress(progress);
    let sending = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        theirs.write_all(&[0x82, 126, 0xea, 0x60]).await.unwrap();
        for _ in 0..60 {
            tokio::time::sleep(SECOND).await;
            theirs.write_all(&[9u8; 1000]).await.unwrap();
        }
        theirs
    });
    let frame = channel.recv().await.unwrap().unwrap();
    assert_eq!(frame.len(), 60_000);
    drop(sending.await.unwrap());
}

/// Several queued frames go out with one flush, so a burst to a peer is one
/// write: the peer reads them all from what a single flush delivered.
#[tokio::test]
async fn a_batch_is_flushed_once() {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let counted = FlushCounter {
        inner: WebSocketStream::from_raw_socket(ours, Role::Server, None).await,
        flushes: std::sync::Arc::default(),
    };
    let flushes = counted.flushes.clone();
    let channel = WebSocketChannel::new("test", counted, None);
    let frames: Vec<Bytes> = (0..10u8).map(|n| Bytes::from(vec![n; 10])).collect();
    channel.send_batch(frames).await.unwrap();
    assert_eq!(flushes.load(Ordering::SeqCst), 1);
    let mut theirs = WebSocketStream::from_raw_socket(theirs, Role::Client, None).await;
    for n in 0..10u8 {
        let message = theirs.next().await.unwrap().unwrap();
        assert_eq!(message, Message::Binary(Bytes::from(vec![n; 10])));
    }
}

/// A socket that counts its flushes.
struct FlushCounter {
    inner: WebSocketStream<DuplexStream>,
    flushes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Stream for FlushCounter {
    type Item = std::result::Result<Message, tokio_tungstenite::tungstenite::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl Sink<Message> for FlushCounter {
    type Error = tokio_tungstenite::tungstenite::Error;
    fn poll_ready(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::result::Result<(), Self::Error>> {
        self.inner.poll_ready_unpin(cx)
    }
    fn start_send(
        mut self: std::pin::Pin<&mut Self>,
        item: Message,
    ) -> std::result::Result<(), Self::Error> {
        self.inner.start_send_unpin(item)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::result::Result<(), Self::Error>> {
        let flushed = self.inner.poll_flush_unpin(cx);
        if flushed.is_ready() {
            self.flushes.fetch_add(1, Ordering::SeqCst);
        }
        flushed
    }
    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::result::Result<(), Self::Error>> {
        self.inner.poll_close_unpin(cx)
    }
}

#[test]
fn close_reasons_are_cut_at_a_char_boundary() {
    let long = "é".repeat(100);
    let cut = truncate_reason(&long);
    assert!(cut.len() <= 123);
    assert_eq!(cut.len(), 122);
    assert_eq!(truncate_reason("short"), "short");
}

#[test]
fn close_codes_follow_rfc_6455() {
    assert_eq!(close_code(CloseKind::Normal), 1000);
    assert_eq!(close_code(CloseKind::TooBig), 1009);
    assert_eq!(close_code(CloseKind::InternalError), 1011);
}

/// The documented timings, default keepalive: a peer that sent one message and then
/// nothing (and answers no ping) gets its ping 30 s after that message and is dropped
/// 30 s later, not an interval later each (its bytes were once counted twice).
#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_pinged_at_30_s_and_dropped_at_60_s() {
    let (channel, mut peer) = pair(Some(KeepAlive::default()), 64 * 1024).await;
    peer.send(Message::binary(vec![1u8, 2])).await.unwrap();
    let started = tokio::time::Instant::now();
    assert!(channel.recv().await.unwrap().is_ok());
    // The peer reads nothing from now on, so it never answers the ping.
    let ended = channel.recv().await;
    assert!(matches!(ended, Some(Err(_))), "{ended:?}");
    let after = started.elapsed();
    assert!(
        after >= 60 * SECOND && after < 61 * SECOND,
        "dropped after {after:?}"
    );
    // The ping went out at 30 s: it is the first thing in the peer's stream.
    match peer.next().await {
        Some(Ok(Message::Ping(_))) => {}
        other => panic!("expected the ping first, got {other:?}"),
    }
}
