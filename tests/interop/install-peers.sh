#!/usr/bin/env bash
# Installs the real Yjs peers that the wiredb interop tests drive as child processes:
#
#   tests/interop/.venv/             Python venv: wiredb, wire-websocket, wire-file 0.7.1
#                                    (pinned with their dependencies in requirements.txt)
#   tests/interop/.venv-pycrdt-ws/   Python venv: pycrdt-websocket 0.16.5 with httpx-ws and
#                                    Hypercorn (requirements-pycrdt-websocket.txt); its own
#                                    venv because it needs a newer pycrdt than wiredb 0.7.1
#   tests/interop/node_modules/      yjs, y-websocket 3.x (client), ws, and the reference
#                                    server y-websocket@1.5.4 aliased as `y-websocket-server`
#                                    (pinned by package.json + package-lock.json)
#   web/node_modules/                the demo page's build and browser test: yjs,
#                                    y-websocket, CodeMirror 6, y-codemirror.next, esbuild,
#                                    playwright-core (pinned by web/package.json and
#                                    web/package-lock.json); and Debian's chromium at
#                                    $CHROMIUM, apt-get installed when missing (needs root)
#   redis-server                     Debian's, apt-get installed when missing (needs root);
#                                    the wire-redis tests start their own on free ports
#
# Idempotent: each of the four writes a stamp (hash of its pins + interpreter version)
# when it has installed successfully, and is skipped while the stamp still matches. A
# mismatch (or a half-finished earlier run) reinstalls that one from scratch.
#
# Usage:
#   tests/interop/install-peers.sh            install what is missing or stale
#   tests/interop/install-peers.sh --check    exit 0 if all are installed and fresh, 1 if not
#   tests/interop/install-peers.sh --force    reinstall all
#
# Environment: PYTHON (default python3, >= 3.10), NODE (default node), NPM (default npm),
# CHROMIUM (default /usr/bin/chromium).
# Runs with CI=true and no stdin; needs only the package registries (and Debian's, for
# chromium).
set -euo pipefail
set -E  # the ERR trap below also fires inside functions and subshells

HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"
NODE="${NODE:-node}"
NPM="${NPM:-npm}"
VENV="$HERE/.venv"
VENV_STAMP="$VENV/.wiredb-interop-stamp"
PCWS_VENV="$HERE/.venv-pycrdt-ws"
PCWS_REQS="$HERE/requirements-pycrdt-websocket.txt"
PCWS_STAMP="$PCWS_VENV/.wiredb-interop-stamp"
NODE_STAMP="$HERE/node_modules/.wiredb-interop-stamp"
WEB="$(cd -- "$HERE/../.." && pwd)/web"
WEB_STAMP="$WEB/node_modules/.wiredb-web-stamp"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

mode=install
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  --force) mode=force ;;
  -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "install-peers.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
esac

log() { echo "install-peers: $*" >&2; }
die() { echo "install-peers: ERROR: $*" >&2; exit 1; }
trap 'echo "install-peers: FAILED at line $LINENO: $BASH_COMMAND" >&2' ERR

command -v "$PYTHON" >/dev/null 2>&1 || die "python not found: $PYTHON (set PYTHON=...)"
command -v "$NODE" >/dev/null 2>&1 || die "node not found: $NODE (set NODE=...)"
command -v "$NPM" >/dev/null 2>&1 || die "npm not found: $NPM (set NPM=...)"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
  || die "$PYTHON is $("$PYTHON" -V 2>&1); wiredb 0.7.1 needs Python >= 3.10"
[ -f "$HERE/requirements.txt" ] || die "missing $HERE/requirements.txt"
[ -f "$PCWS_REQS" ] || die "missing $PCWS_REQS"
[ -f "$HERE/package.json" ] || die "missing $HERE/package.json"
[ -f "$WEB/package.json" ] || die "missing $WEB/package.json"
[ -f "$WEB/package-lock.json" ] || die "missing $WEB/package-lock.json"

# Hash of the pins and of the interpreter that will run them.
py_version="$("$PYTHON" -c 'import sys; print(sys.version)')"
py_want="$({ cat "$HERE/requirements.txt"; echo "$py_version"; } | sha256sum | cut -d' ' -f1)"
pcws_want="$({ cat "$PCWS_REQS"; echo "$py_version"; } | sha256sum | cut -d' ' -f1)"
node_want="$({ cat "$HERE/package.json"; cat "$HERE/package-lock.json" 2>/dev/null || true; "$NODE" --version; } | sha256sum | cut -d' ' -f1)"
web_want="$({ cat "$WEB/package.json"; cat "$WEB/package-lock.json"; "$NODE" --version; } | sha256sum | cut -d' ' -f1)"

venv_fresh() { # VENV STAMP WANT
  [ -x "$1/bin/python" ] && [ -f "$2" ] && [ "$(cat "$2")" = "$3" ]
}
py_fresh() { venv_fresh "$VENV" "$VENV_STAMP" "$py_want"; }
pcws_fresh() { venv_fresh "$PCWS_VENV" "$PCWS_STAMP" "$pcws_want"; }
node_fresh() {
  [ -f "$NODE_STAMP" ] && [ "$(cat "$NODE_STAMP")" = "$node_want" ] \
    && [ -f "$HERE/node_modules/y-websocket-server/bin/server.js" ] \
    && [ -f "$HERE/node_modules/y-websocket/package.json" ]
}
web_fresh() {
  [ -f "$WEB_STAMP" ] && [ "$(cat "$WEB_STAMP")" = "$web_want" ] \
    && [ -f "$WEB/node_modules/esbuild/package.json" ] \
    && [ -f "$WEB/node_modules/playwright-core/package.json" ]
}
chromium_ok() { [ -x "$CHROMIUM" ]; }

if [ "$mode" = check ]; then
  ok=0
  py_fresh || { log "python venv missing or stale: $VENV"; ok=1; }
  pcws_fresh || { log "pycrdt-websocket venv missing or stale: $PCWS_VENV"; ok=1; }
  node_fresh || { log "node_modules missing or stale: $HERE/node_modules"; ok=1; }
  web_fresh || { log "web node_modules missing or stale: $WEB/node_modules"; ok=1; }
  chromium_ok || { log "chromium missing: $CHROMIUM (apt-get install -y chromium)"; ok=1; }
  command -v redis-server >/dev/null 2>&1 || { log "redis-server missing (apt-get install -y redis-server)"; ok=1; }
  [ $ok -eq 0 ] && log "peers installed and up to date"
  exit $ok
fi

# Serialise concurrent runs (e.g. several test binaries bootstrapping at once). The lock
# lives outside the repository so that nothing untracked appears in the work tree.
lock="${TMPDIR:-/tmp}/wiredb-interop-$(printf '%s' "$HERE" | sha256sum | cut -c1-16).lock"
exec 9>"$lock"
if command -v flock >/dev/null 2>&1; then
  flock -w 600 9 || die "timed out waiting for another install-peers.sh run (lock $lock)"
fi

export CI=true
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

# ---------------------------------------------------------------- Python
# install_venv VENV REQUIREMENTS STAMP WANT IMPORTS: a fresh venv with exactly the pins.
install_venv() {
  local venv="$1" reqs="$2" stamp="$3" want="$4" imports="$5"
  log "creating python venv at $venv with $("$PYTHON" -V 2>&1)"
  rm -f "$stamp"
  "$PYTHON" -m venv --clear "$venv" </dev/null
  "$venv/bin/python" -m pip install --quiet --no-input -r "$reqs" </dev/null
  "$venv/bin/python" -m pip check </dev/null >&2
  # Every pin must be what got installed: a silently different resolution is an error.
  "$venv/bin/python" - "$reqs" <<'PY'
import re, sys
from importlib.metadata import version, PackageNotFoundError
bad = []
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, want = re.split(r"==", line, maxsplit=1)
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have != want:
        bad.append(f"{name}: want {want}, have {have}")
if bad:
    sys.exit("install-peers: pinned versions not installed:\n  " + "\n  ".join(bad))
PY
  "$venv/bin/python" -c "import $imports" </dev/null
  echo "$want" > "$stamp"
  log "python venv ready ($venv)"
}

if [ "$mode" != force ] && py_fresh; then
  log "python venv up to date ($VENV)"
else
  install_venv "$VENV" "$HERE/requirements.txt" "$VENV_STAMP" "$py_want" \
    "wiredb, wire_websocket, wire_file, pycrdt, anyio"
fi

# pycrdt-websocket: a venv of its own (it needs pycrdt 0.14, wiredb 0.7.1 pins 0.12).
if [ "$mode" != force ] && pcws_fresh; then
  log "pycrdt-websocket venv up to date ($PCWS_VENV)"
else
  install_venv "$PCWS_VENV" "$PCWS_REQS" "$PCWS_STAMP" "$pcws_want" \
    "pycrdt, pycrdt.websocket, pycrdt.websocket.websocket, httpx_ws, hypercorn.asyncio"
fi

# ---------------------------------------------------------------- Node
if [ "$mode" != force ] && node_fresh; then
  log "node_modules up to date ($HERE/node_modules)"
else
  rm -f "$NODE_STAMP"
  # --ignore-scripts: nothing here needs an install script (the only one is leveldown's,
  # an optional dependency of the 1.5.4 server used only with YPERSISTENCE).
  if [ -f "$HERE/package-lock.json" ]; then
    log "npm ci (from package-lock.json)"
    (cd "$HERE" && "$NPM" ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null >&2)
  else
    log "npm install (no package-lock.json yet: creating it; commit it)"
    (cd "$HERE" && "$NPM" install --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null >&2)
    node_want="$({ cat "$HERE/package.json"; cat "$HERE/package-lock.json"; "$NODE" --version; } | sha256sum | cut -d' ' -f1)"
  fi
  (cd "$HERE" && "$NODE" -e '
    const Y = require("yjs");
    const { WebsocketProvider } = require("y-websocket");
    require("ws");
    if (typeof WebsocketProvider !== "function") throw new Error("y-websocket has no WebsocketProvider");
    const v = require("y-websocket-server/package.json").version;
    if (v !== "1.5.4") throw new Error("y-websocket-server is " + v + ", want 1.5.4");
  ' </dev/null)
  [ -f "$HERE/node_modules/y-websocket-server/bin/server.js" ] \
    || die "node_modules/y-websocket-server/bin/server.js missing after install"
  echo "$node_want" > "$NODE_STAMP"
  log "node_modules ready"
fi

# ---------------------------------------------------------------- web (demo page)
if [ "$mode" != force ] && web_fresh; then
  log "web node_modules up to date ($WEB/node_modules)"
else
  rm -f "$WEB_STAMP"
  # --ignore-scripts: esbuild's postinstall only checks its binary, which comes as the
  # optional package @esbuild/<platform>; playwright-core has no install script (and
  # never downloads a browser: the test drives $CHROMIUM).
  log "npm ci in $WEB"
  (cd "$WEB" && "$NPM" ci --ignore-scripts --no-audit --no-fund --loglevel=error </dev/null >&2)
  (cd "$WEB" && "$NODE" --input-type=module -e '
    const esbuild = await import("esbuild");
    await esbuild.transform("let a = 1");
    const { chromium } = await import("playwright-core");
    if (typeof chromium.launch !== "function") throw new Error("playwright-core has no chromium.launch");
  ' </dev/null)
  echo "$web_want" > "$WEB_STAMP"
  log "web node_modules ready"
fi

# apt_ensure NAME PACKAGE CHECK...: Debian's PACKAGE installed (as root) unless CHECK
# already succeeds.
apt_ensure() {
  local name="$1" package="$2"
  shift 2
  if "$@" >/dev/null 2>&1; then
    log "$name present"
    return
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    die "$name missing: run as root: apt-get install -y $package"
  fi
  log "installing $name (apt-get install -y --no-install-recommends $package)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "$package" </dev/null >&2; then
    log "apt-get install failed; apt-get update and again"
    apt-get update -q </dev/null >&2
    apt-get install -y -q --no-install-recommends "$package" </dev/null >&2
  fi
  "$@" >/dev/null 2>&1 || die "apt-get installed $package but $name is still missing"
  log "$name ready"
}

if [ "$CHROMIUM" != /usr/bin/chromium ] && ! chromium_ok; then
  die "CHROMIUM=$CHROMIUM does not exist"
fi
apt_ensure "chromium ($CHROMIUM)" chromium "$CHROMIUM" --version
# The wire-redis tests start their own redis-servers (free ports, temp dirs).
apt_ensure redis-server redis-server redis-server --version
# Debian's package starts a system Redis on 6379; the tests never use it.

log "peers ready: python=$VENV/bin/python pycrdt-websocket=$PCWS_VENV/bin/python node_modules=$HERE/node_modules web=$WEB/node_modules chromium=$CHROMIUM redis-server=$(command -v redis-server)"
