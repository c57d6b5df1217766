//! `wiredb serve` as a team runs it: the page and `/metrics` and `/healthz` beside the
//! rooms, room tokens (`wiredb token`), `wss://` (`--tls-cert`, `dump --ca-file`),
//! memory rooms that outlive their clients, `--room-idle-timeout`, and the usage
//! errors of `serve`. Real processes, real sockets, a certificate made per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use common::{Server, assert_clean_failure, http, rooms_become, synced_client, wiredb};
use wire_websocket::{AsyncWebSocketClient, ClientConfig, Error};
use wiredb_tests::{PATIENCE, eventually, push_text, text_of};

/// What the server answers a connection attempt that it refuses: the HTTP status.
async fn refused_status(url: &str) -> u16 {
    let attempt = AsyncWebSocketClient::builder(url)
        .config(ClientConfig::default().reconnect(None))
        .connect()
        .await;
    match attempt {
        Err(Error::Rejected { status, .. }) => status,
        Err(other) => panic!("{url}: refused, but not with an HTTP status: {other}"),
        Ok(_) => panic!("{url}: accepted"),
    }
}

/// The value of the (unlabelled, or first labelled) sample `name` in a scrape.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let rest = if rest.starts_with('{') {
            &rest[rest.find('}')? + 1..]
        } else {
            rest
        };
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

fn args<'a>(list: &'a [&'a str]) -> Vec<&'a OsStr> {
    list.iter().map(OsStr::new).collect()
}

#[tokio::test]
async fn the_page_health_and_metrics_are_served_beside_the_rooms() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;

    // A plain GET of a room's path is the page; an upgrade of the same path joins it.
    let (status, head, body) = http(server.port, "GET", "/notes/today").await;
    assert_eq!(status, 200, "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        body.contains("<html") || body.contains("<!doctype html"),
        "{body:.200}"
    );
    let (status, _, _) = http(server.port, "GET", "/").await;
    assert_eq!(status, 200);
    let (status, _, _) = http(server.port, "POST", "/notes").await;
    assert_eq!(status, 405);

    let (status, _, body) = http(server.port, "GET", "/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body.trim(), r#"{"status":"ok","rooms":0,"connections":0}"#);
    let (status, _, body) = http(server.port, "GET", "/readyz").await;
    assert_eq!((status, body.trim()), (200, "ready"));

    // A WebSocket to `/metrics` is room "metrics", not the scrape.
    let metrics_room = synced_client(&server.url("metrics")).await;
    let writer = synced_client(&server.url("notes")).await;
    push_text(writer.doc(), "hello");
    let dir_path = dir.path().to_owned();
    eventually("the edit is in the room's file", || {
        std::fs::metadata(dir_path.join("notes_updates.y")).is_ok_and(|m| m.len() > 8)
    })
    .await;

    let (status, head, scrape) = http(server.port, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert_eq!(sample(&scrape, "wiredb_rooms_open"), Some(2.0), "{scrape}");
    assert!(
        scrape.contains(r#"wiredb_connections{access="read_write"} 2"#),
        "{scrape}"
    );
    assert!(
        sample(&scrape, "wiredb_updates_applied_total") >= Some(1.0),
        "{scrape}"
    );
    assert!(
        sample(&scrape, "wiredb_frames_received_total") >= Some(1.0),
        "{scrape}"
    );
    assert!(
        sample(&scrape, "wiredb_frames_sent_total") >= Some(1.0),
        "{scrape}"
    );
    assert!(
        sample(&scrape, "wiredb_bytes_received_total") > Some(0.0),
        "{scrape}"
    );
    assert!(
        sample(&scrape, "wiredb_file_appends_total") >= Some(1.0),
        "{scrape}"
    );
    assert!(
        scrape.contains("wiredb_file_append_seconds_bucket"),
        "{scrape}"
    );
    assert!(scrape.contains("# HELP wiredb_rooms_open"), "{scrape}");
    let (_, _, health) = http(server.port, "GET", "/healthz").await;
    assert!(health.contains(r#""rooms":2,"connections":2"#), "{health}");

    metrics_room.close().await.unwrap();
    writer.close().await.unwrap();
    // The group commit syncs within its interval (1 s) of the append.
    let port = server.port;
    let mut synced = false;
    for _ in 0..50 {
        let (_, _, scrape) = http(port, "GET", "/metrics").await;
        if sample(&scrape, "wiredb_file_syncs_total") >= Some(1.0) {
            synced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(synced, "no fsync counted");
    server.terminate().await;
}

#[tokio::test]
async fn tokens_admit_their_room_with_their_access_and_refuse_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "a test secret that is long enough to sign\n").unwrap();
    let key_arg = key.to_str().unwrap();
    let token = |extra: &[&str]| {
        let mut command = vec!["token"];
        command.extend_from_slice(extra);
        command.extend_from_slice(&["--auth-key-file", key_arg]);
        let out = wiredb(&command);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let data = dir.path().join("data");
    let server = Server::start_with(
        &args(&["--dir", data.to_str().unwrap(), "--auth-key-file", key_arg]),
        None,
    )
    .await;
    let url = |room: &str, token: &str| format!("{}?token={token}", server.url(room));

    let read_write = token(&["notes"]);
    let writer = synced_client(&url("notes", &read_write)).await;
    push_text(writer.doc(), "signed");

    // No token, a tampered one, an expired one: 401. Another room's: 403.
    assert_eq!(refused_status(&server.url("notes")).await, 401);
    let mut tampered = read_write.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(refused_status(&url("notes", &tampered)).await, 401);
    let expired = token(&["notes", "--expires", "0s"]);
    assert_eq!(refused_status(&url("notes", &expired)).await, 401);
    assert_eq!(refused_status(&url("other", &read_write)).await, 403);
    // A prefix token opens the rooms under it only.
    let team = token(&["team-a/", "--prefix"]);
    synced_client(&url("team-a/plan", &team))
        .await
        .close()
        .await
        .unwrap();
    assert_eq!(refused_status(&url("team-b/plan", &team)).await, 403);

    // Read-only: it sees the document; its own edit goes nowhere.
    let viewer = synced_client(&url("notes", &token(&["notes", "--read-only"]))).await;
    eventually("the viewer sees the text", || {
        text_of(viewer.doc()) == "signed"
    })
    .await;
    push_text(viewer.doc(), " + viewer");
    viewer.close().await.unwrap();
    let reader = synced_client(&url("notes", &read_write)).await;
    assert_eq!(text_of(reader.doc()), "signed");

    let (_, _, scrape) = http(server.port, "GET", "/metrics").await;
    assert!(
        scrape.contains(r#"wiredb_connections_refused_total{status="401"} 3"#),
        "{scrape}"
    );
    assert!(
        scrape.contains(r#"wiredb_connections_refused_total{status="403"} 2"#),
        "{scrape}"
    );
    writer.close().await.unwrap();
    reader.close().await.unwrap();
    server.terminate().await;

    // A key too short, and a token asked for with no key: one clear error each.
    let short = dir.path().join("short");
    std::fs::write(&short, "short").unwrap();
    assert_clean_failure(
        &wiredb(&["token", "r", "--auth-key-file", short.to_str().unwrap()]),
        "at least 32 bytes",
    );
    let no_key = std::process::Command::new(common::WIREDB)
        .args(["token", "r"])
        .env_remove("WIREDB_AUTH_KEY")
        .output()
        .unwrap();
    assert_clean_failure(&no_key, "a key is needed");
}

#[tokio::test]
async fn memory_rooms_outlive_their_clients_until_the_idle_timeout() {
    let kept = Server::start_with(&args(&["--memory"]), None).await;
    let first = synced_client(&kept.url("notes")).await;
    push_text(first.doc(), "still here");
    first.close().await.unwrap();
    // Long after the first client has gone, the next one finds its work.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = synced_client(&kept.url("notes")).await;
    assert_eq!(text_of(second.doc()), "still here");
    second.close().await.unwrap();
    kept.terminate().await;

    let evicting =
        Server::start_with(&args(&["--memory", "--room-idle-timeout", "200ms"]), None).await;
    let first = synced_client(&evicting.url("notes")).await;
    push_text(first.doc(), "dropped when idle");
    // Closing waits for the server's answer, so the edit reached the room first.
    first.close().await.unwrap();
    assert!(
        rooms_become(evicting.port, 0).await,
        "the idle room was not dropped"
    );
    let second = synced_client(&evicting.url("notes")).await;
    assert_eq!(text_of(second.doc()), "");
    second.close().await.unwrap();
    evicting.terminate().await;

    // With files: by default the room closes (its file flushed) as its last client
    // leaves; with a timeout it stays open that long, then closes.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lingering = Server::start_with(
        &args(&[
            "--dir",
            data.to_str().unwrap(),
            "--room-idle-timeout",
            "300ms",
        ]),
        None,
    )
    .await;
    let first = synced_client(&lingering.url("kept")).await;
    push_text(first.doc(), "in the file");
    first.close().await.unwrap();
    let (_, _, health) = http(lingering.port, "GET", "/healthz").await;
    assert!(health.contains(r#""rooms":1"#), "closed at once: {health}");
    assert!(
        rooms_become(lingering.port, 0).await,
        "the idle room was not closed"
    );
    let reopened = synced_client(&lingering.url("kept")).await;
    assert_eq!(text_of(reopened.doc()), "in the file");
    reopened.close().await.unwrap();
    lingering.terminate().await;
}

/// A certificate for `localhost` and its key, as PEM files in `dir`.
fn test_certificate(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

#[tokio::test]
async fn wss_with_the_servers_own_tls_and_dump_trusting_its_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = test_certificate(dir.path());
    let data = dir.path().join("data");
    let server = Server::start_with(
        &args(&[
            "--dir",
            data.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]),
        None,
    )
    .await;
    let url = format!("wss://localhost:{}/secure", server.port);

    // Our client, trusting the test certificate by option.
    let config = ClientConfig::default()
        .root_certificates_pem_file(&cert)
        .unwrap();
    let client = AsyncWebSocketClient::builder(&url)
        .config(config)
        .connect()
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, client.synced())
        .await
        .unwrap()
        .unwrap();
    push_text(client.doc(), "over TLS");
    client.close().await.unwrap();

    // `dump wss://` with --ca-file, and with SSL_CERT_FILE instead.
    let cert_arg = cert.to_str().unwrap();
    let dumped = wiredb(&["dump", "--json", &url, "--ca-file", cert_arg]);
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&dumped.stdout).unwrap();
    assert_eq!(report["roots"]["text"]["value"], "over TLS");
    let by_env = std::process::Command::new(common::WIREDB)
        .args(["dump", "--json", &url])
        .env("SSL_CERT_FILE", cert_arg)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(
        by_env.status.success(),
        "{}",
        String::from_utf8_lossy(&by_env.stderr)
    );

    // Without trusting it: a clear certificate error, not a hang.
    let untrusting = std::process::Command::new(common::WIREDB)
        .args(["dump", &url, "--timeout", "5"])
        .env("SSL_CERT_FILE", key.to_str().unwrap()) // no certificate in it
        .env_remove("SSL_CERT_DIR")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_clean_failure(&untrusting, "TLS");
    let system_roots = wiredb(&["dump", &url, "--timeout", "5"]);
    assert_clean_failure(&system_roots, "certificate");
    // Plain HTTP on the TLS port is not served.
    let plain = wiredb(&[
        "dump",
        &format!("ws://localhost:{}/secure", server.port),
        "--timeout",
        "3",
    ]);
    assert_eq!(plain.status.code(), Some(1));
    server.terminate().await;
}

#[test]
fn serve_refuses_zero_threads_and_a_dir_that_is_a_file() {
    let zero = wiredb(&["serve", "--threads", "0", "--memory"]);
    assert_eq!(zero.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&zero.stderr).contains("--threads"),
        "{}",
        String::from_utf8_lossy(&zero.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    assert_clean_failure(
        &wiredb(&["serve", "--port", "0", "--dir", file.to_str().unwrap()]),
        "not a directory",
    );
    // An --fsync policy that is none of the three is a usage error naming them.
    for bad in ["sometimes", "0s", "10 parsecs"] {
        let refused = wiredb(&["serve", "--port", "0", "--fsync", bad]);
        assert_eq!(refused.status.code(), Some(2), "--fsync {bad}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains("--fsync") && stderr.contains("always"),
            "{stderr}"
        );
    }
    // It says how rooms are kept, and refuses to go with --memory.
    let with_memory = wiredb(&["serve", "--memory", "--fsync", "always"]);
    assert_eq!(with_memory.status.code(), Some(2));
    // A TLS key without its certificate is a usage error.
    let half = wiredb(&["serve", "--memory", "--tls-key", "k.pem"]);
    assert_eq!(half.status.code(), Some(2));
}
