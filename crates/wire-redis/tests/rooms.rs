//! Rooms shared through a real Redis (a `redis-server` per test, on a free port with
//! its own directory): servers with `AsyncRedisServer` hooks and WebSocket clients,
//! `AsyncRedisClient`, a Redis restarted mid-edit, compaction, presence expiry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use wire_redis::{AsyncRedisClient, AsyncRedisServer, Error, RedisConfig};
use wire_websocket::{AsyncWebSocketClient, AsyncWebSocketServer, ServerHandle};
use wiredb::lock_unpoisoned;
use wiredb::yrs::{GetString, Map, Text, Transact};
use wiredb_test_support::{PATIENCE, RedisServer, eventually, push_text, text_of};

async fn server_on(redis: &str, config: RedisConfig) -> ServerHandle {
    let hooks = AsyncRedisServer::connect(redis, config).await.unwrap();
    AsyncWebSocketServer::with_hooks(hooks)
        .start("127.0.0.1", 0)
        .await
        .unwrap()
}

async fn client(server: &ServerHandle, room: &str) -> AsyncWebSocketClient {
    let client = AsyncWebSocketClient::connect(&format!("{}/{room}", server.url()))
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, client.synced())
        .await
        .expect("never synced")
        .unwrap();
    client
}

fn has_presence(client: &AsyncWebSocketClient, name: &str) -> bool {
    client
        .awareness_states()
        .iter()
        .any(|(_, state)| state.contains(name))
}

#[tokio::test]
async fn edits_and_presence_cross_servers_and_a_later_server_has_everything() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path());
    let a = server_on(&redis.url(), RedisConfig::default()).await;
    let b = server_on(&redis.url(), RedisConfig::default()).await;
    let on_a = client(&a, "notes").await;
    let on_b = client(&b, "notes").await;

    push_text(on_a.doc(), "from A;");
    eventually("B's client sees A's edit", || {
        text_of(on_b.doc()) == "from A;"
    })
    .await;
    on_b.doc()
        .get_or_insert_map("map")
        .insert(&mut on_b.doc().transact_mut(), "lang", "rust");
    eventually("A's client sees B's map", || {
        on_a.doc()
            .get_or_insert_map("map")
            .get(&on_a.doc().transact(), "lang")
            .is_some()
    })
    .await;

    // Presence crosses servers, and leaves with its client.
    on_a.set_local_awareness(r#"{"user":{"name":"ada-on-a"}}"#);
    eventually("B's client sees A's cursor", || {
        has_presence(&on_b, "ada-on-a")
    })
    .await;
    on_a.close().await.unwrap();
    eventually("A's client left: B's client loses it", || {
        !has_presence(&on_b, "ada-on-a")
    })
    .await;

    // A server started later serves a joining client the whole document.
    let c = server_on(&redis.url(), RedisConfig::default()).await;
    let on_c = client(&c, "notes").await;
    assert_eq!(text_of(on_c.doc()), "from A;");
    let map = on_c.doc().get_or_insert_map("map");
    assert!(map.get(&on_c.doc().transact(), "lang").is_some());

    // Another room stays apart.
    let other = client(&c, "other").await;
    assert_eq!(text_of(other.doc()), "");
    for each in [on_b, on_c, other] {
        each.close().await.unwrap();
    }
    for server in [a, b, c] {
        server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_backend_client_edits_through_redis_alone() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path());
    let server = server_on(&redis.url(), RedisConfig::default()).await;
    let browser = client(&server, "report").await;
    push_text(browser.doc(), "draft;");

    let job = AsyncRedisClient::connect(&redis.url(), "report", RedisConfig::default())
        .await
        .unwrap();
    eventually("the job loads the draft", || text_of(job.doc()) == "draft;").await;
    push_text(job.doc(), " checked");
    eventually("the browser sees the job's edit", || {
        text_of(browser.doc()) == "draft; checked"
    })
    .await;
    job.close().await;

    // Closed, its edit is in Redis: a fresh client loads it.
    let again = AsyncRedisClient::connect(&redis.url(), "report", RedisConfig::default())
        .await
        .unwrap();
    assert_eq!(text_of(again.doc()), "draft; checked");
    again.close().await;
    browser.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn servers_keep_serving_while_redis_restarts_and_then_converge() {
    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start(dir.path());
    let fast =
        RedisConfig::default().backoff(Duration::from_millis(50), Duration::from_millis(300));
    let a = server_on(&redis.url(), fast.clone()).await;
    let b = server_on(&redis.url(), fast.clone()).await;
    let on_a = client(&a, "doc").await;
    let also_on_a = client(&a, "doc").await;
    let on_b = client(&b, "doc").await;
    push_text(on_a.doc(), "before;");
    eventually("B sees the first edit", || text_of(on_b.doc()) == "before;").await;

    redis.stop();
    push_text(on_a.doc(), " a-while-down;");
    push_text(on_b.doc(), " b-while-down;");
    // Local clients of a server still meet.
    eventually("A's clients still sync with each other", || {
        text_of(also_on_a.doc()).contains("a-while-down")
    })
    .await;

    redis.restart();
    let complete = |text: String| {
        text.contains("before;") && text.contains("a-while-down") && text.contains("b-while-down")
    };
    eventually("A's client has every edit", || {
        complete(text_of(on_a.doc()))
    })
    .await;
    eventually("B's client has every edit", || {
        complete(text_of(on_b.doc()))
    })
    .await;
    eventually("both are equal", || {
        text_of(on_a.doc()) == text_of(on_b.doc())
    })
    .await;
    // And Redis holds all of it: a fresh client loads the same text.
    let fresh = AsyncRedisClient::connect(&redis.url(), "doc", RedisConfig::default())
        .await
        .unwrap();
    assert_eq!(text_of(fresh.doc()), text_of(on_a.doc()));
    fresh.close().await;
    for each in [on_a, also_on_a, on_b] {
        each.close().await.unwrap();
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// Redis memory per room stays bounded however long a document is edited: after
/// 10 000 updates the stream holds at most what is younger than `retain` plus
/// `compact_min_entries`, so once the room has been quiet for `retain`, fewer than
/// `compact_min_entries` (the tail of the burst is compacted too, not kept until the
/// next write); and a fresh reader still loads the full document.
#[tokio::test]
async fn compaction_trims_the_stream_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path());
    let config = RedisConfig::default().compaction(
        Duration::from_millis(100),
        200,
        Duration::from_millis(200),
    );
    let server = server_on(&redis.url(), config.clone()).await;
    let watcher = client(&server, "long").await;
    let writer = AsyncRedisClient::connect(&redis.url(), "long", config.clone())
        .await
        .unwrap();
    let text = writer.doc().get_or_insert_text("text");
    for i in 0..10_000 {
        let mut txn = writer.doc().transact_mut();
        text.push(&mut txn, &format!("{}", i % 10));
    }
    tokio::time::timeout(PATIENCE, writer.flushed())
        .await
        .unwrap();
    eventually("the watcher has all 10 000 updates", || {
        text_of(watcher.doc()).len() == 10_000
    })
    .await;
    eventually("the stream is trimmed below compact_min_entries", || {
        let len = redis.command(&["XLEN", "wiredb:long:stream"]);
        // `:N\r\n`
        len.trim_start_matches(':')
            .split("\r\n")
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n < 200)
    })
    .await;
    let fresh = AsyncRedisClient::connect(&redis.url(), "long", RedisConfig::default())
        .await
        .unwrap();
    let loaded = fresh.doc().get_or_insert_text("text");
    let whole = text.get_string(&writer.doc().transact());
    assert_eq!(loaded.get_string(&fresh.doc().transact()), whole);
    // And a fresh server serves a joining client the whole document.
    let later = server_on(&redis.url(), RedisConfig::default()).await;
    let joiner = client(&later, "long").await;
    assert_eq!(text_of(joiner.doc()), whole);
    joiner.close().await.unwrap();
    later.shutdown().await.unwrap();
    // The bound: the snapshot (the document, ~10 KB of text plus its ids) and fewer
    // than 200 entries of one character each.
    let memory = |key: &str| -> u64 {
        let reply = redis.command(&["MEMORY", "USAGE", key]);
        reply
            .trim_start_matches(':')
            .split("\r\n")
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let stream = memory("wiredb:long:stream");
    let snapshot = memory("wiredb:long:snapshot");
    assert!(stream < 64 * 1024, "stream uses {stream} bytes");
    assert!(snapshot < 64 * 1024, "snapshot uses {snapshot} bytes");
    fresh.close().await;
    writer.close().await;
    watcher.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn remote_presence_expires_when_its_server_stops_renewing_it() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path());
    let config = RedisConfig::default().awareness_timeout(Duration::from_millis(600));
    let server = server_on(&redis.url(), config).await;
    let viewer = client(&server, "room").await;
    // A backend job's presence, set once and never renewed (as if its process died).
    let job = AsyncRedisClient::connect(&redis.url(), "room", RedisConfig::default())
        .await
        .unwrap();
    lock_unpoisoned(job.awareness()).set_local_state_raw(r#"{"user":{"name":"bot"}}"#);
    eventually("the viewer sees the job", || has_presence(&viewer, "bot")).await;
    eventually("the job's presence expires", || {
        !has_presence(&viewer, "bot")
    })
    .await;
    job.close().await;
    viewer.close().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_urls_unreachable_redis_and_wrong_passwords_are_clear_errors() {
    let err = AsyncRedisServer::connect("not a url", RedisConfig::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err}");

    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let err =
        AsyncRedisServer::connect(&format!("redis://127.0.0.1:{port}"), RedisConfig::default())
            .await
            .unwrap_err();
    assert!(matches!(err, Error::Redis { .. }), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path());
    redis.command(&["CONFIG", "SET", "requirepass", "s3cret"]);
    let err = AsyncRedisServer::connect(&redis.url(), RedisConfig::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("NOAUTH") || err.to_string().to_lowercase().contains("auth"),
        "{err}"
    );
    let wrong = format!("redis://:wrong@127.0.0.1:{}", redis.port());
    let err = AsyncRedisServer::connect(&wrong, RedisConfig::default())
        .await
        .unwrap_err();
    assert!(
        !err.to_string().contains("wrong@"),
        "the password is shown: {err}"
    );
    let right = format!("redis://:s3cret@127.0.0.1:{}", redis.port());
    AsyncRedisServer::connect(&right, RedisConfig::default())
        .await
        .unwrap();
}
