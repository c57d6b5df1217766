#!/usr/bin/env bash
# Structural rules a compiler does not enforce, each a cheap check (no full build):
# - the protocol layer is sans-IO: wiredb-protocol never depends on tokio;
# - a client-only user of wire-websocket compiles no axum or hyper, and the crate
#   builds with either feature alone;
# - every publishable crate packages for crates.io.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "check-structure: $*" >&2; exit 1; }

if cargo tree -p wiredb-protocol -e normal --prefix none | grep -E '^tokio( |-)' ; then
    fail "wiredb-protocol (the sans-IO layer) must not depend on tokio"
fi
if cargo tree -p wire-websocket --no-default-features --features client -e normal --prefix none \
    | grep -E '^(axum|hyper)( |-)'; then
    fail "wire-websocket with only the client feature must not pull in axum or hyper"
fi
for features in client server; do
    cargo check --quiet -p wire-websocket --no-default-features --features "$features" \
        || fail "wire-websocket does not build with only the $features feature"
done
# --no-verify: the workspace build and tests below compile the same sources.
cargo package --quiet --workspace --exclude wiredb-tests --exclude wiredb-examples \
    --no-verify --allow-dirty \
    || fail "cargo package failed"
echo "check-structure: sans-IO protocol, client-only features, packaging: ok"
