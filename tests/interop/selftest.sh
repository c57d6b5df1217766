#!/usr/bin/env bash
# Checks the interop peers against each other (no Rust involved): every peer script against a
# real peer. Run after install-peers.sh:
#
#   tests/interop/selftest.sh          # ~18 s; prints one line per check, then "N passed, N failed"
#
# Only 127.0.0.1, ports picked by the OS; every process is bounded by a timeout and killed on
# exit. Exit 0 iff every check passed. Each check's output is kept in $WORK (printed at the end
# on failure).
set -euo pipefail

HERE="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
PY="$HERE/.venv/bin/python"
PCWS_PY="$HERE/.venv-pycrdt-ws/bin/python"
NODE="${NODE:-node}"
[ -x "$PY" ] && [ -x "$PCWS_PY" ] && [ -d "$HERE/node_modules" ] || { echo "selftest: run $HERE/install-peers.sh first" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/wiredb-interop-selftest.XXXXXX")"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   - $1"; }
bad() { failed=$((failed + 1)); echo "FAIL - $1"; }

# last JSON line of FILE whose "event" is EVENT, then a python expression over it (`e`)
check_json() { # FILE EVENT EXPR
  "$PY" - "$1" "$2" "$3" <<'PY'
import json, sys
path, event, expr = sys.argv[1:]
lines = [json.loads(l) for l in open(path) if l.strip()]
events = [l for l in lines if l.get("event") == event]
if not events:
    sys.exit(f"no {event!r} event in {path}")
e = events[-1]
if not eval(expr, {"e": e, "lines": lines}):
    sys.exit(f"{path}: {expr} is false for {json.dumps(e)}")
PY
}

# start a server script in the background, wait for its {"event":"listening","port":N},
# set $port (not a command substitution: the server must be a child of this shell)
start_server() { # NAME CMD...
  local name="$1"; shift
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null &
  pids+=($!)
  local i
  for i in $(seq 100); do
    if grep -q '"listening"' "$WORK/$name.out" 2>/dev/null; then
      port=$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["port"])' "$WORK/$name.out")
      return 0
    fi
    sleep 0.05
  done
  echo "selftest: $name did not start" >&2
  cat "$WORK/$name.err" >&2
  return 1
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

JS="$NODE $HERE/js_client.js"

# check N: js_client and CLIENT (a command line) in ROOM of URL each write a two-letter tag
# ("js", TAG) and wait for the other's; CLIENT also sets m=1. Outputs in $WORK/N{j,p}.{out,err}.
converge_with_js_client() { # N URL ROOM TAG CLIENT...
  local n="$1" url="$2" room="$3" tag="$4"; shift 4
  $JS --url "$url" --room "$room" --text js --wait-text "$tag" --hold 0.5 --timeout 15 >"$WORK/${n}j.out" 2>"$WORK/${n}j.err" &
  local j=$!
  "$@" --url "$url" --room "$room" --text "$tag" --map m=1 --wait-text js --timeout 15 >"$WORK/${n}p.out" 2>"$WORK/${n}p.err" && wait $j \
    && check_json "$WORK/${n}j.out" final 'sorted([e["text"][:2], e["text"][2:]])==["js","'"$tag"'"] and e["map"]=={"m":"1"}'
}
PYC="$PY $HERE/py_client.py"
PYF="$PY $HERE/py_file.py"
PCWS="$PCWS_PY $HERE/pycrdt_ws_client.py"

# ------------------------------------------------------------ 1. reference server, run as-is
port=$(free_port)
PORT=$port HOST=127.0.0.1 $NODE "$HERE/node_modules/y-websocket-server/bin/server.js" >"$WORK/ref.out" 2>&1 </dev/null &
pids+=($!)
for _ in $(seq 100); do grep -q running "$WORK/ref.out" 2>/dev/null && break; sleep 0.05; done
U=ws://127.0.0.1:$port
REF=$U
$JS --url $U --room r --text hello --map a=1 --awareness '{"user":"A"}' --wait-text world --wait-awareness-count 2 --hold 0.5 --timeout 15 >"$WORK/1a.out" 2>"$WORK/1a.err" &
a=$!
if $JS --url $U --room r --text world --map b=2 --awareness '{"user":"B"}' --wait-text hello --wait-map a=1 --wait-awareness-gone --timeout 15 >"$WORK/1b.out" 2>"$WORK/1b.err" && wait $a \
  && check_json "$WORK/1a.out" final 'e["text"] in ("helloworld","worldhello") and e["map"]=={"a":"1","b":"2"}' \
  && check_json "$WORK/1b.out" final 'e["text"] in ("helloworld","worldhello") and e["map"]=={"a":"1","b":"2"}' \
  && check_json "$WORK/1b.out" awareness 'any(l.get("event")=="awareness" and {"user":"A"} in l["states"].values() for l in lines)' \
  && check_json "$WORK/1b.out" awareness '{"user":"A"} not in e["states"].values() and e["removed"]'; then
  ok "js_client x2 <-> y-websocket 1.5.4 bin/server.js: converge; A's awareness seen by B, then gone"
else bad "js_client x2 <-> y-websocket 1.5.4 bin/server.js (see $WORK/1*)"; fi

# ------------------------------------------------------------ 2. js_server.js, a client killed -9
start_server js_server $NODE "$HERE/js_server.js" --port 0 --timeout 60
U=ws://127.0.0.1:$port
$JS --url $U --room k --awareness '{"user":"C"}' --wait-text fromD --wait-awareness-gone --timeout 15 >"$WORK/2c.out" 2>"$WORK/2c.err" &
c=$!
$JS --url $U --room k --awareness '{"user":"D"}' --text fromD --hold 30 --timeout 40 >"$WORK/2d.out" 2>"$WORK/2d.err" &
d=$!
for _ in $(seq 100); do grep -q fromD "$WORK/2c.out" 2>/dev/null && break; sleep 0.05; done
sleep 0.3
kill -9 $d 2>/dev/null || true
{ wait $d; } 2>/dev/null || true
if wait $c && check_json "$WORK/2c.out" final 'e["text"]=="fromD"' \
  && check_json "$WORK/2c.out" awareness '{"user":"D"} not in e["states"].values()'; then
  ok "js_server.js (port 0): D's awareness removed after D is killed -9"
else bad "js_server.js kill -9 (see $WORK/2*)"; fi

# ------------------------------------------------------------ 3. py_client against the reference server
if converge_with_js_client 3 "$U" p py $PYC; then
  ok "py_client <-> y-websocket 1.5.4 (via js_server.js) <-> js_client: converge"
else bad "py_client <-> reference server (see $WORK/3*)"; fi

# ------------------------------------------------------------ 4. py_client x2 against py_server
start_server py_server "$PY" "$HERE/py_server.py" --port 0 --timeout 60
U=ws://127.0.0.1:$port
$PYC --url $U --room r --text hello --map a=1 --wait-text world --wait-map b=2 --hold 0.5 --timeout 15 >"$WORK/4a.out" 2>"$WORK/4a.err" &
a=$!
if $PYC --url $U --room r --text world --map b=2 --wait-text hello --wait-map a=1 --hold 0.5 --timeout 15 >"$WORK/4b.out" 2>"$WORK/4b.err" && wait $a \
  && check_json "$WORK/4a.out" final 'e["text"] in ("helloworld","worldhello") and e["map"]=={"a":"1","b":"2"}' \
  && check_json "$WORK/4b.out" final 'e["text"] in ("helloworld","worldhello") and e["map"]=={"a":"1","b":"2"}'; then
  ok "py_client x2 <-> py_server (port 0): converge"
else bad "py_client x2 <-> py_server (see $WORK/4*)"; fi

# ------------------------------------------------------------ 5. js_client + py_client against py_server
$JS --url $U --room m --text js --map j=1 --awareness '{"u":1}' --wait-text py --wait-map p=2 --hold 0.5 --timeout 15 >"$WORK/5j.out" 2>"$WORK/5j.err" &
j=$!
if $PYC --url $U --room m --text py --map p=2 --wait-text js --wait-map j=1 --hold 0.5 --timeout 15 >"$WORK/5p.out" 2>"$WORK/5p.err" && wait $j \
  && check_json "$WORK/5j.out" final 'sorted([e["text"][:2], e["text"][2:]])==["js","py"] and e["map"]=={"j":"1","p":"2"}' \
  && check_json "$WORK/5p.out" final 'sorted([e["text"][:2], e["text"][2:]])==["js","py"] and e["map"]=={"j":"1","p":"2"}'; then
  ok "js_client <-> py_server <-> py_client: converge"
else bad "js_client <-> py_server (see $WORK/5*)"; fi

# ------------------------------------------------------------ 6. py_server drops a room when its last client leaves
$JS --url $U --room gone --text x --timeout 10 >"$WORK/6a.out" 2>"$WORK/6a.err" || true
sleep 0.2
if $JS --url $U --room gone --hold 0.3 --timeout 10 >"$WORK/6b.out" 2>"$WORK/6b.err" \
  && check_json "$WORK/6b.out" final 'e["text"]==""'; then
  ok "py_server without --dir: the next client after the last one left gets an empty room"
else bad "py_server room reset (see $WORK/6*)"; fi

# ------------------------------------------------------------ 7. py_server --dir persists rooms with wire_file
start_server py_server_dir "$PY" "$HERE/py_server.py" --port 0 --dir "$WORK/store" --timeout 60
U=ws://127.0.0.1:$port
if $JS --url $U --room doc1 --text persisted --map k=v --timeout 10 >"$WORK/7a.out" 2>"$WORK/7a.err" \
  && sleep 0.2 && $PYC --url $U --room doc1 --text " again" --timeout 10 >"$WORK/7b.out" 2>"$WORK/7b.err" \
  && sleep 0.2 && $JS --url $U --room doc1 --hold 0.2 --timeout 10 >"$WORK/7c.out" 2>"$WORK/7c.err" \
  && check_json "$WORK/7c.out" final 'e["text"]=="persisted again" and e["map"]=={"k":"v"}' \
  && $PYF read "$WORK/store/doc1_updates.y" >"$WORK/7d.out" 2>"$WORK/7d.err" \
  && check_json "$WORK/7d.out" read 'e["text"]=="persisted again" and e["records"]==2'; then
  ok "py_server --dir: room reloaded from DIR/doc1_updates.y after reset; py_file reads it"
else bad "py_server --dir (see $WORK/7*)"; fi

# ------------------------------------------------------------ 8. py_file sessions, byte format, squash
F="$WORK/f.y"
if $PYF write "$F" --text hello --map a=1 >"$WORK/8a.out" 2>&1 \
  && $PYF write "$F" --text " world" --map b=2 >"$WORK/8b.out" 2>&1 \
  && $PYF write "$F" --text "!" >"$WORK/8c.out" 2>&1 \
  && $PYF read "$F" >"$WORK/8d.out" 2>&1 \
  && check_json "$WORK/8d.out" read 'e["text"]=="hello world!" and e["map"]=={"a":"1","b":"2"} and e["records"]==3 and e["version"]=="0.0.1"' \
  && [ "$(head -c 6 "$F" | od -An -tx1 | tr -d ' \n')" = "302e302e3100" ] \
  && $PYF read "$F" --squash >"$WORK/8e.out" 2>&1 \
  && check_json "$WORK/8e.out" read 'e["text"]=="hello world!" and e["records"]==1' \
  && $PYF write "$F" --squash --text "?" >"$WORK/8f.out" 2>&1 \
  && check_json "$WORK/8f.out" written 'e["text"]=="hello world!?" and e["records"]==1' \
  && $PYF write "$F" --text "." >"$WORK/8g.out" 2>&1 \
  && check_json "$WORK/8g.out" written 'e["text"]=="hello world!?." and e["records"]==2'; then
  ok "py_file: 3 sessions append 3 records after a \"0.0.1\\0\" header; squash leaves 1 record"
else bad "py_file (see $WORK/8*)"; fi

# ------------------------------------------------------------ 9. js_client --stdin
port=$(grep -o '"port":[0-9]*' "$WORK/js_server.out" | head -1 | cut -d: -f2)
U=ws://127.0.0.1:$port
$JS --url $U --room s --text other --hold 3 --timeout 10 >"$WORK/9o.out" 2>"$WORK/9o.err" &
o=$!
if printf '%s\n' '{"cmd":"wait","text":["other"],"timeout":5}' '{"cmd":"insert","text":"X","index":0}' \
    '{"cmd":"set","key":"k","value":[1,2]}' '{"cmd":"dump"}' '{"cmd":"quit"}' \
    | $JS --url $U --room s --stdin --timeout 10 >"$WORK/9s.out" 2>"$WORK/9s.err" \
  && check_json "$WORK/9s.out" waited 'e["text"]=="other"' \
  && check_json "$WORK/9s.out" dump 'e["text"]=="Xother" and e["map"]=={"k":[1,2]}' \
  && check_json "$WORK/9s.out" final 'lines[-1]["event"]=="final"'; then
  ok "js_client --stdin: wait / insert / set / dump / quit"
else bad "js_client --stdin (see $WORK/9*)"; fi
wait $o 2>/dev/null || true

# ------------------------------------------------------------ 10. pycrdt-websocket server: two pycrdt clients and a js client
start_server pycrdt_ws_server "$PCWS_PY" "$HERE/pycrdt_ws_server.py" --port 0 --timeout 60
U=ws://127.0.0.1:$port
$JS --url $U --room r --text js --awareness '{"user":"E"}' --wait-text p1 --wait-text p2 --wait-awareness-count 2 --hold 1 --timeout 15 >"$WORK/10e.out" 2>"$WORK/10e.err" &
e=$!
for _ in $(seq 100); do grep -q synced "$WORK/10e.out" 2>/dev/null && break; sleep 0.05; done
$JS --url $U --room r --awareness '{"user":"F"}' --wait-text p1 --wait-text p2 --hold 0.5 --timeout 15 >"$WORK/10f.out" 2>"$WORK/10f.err" &
f=$!
$PCWS --url $U --room r --text p1 --map a=1 --wait-text js --wait-text p2 --hold 0.5 --timeout 15 >"$WORK/10a.out" 2>"$WORK/10a.err" &
a=$!
if $PCWS --url $U --room r --text p2 --map b=2 --wait-text js --wait-text p1 --hold 0.5 --timeout 15 >"$WORK/10b.out" 2>"$WORK/10b.err" \
  && wait $a && wait $e && wait $f \
  && check_json "$WORK/10a.out" final 'sorted(e["text"][i:i+2] for i in (0,2,4))==["js","p1","p2"] and e["map"]=={"a":"1","b":"2"}' \
  && check_json "$WORK/10b.out" final 'sorted(e["text"][i:i+2] for i in (0,2,4))==["js","p1","p2"] and e["map"]=={"a":"1","b":"2"}' \
  && check_json "$WORK/10e.out" final 'e["map"]=={"a":"1","b":"2"} and any(l.get("event")=="awareness" and {"user":"F"} in l["states"].values() for l in lines)' \
  && check_json "$WORK/10f.out" final 'e["map"]=={"a":"1","b":"2"} and not any(l.get("event")=="awareness" and {"user":"E"} in l["states"].values() for l in lines)' \
  && grep -q '"room-opened","room":"/r"' "$WORK/pycrdt_ws_server.out"; then
  ok "pycrdt_ws_client x2 + js_client x2 <-> pycrdt_ws_server: converge; room \"/r\"; a newcomer is not sent known awareness"
else bad "pycrdt_ws_server (see $WORK/10*)"; fi

# ------------------------------------------------------------ 11. pycrdt_ws_server drops a room when its last client leaves
$PCWS --url $U --room gone --text x --timeout 10 >"$WORK/11a.out" 2>"$WORK/11a.err" || true
sleep 0.2
if $PCWS --url $U --room gone --hold 0.3 --timeout 10 >"$WORK/11b.out" 2>"$WORK/11b.err" \
  && check_json "$WORK/11b.out" final 'e["text"]==""' \
  && grep -q '"room-closed","room":"/gone"' "$WORK/pycrdt_ws_server.out"; then
  ok "pycrdt_ws_server: the next client after the last one left gets an empty room"
else bad "pycrdt_ws_server room reset (see $WORK/11*)"; fi

# ------------------------------------------------------------ 12. pycrdt_ws_client against the reference server
if converge_with_js_client 12 "$REF" pc pc $PCWS; then
  ok "pycrdt_ws_client <-> y-websocket 1.5.4 bin/server.js <-> js_client: converge"
else bad "pycrdt_ws_client <-> reference server (see $WORK/12*)"; fi

echo "$passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
  echo "selftest: outputs kept in $WORK" >&2
  exit 1
fi
rm -rf "$WORK"
