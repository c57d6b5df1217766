#!/usr/bin/env python3
"""A real pycrdt-websocket 0.16.5 client, driven from the command line, for the wiredb interop
tests: pycrdt's ``Provider`` on an httpx-ws socket wrapped in pycrdt-websocket's
``HttpxWebsocket`` channel, exactly as pycrdt-websocket's documentation and test suite connect.

Same CLI and output as ``js_client.js`` and ``py_client.py`` (run with ``--help``), minus
awareness: the pycrdt provider handles only sync messages (it ignores awareness and sends
none), so the awareness options are refused with exit code 2.

Run it with the venv of its own made by install-peers.sh (pycrdt-websocket needs pycrdt 0.14,
wiredb 0.7.1 pins 0.12)::

    tests/interop/.venv-pycrdt-ws/bin/python tests/interop/pycrdt_ws_client.py --url ws://127.0.0.1:PORT --room NAME ...

stdout: one JSON object per line, flushed; stderr: logs. Exit codes: 0 ok, 1 error,
2 bad usage, 3 overall timeout.

How it connects (read from pycrdt/_provider.py and pycrdt/websocket/websocket.py, 0.14.13 /
0.16.5): pycrdt-websocket 0.16 no longer has a ``WebsocketProvider`` of its own; the client is
``pycrdt.Provider(doc, channel)`` with ``channel = HttpxWebsocket(ws, room)`` around
``httpx_ws.aconnect_ws(f"http://HOST:PORT/{room}")`` (httpx wants an *http* scheme; the room is
the URL path, the channel's ``path`` is only used in logs). The provider sends SyncStep1 on
start, answers the server's SyncStep1 with SyncStep2, sets ``provider.synced`` when the
server's SyncStep2 arrives, and sends every doc update (remote ones included: it has no origin
filter) as a sync Update message. Leaving ``async with provider`` cleanly drains the queued
updates into the socket before it closes, so no linger is needed; a short one is kept anyway
so that the server has applied the last edit before our close frame arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any
from urllib.parse import urlsplit

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3
# The provider drains its queued updates on a clean exit; this short linger after the last
# edit only lets the server apply it before our close frame arrives.
LINGER_AFTER_EDIT = 0.1
NO_AWARENESS = "awareness is not supported by the pycrdt-websocket client (pycrdt's Provider has no awareness)"

_output_closed = False


def emit(obj: dict[str, Any]) -> None:
    """One JSON object per line on stdout. Nothing but errors after "final"/"timeout"."""
    global _output_closed
    if _output_closed and obj.get("event") != "error":
        return
    if obj.get("event") in ("final", "timeout"):
        _output_closed = True
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def log(*args: Any) -> None:
    print("[pycrdt_ws_client]", *args, file=sys.stderr, flush=True)


def hard_exit(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def json_of(value: Any) -> str:
    """JSON as JavaScript's JSON.stringify writes it (1.0 -> 1), for --wait-map comparisons."""

    def norm(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    return json.dumps(norm(value), separators=(",", ":"), ensure_ascii=False)


def value_matches(actual: Any, want: str, present: bool) -> bool:
    if not present:
        return False
    if isinstance(actual, str):
        return actual == want
    return json_of(actual) == want


def parse_kv(flag: str):
    def parse(v: str) -> tuple[str, str]:
        if "=" not in v:
            raise argparse.ArgumentTypeError(f"{flag}: expected K=V, got {v!r}")
        k, _, val = v.partition("=")
        return k, val

    return parse


def non_negative(v: str) -> float:
    try:
        f = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {v!r}")
    if f < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {v!r}")
    return f


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # exit 2 with one clear line
        print(f"pycrdt_ws_client: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = Parser(
        prog="pycrdt_ws_client.py",
        description="pycrdt-websocket 0.16.5 client (pycrdt Provider + httpx-ws) for interop tests "
        '(Y.Text "text", Y.Map "map").',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""stdout events:
  {"event":"synced","client_id":N}
  {"event":"change","text":...,"map":{...}}     (after remote document changes)
  {"event":"final","client_id":N,"text":...,"map":{...}}
  {"event":"error","message":...}   {"event":"timeout","pending":[...]}
--stdin commands (one JSON object per line; each answers one line):
  {"cmd":"insert","text":S[,"index":I]} -> {"event":"ok","cmd":"insert"}
  {"cmd":"delete","index":I,"length":N} -> ok
  {"cmd":"set","key":K,"value":V}       -> ok
  {"cmd":"dump"}                        -> {"event":"dump","text":...,"map":...}
  {"cmd":"wait","text":[..],"map":{K:V},"timeout":S} -> {"event":"waited",...} | {"event":"wait_timeout","pending":[..],...}
  {"cmd":"quit"} (or stdin EOF)         -> {"event":"final",...}
Awareness ({"cmd":"awareness"}, --awareness, --wait-awareness-*) is not supported by
pycrdt's Provider: refused with exit code 2 (or an error line in --stdin mode).""",
    )
    p.add_argument("--url", help="ws://HOST:PORT (or http://HOST:PORT) of the server")
    p.add_argument("--host", help="alternative to --url: host, e.g. 127.0.0.1")
    p.add_argument("--port", type=int, help="alternative to --url: port")
    p.add_argument("--room", required=True, help="room id (the URL path)")
    p.add_argument("--text", action="append", default=[], help="insert at end of text (repeatable)")
    p.add_argument("--map-key", action="append", default=[], help="with --map-value: map[K] = V")
    p.add_argument("--map-value", action="append", default=[])
    p.add_argument("--map", action="append", default=[], type=parse_kv("--map"), help="K=V (repeatable)")
    p.add_argument("--wait-text", action="append", default=[], help="wait until text contains it (repeatable)")
    p.add_argument("--wait-map", action="append", default=[], type=parse_kv("--wait-map"), help="wait until map[K] == V")
    p.add_argument("--hold", type=non_negative, default=0.0, help="stay connected SECONDS after the waits")
    p.add_argument("--timeout", type=non_negative, default=30.0, help="hard limit for the whole run (default 30)")
    p.add_argument("--stdin", action="store_true", help="read JSON commands from stdin")
    p.add_argument("--quiet", action="store_true", help='do not print "change" events')
    # Accepted so that a test gets a clear refusal rather than "unrecognized argument".
    p.add_argument("--awareness")
    p.add_argument("--wait-awareness-count")
    p.add_argument("--wait-awareness-gone", action="store_true")
    a = p.parse_args(argv)

    if a.awareness is not None or a.wait_awareness_count is not None or a.wait_awareness_gone:
        p.error(NO_AWARENESS)
    if len(a.map_key) != len(a.map_value):
        p.error("--map-key and --map-value must come in pairs")
    a.maps = list(zip(a.map_key, a.map_value)) + a.map
    if a.url:
        u = urlsplit(a.url)
        if u.scheme not in ("ws", "wss", "http", "https") or not u.hostname or not u.port:
            p.error(f"--url: expected ws://HOST:PORT, got {a.url!r}")
        if u.path not in ("", "/"):
            p.error(f"--url: give the room with --room, not in the URL path: {a.url!r}")
        scheme = {"ws": "http", "wss": "https"}.get(u.scheme, u.scheme)
        host = u.hostname if ":" not in u.hostname else f"[{u.hostname}]"
        a.http_host, a.http_port = f"{scheme}://{host}", u.port
    elif a.host and a.port:
        a.http_host = a.host if "://" in a.host else f"http://{a.host}"
        a.http_port = a.port
    else:
        p.error("give --url ws://HOST:PORT (or --host and --port)")
    return a


class Peer:
    def __init__(self, args: argparse.Namespace) -> None:
        from pycrdt import Doc, Map, Text

        self.args = args
        self.doc = Doc()
        self.text = self.doc.get("text", type=Text)
        self.map = self.doc.get("map", type=Map)
        self.synced = False
        self.last_edit = 0.0
        self._changed = asyncio.Event()
        self._last_snapshot: dict[str, Any] | None = None
        self.doc.observe(lambda _event: self._changed.set())

    # -- state -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self.doc.transaction():
            return {"text": str(self.text), "map": self.map.to_py() or {}}

    def pending(self, texts: list[str], maps: list[tuple[str, str]]) -> list[str]:
        out = [] if self.synced else ["synced"]
        with self.doc.transaction():
            text = str(self.text)
            for s in texts:
                if s not in text:
                    out.append(f"text contains {json.dumps(s)}")
            for k, v in maps:
                present = k in self.map
                actual = self.map[k] if present else None
                if not value_matches(actual, v, present):
                    out.append(f"map[{json.dumps(k)}] == {json.dumps(v)}")
        return out

    async def wait(self, texts: list[str], maps: list[tuple[str, str]], timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.pending(texts, maps):
            self._changed.clear()
            if not self.pending(texts, maps):
                break
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return False
        return True

    async def report_changes(self) -> None:
        """Emit a "change" line whenever the document differs from what we last saw."""
        while True:
            await self._changed.wait()
            await asyncio.sleep(0)  # let the change settle; waiters also clear the flag
            snap = self.snapshot()
            if snap != self._last_snapshot:
                self._last_snapshot = snap
                if not self.args.quiet:
                    emit({"event": "change", **snap})
            if self._changed.is_set():
                self._changed.clear()

    # -- edits -------------------------------------------------------------------------

    async def edit(self, fn) -> None:
        # The provider applies remote updates synchronously, so a plain transaction is enough;
        # its event stream then carries our update to the socket.
        with self.doc.transaction():
            fn()
        self.last_edit = time.monotonic()
        self._last_snapshot = self.snapshot()  # our own edits are not "change" events

    async def initial_edits(self) -> None:
        if not self.args.text and not self.args.maps:
            return

        def apply():
            for t in self.args.text:
                self.text.insert(len(self.text), t)
            for k, v in self.args.maps:
                self.map[k] = v

        await self.edit(apply)

    def final(self) -> dict[str, Any]:
        return {"event": "final", "client_id": self.doc.client_id, **self.snapshot()}

    # -- stdin -------------------------------------------------------------------------

    async def command(self, c: dict[str, Any]) -> dict[str, Any] | None:
        cmd = c.get("cmd")
        if cmd == "insert":
            s = str(c.get("text", ""))

            def apply():
                n = len(self.text)
                index = n if c.get("index") is None else int(c["index"])
                if not 0 <= index <= n:
                    raise ValueError(f"insert index {index} out of range 0..{n}")
                self.text.insert(index, s)

            await self.edit(apply)
            return {"event": "ok", "cmd": "insert"}
        if cmd == "delete":

            def apply():
                n = len(self.text)
                i, length = int(c["index"]), int(c["length"])
                if not (i >= 0 and length >= 0 and i + length <= n):
                    raise ValueError(f"delete {i}+{length} out of range 0..{n}")
                del self.text[i : i + length]

            await self.edit(apply)
            return {"event": "ok", "cmd": "delete"}
        if cmd == "set":
            if not isinstance(c.get("key"), str):
                raise ValueError('set needs a string "key"')

            def apply():
                self.map[c["key"]] = c.get("value")

            await self.edit(apply)
            return {"event": "ok", "cmd": "set"}
        if cmd == "awareness":
            raise ValueError(NO_AWARENESS)
        if cmd == "dump":
            return {"event": "dump", "client_id": self.doc.client_id, "synced": self.synced, **self.snapshot()}
        if cmd == "wait":
            texts = c.get("text") or []
            texts = [texts] if isinstance(texts, str) else [str(t) for t in texts]
            maps = [
                (k, v if isinstance(v, str) else json_of(v)) for k, v in (c.get("map") or {}).items()
            ]
            if c.get("awareness_count") is not None or c.get("awareness_gone"):
                raise ValueError(NO_AWARENESS)
            ok = await self.wait(texts, maps, float(c.get("timeout", 10)))
            if ok:
                return {"event": "waited", **self.snapshot()}
            return {"event": "wait_timeout", "pending": self.pending(texts, maps), **self.snapshot()}
        if cmd == "quit":
            return None
        raise ValueError(f"unknown cmd: {json.dumps(cmd)}")

    async def run_stdin(self) -> None:
        loop = asyncio.get_running_loop()
        lines: asyncio.Queue[str | None] = asyncio.Queue()

        def reader() -> None:  # a daemon thread: a blocking read never holds up exit
            try:
                for line in sys.stdin:
                    loop.call_soon_threadsafe(lines.put_nowait, line)
            finally:
                loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=reader, daemon=True, name="stdin").start()
        while True:
            line = await lines.get()
            if line is None:
                return
            if not line.strip():
                continue
            try:
                c = json.loads(line)
                if not isinstance(c, dict):
                    raise ValueError("a command is a JSON object")
            except ValueError as e:
                emit({"event": "error", "message": f"invalid JSON command: {e}", "line": line.rstrip("\n")})
                continue
            try:
                reply = await self.command(c)
            except Exception as e:  # a bad command is reported, the peer goes on
                log("command failed:", repr(e))
                emit({"event": "error", "message": str(e), "cmd": c.get("cmd")})
                continue
            if reply is None:
                return
            emit(reply)


def describe(exc: BaseException) -> str:
    """The innermost useful message of a (possibly grouped) exception."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


async def main(args: argparse.Namespace) -> int:
    from httpx_ws import aconnect_ws
    from pycrdt import Provider
    from pycrdt.websocket.websocket import HttpxWebsocket

    peer = Peer(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda s=sig: (log(f"signal {s.name}"), stop.set()))

    async def body() -> None:
        url = f"{args.http_host}:{args.http_port}/{args.room}"
        log(f"connecting to {url}")
        final = None
        async with aconnect_ws(url) as ws:
            async with Provider(peer.doc, HttpxWebsocket(ws, args.room)) as provider:
                await provider.synced.wait()  # the server's SyncStep2 was applied
                peer.synced = True
                emit({"event": "synced", "client_id": peer.doc.client_id})
                log("synced, client id", peer.doc.client_id)
                peer._last_snapshot = peer.snapshot()
                reporter = asyncio.ensure_future(peer.report_changes())
                try:
                    await peer.initial_edits()
                    if args.stdin:
                        await peer.run_stdin()
                    else:
                        await peer.wait(args.wait_text, args.maps_wait, None)
                        if args.hold:
                            await asyncio.sleep(args.hold)
                    linger = peer.last_edit + LINGER_AFTER_EDIT - time.monotonic()
                    if linger > 0:
                        await asyncio.sleep(linger)
                    final = peer.final()
                finally:
                    reporter.cancel()
            # Leaving the provider cleanly has sent every queued update; leaving aconnect_ws
            # closes the socket (close frame 1000).
        emit(final)

    args.maps_wait = args.wait_map
    task = asyncio.ensure_future(body())
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, timeout=args.timeout, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        stopper.cancel()
        exc = task.exception()
        if exc is not None:
            msg = describe(exc)
            log("error:", msg)
            if os.environ.get("PY_CLIENT_TRACEBACK"):
                traceback.print_exception(exc)
            emit({"event": "error", "message": msg})
            return EXIT_ERROR
        return EXIT_OK
    if stopper in done:  # SIGTERM/SIGINT: report what we have and leave cleanly
        final = peer.final()
        task.cancel()
        await asyncio.wait({task}, timeout=2)
        emit(final)
        return EXIT_OK
    # overall timeout
    pending = peer.pending(args.wait_text, args.maps_wait)
    log(f"timeout after {args.timeout}s; pending: {pending}; synced={peer.synced}")
    emit({"event": "timeout", "seconds": args.timeout, "synced": peer.synced, "pending": pending, **peer.snapshot()})
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    return EXIT_TIMEOUT


if __name__ == "__main__":
    args = parse_args(sys.argv[1:])
    # Backstop: whatever happens in the async world, the process is gone a little after
    # --timeout.
    backstop = threading.Timer(args.timeout + 5, lambda: (log("backstop timeout: forcing exit"), hard_exit(EXIT_TIMEOUT)))
    backstop.daemon = True
    backstop.start()
    try:
        code = asyncio.run(main(args))
    except BaseException as e:  # noqa: BLE001 - report anything, then leave
        log("fatal:", describe(e))
        emit({"event": "error", "message": describe(e)})
        code = EXIT_ERROR
    hard_exit(code)
