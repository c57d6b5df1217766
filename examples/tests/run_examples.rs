//! Every example runs to completion and prints what it exists to show: they are the
//! README's quick start, so they must not only compile, and an example that exits 0
//! with the wrong result (an empty room after a restart) must fail here. `cargo test`
//! builds them next to this test's binary.
#![allow(clippy::expect_used)] // a test: a failure should panic

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Each example and the lines its output must contain, in order.
const EXAMPLES: [(&str, &[&str]); 7] = [
    (
        "operations",
        &[
            "the read-only viewer reads: signed in",
            "without a token: HTTP 401: a token is required",
            r#"GET /healthz: {"status":"ok","rooms":1,"connections":2}"#,
            r#"GET /metrics: wiredb_connections{access="#,
        ],
    ),
    (
        "quickstart",
        &["server listening on ws://", "Bob reads: Hello from Alice"],
    ),
    (
        "persist",
        &["notes_updates.y holds: typed by Bob, kept by Alice"],
    ),
    (
        "file_server",
        &[
            r#"files: ["plans_updates.y"]"#,
            "after a restart the room holds: survives restarts",
        ],
    ),
    (
        "embed_in_axum",
        &[
            "without an API key: ",
            "HTTP 401: missing x-api-key",
            "the viewer reads: written by the editor",
            "the room still reads: written by the editor",
            r#"the app's own route serves room Some("docs/plan")"#,
            "stopped with 0 rooms open",
        ],
    ),
    ("upstream", &["client of edge B reads: typed at edge A"]),
    (
        "custom_wire",
        &[
            "rogue peer dropped; its stream ended",
            "Bob reads: Hello over TCP",
            "server stopped; providers Closed / Closed",
        ],
    ),
];

fn example_binary(name: &str) -> PathBuf {
    // target/debug/deps/run_examples-HASH -> target/debug/examples/NAME
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile> directory");
    profile_dir.join("examples").join(name)
}

#[test]
fn every_example_runs_exits_zero_and_prints_its_result() {
    for (name, expected) in EXAMPLES {
        let binary = example_binary(name);
        assert!(binary.exists(), "{} was not built", binary.display());
        let started = Instant::now();
        let mut child = Command::new(&binary)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start example");
        // Read on a thread: a full pipe would otherwise block the example.
        let mut stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            out
        });
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for example") {
                break status;
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("example {name} did not finish within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = reader.join().expect("stdout reader");
        assert!(status.success(), "example {name} failed: {status}\n{out}");
        let mut rest = out.as_str();
        for line in expected {
            let at = rest.find(line).unwrap_or_else(|| {
                panic!("example {name} did not print {line:?} (in order):\n{out}")
            });
            rest = &rest[at + line.len()..];
        }
    }
}
