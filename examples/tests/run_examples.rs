//! Every example runs to completion: they are the README's quick start, so they must
//! not only compile. `cargo test` builds them next to this test's binary.
#![allow(clippy::expect_used)] // a test: a failure should panic

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const EXAMPLES: [&str; 6] = [
    "quickstart",
    "persist",
    "file_server",
    "embed_in_axum",
    "upstream",
    "custom_wire",
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
fn every_example_runs_and_exits_zero() {
    for name in EXAMPLES {
        let binary = example_binary(name);
        assert!(binary.exists(), "{} was not built", binary.display());
        let started = Instant::now();
        let mut child = Command::new(&binary).spawn().expect("start example");
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
        assert!(status.success(), "example {name} failed: {status}");
    }
}
