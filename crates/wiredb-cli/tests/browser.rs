//! The demo page of `wiredb serve` in a real browser: `web/tests/demo.e2e.mjs` drives
//! headless Chromium (Debian's `/usr/bin/chromium`, through `playwright-core`) against
//! this build's `wiredb` binary: two pages converge on typed text, see each other's
//! presence and lose it, one works offline and merges, the server restarts and the
//! text is still there. Screenshots go to `web/test-artifacts/`.
//!
//! Chromium and `web/node_modules` come from `tests/interop/install-peers.sh`; a
//! missing one fails the test with that command, never skips it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole scenario's bound: each step has its own inside the script (30 s; the
/// browser's cold start 120 s).
const SCENARIO_LIMIT: Duration = Duration::from_secs(240);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn require(path: &Path, what: &str) {
    assert!(
        path.exists(),
        "{what} missing: {} does not exist; run tests/interop/install-peers.sh \
         (scripts/test.sh does it before the tests)",
        path.display()
    );
}

#[tokio::test]
async fn two_pages_in_chromium_share_a_room_and_survive_a_restart() {
    let root = repo_root();
    let web = root.join("web");
    require(
        &web.join("node_modules/playwright-core/package.json"),
        "playwright-core",
    );
    let chromium =
        std::env::var_os("CHROMIUM").map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from);
    require(&chromium, "Chromium");
    let node = std::env::var_os("NODE").unwrap_or_else(|| "node".into());
    let artifacts = web.join("test-artifacts");
    // Last run's screenshots would make the check below pass on their own.
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let run = tokio::process::Command::new(node)
        .arg(web.join("tests/demo.e2e.mjs"))
        .env("WIREDB_BIN", env!("CARGO_BIN_EXE_wiredb"))
        .env("ARTIFACT_DIR", &artifacts)
        .env("CHROMIUM", &chromium)
        .env_remove("RUST_LOG")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(SCENARIO_LIMIT, run)
        .await
        .expect("the browser scenario did not finish in time")
        .expect("cannot run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser scenario failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    let shots: Vec<_> = std::fs::read_dir(&artifacts)
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "png"))
        .collect();
    assert!(
        !shots.is_empty(),
        "no screenshot in {}",
        artifacts.display()
    );
}
