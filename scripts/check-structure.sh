#!/usr/bin/env bash
# Structural rules a compiler does not enforce, each a cheap check (no full build):
# - the protocol layer is sans-IO: wiredb-protocol never depends on tokio;
# - a client-only user of wire-websocket compiles no axum or hyper, and the crate
#   builds with each feature set a user may pick (TLS and metrics included);
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
for features in client server "client,tls" "server,tls" prometheus; do
    # Warnings too: code that only some feature set uses must be gated to it.
    out="$(cargo check --quiet -p wire-websocket --no-default-features --features "$features" 2>&1)" \
        || { echo "$out" >&2; fail "wire-websocket does not build with only the $features feature(s)"; }
    if grep -q '^warning' <<<"$out"; then
        echo "$out" >&2
        fail "wire-websocket warns with only the $features feature(s)"
    fi
done
# --no-verify: the workspace build and tests below compile the same sources.
cargo package --quiet --workspace --exclude wiredb-tests --exclude wiredb-examples \
    --no-verify --allow-dirty \
    || fail "cargo package failed"
echo "check-structure: sans-IO protocol, client-only features, packaging: ok"
