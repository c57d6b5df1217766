#!/usr/bin/env bash
# Runs every check and test of the workspace: the one command a newcomer and CI use.
# It builds once (one cargo profile for clippy and tests) and installs nothing
# outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
# The interop tests drive real peers (Python wiredb, y-websocket under Node), and the
# browser test Chromium with web/'s npm packages: install them first (idempotent,
# ~0.2 s when already there).
tests/interop/install-peers.sh
cargo fmt --all --check
# The demo page compiled into the binary must be what web/src builds.
node web/build.mjs --check
scripts/check-structure.sh
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# Every doc link resolves (a renamed item must not leave a dead link behind).
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
# A bounded coverage-guided fuzzing run of every fuzz target from its checked-in
# corpus (a minute in all): a crash found once stays found.
scripts/fuzz.sh
