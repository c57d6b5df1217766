"""What the Python interop peers share: JSON-lines output, logs, exit codes, timeouts and
backstops, command-line helpers, the stop rules of the servers, and the whole client side but
its transport (CLI, document helpers, ``--stdin`` commands, the run with its overall timeout).

Imported by ``py_client.py``, ``py_server.py`` and ``py_file.py`` (run from ``.venv``: Python
wiredb 0.7.1, pycrdt 0.12) and by ``pycrdt_ws_client.py`` and ``pycrdt_ws_server.py`` (run from
``.venv-pycrdt-ws``: pycrdt-websocket 0.16.5, pycrdt 0.14). Hence:

- at import time it needs nothing but the standard library;
- pycrdt is imported only where a document is touched, and only with APIs that pycrdt 0.12 and
  0.14 both have and treat alike (``Doc``, ``Doc.get(..., type=)``, ``Doc.observe``,
  ``Doc.transaction()``, ``Doc.client_id``, ``Text`` str/len/insert/del-slice, ``Map``
  get/set/``in``/``to_py``). How an edit is committed differs between the two clients (Python
  wiredb wants ``new_transaction()``), so each client script supplies it
  (:meth:`Peer.apply_edit`), together with how it connects.

The scripts are run as ``python /abs/path/tests/interop/SCRIPT.py``, so this folder is
``sys.path[0]`` and ``import _peer_common`` works whatever the cwd.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import stat
import sys
import threading
import time
import traceback
from typing import Any, Awaitable, Callable, NoReturn
from urllib.parse import urlsplit

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3

# -- output --------------------------------------------------------------------------------

_name = "peer"
_ensure_ascii = False
_last_events: tuple[str, ...] = ()
_output_closed = False


def setup(name: str, *, ensure_ascii: bool = False, last_events: tuple[str, ...] = ()) -> None:
    """Names the script in its logs and usage errors (``[NAME] ...``, ``NAME: ...``).

    ``ensure_ascii``: JSON lines escape non-ASCII characters (as the servers print them).
    ``last_events``: once a line with one of these events was printed, only ``error`` lines
    follow (the clients' ``final``/``timeout``)."""
    global _name, _ensure_ascii, _last_events
    _name, _ensure_ascii, _last_events = name, ensure_ascii, last_events


def emit(obj: dict[str, Any]) -> None:
    """One JSON object per line on stdout, flushed."""
    global _output_closed
    if _output_closed and obj.get("event") != "error":
        return
    if obj.get("event") in _last_events:
        _output_closed = True
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), ensure_ascii=_ensure_ascii) + "\n")
    sys.stdout.flush()


def log(*args: Any) -> None:
    print(f"[{_name}]", *args, file=sys.stderr, flush=True)


def hard_exit(code: int) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def describe(exc: BaseException) -> str:
    """The innermost useful message of a (possibly grouped) exception."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def fail(exc: BaseException, label: str = "error:") -> NoReturn:
    """Reports `exc` (stderr and an ``error`` line) and exits 1."""
    msg = describe(exc)
    log(label, msg)
    emit({"event": "error", "message": msg})
    hard_exit(EXIT_ERROR)


def backstop(seconds: float, code: int, message: str, event: dict[str, Any] | None = None) -> threading.Timer:
    """A daemon timer: `seconds` from now, whatever the async world is doing, log `message`,
    print `event` (if any) and exit with `code`."""

    def fire() -> None:
        log(message)
        if event is not None:
            emit(event)
        hard_exit(code)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


# -- command line --------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # exit 2 with one clear line
        print(f"{_name}: {message} (see --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def parse_kv(flag: str | None = None):
    """An argparse type for K=V; `flag` prefixes the error message."""
    prefix = f"{flag}: " if flag else ""

    def parse(v: str) -> tuple[str, str]:
        if "=" not in v:
            raise argparse.ArgumentTypeError(f"{prefix}expected K=V, got {v!r}")
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


# -- servers -------------------------------------------------------------------------------


def parse_server_args(prog: str, description: str, add_arguments: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """--host, --port (0 = pick a free one), the server's own options, --timeout."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port (default)")
    if add_arguments is not None:
        add_arguments(p)
    p.add_argument("--timeout", type=float, default=30.0, help="stop after SECONDS (default 30, 0 = never)")
    args = p.parse_args()
    if not 0 <= args.port <= 65535 or args.timeout < 0:
        p.error("bad --port or --timeout")
    return args


def listen_socket(host: str, port: int) -> tuple[socket.socket, int]:
    """A listening, inheritable socket on (host, port) and the port it got: we bind it
    ourselves because the ASGI servers never report the port the OS picked for port 0."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock, sock.getsockname()[1]


def stdin_is_pipe() -> bool:
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class ServerStop:
    """When and why a server stops: the first of SIGTERM/SIGINT, stdin EOF when stdin is a
    pipe or socket (so that it dies with the test that spawned it; /dev/null or a terminal is
    ignored), and `timeout` seconds (0 = never; prints ``{"event":"timeout"}``, exit code 3).

    Works in any asyncio loop (``asyncio.run`` or anyio's asyncio backend)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.reason = "signal"
        self.code = EXIT_OK
        self._stopped = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, self._stop, f"signal {s.name}")
        if stdin_is_pipe():

            def read_stdin() -> None:  # a daemon thread: a blocking read never holds up exit
                sys.stdin.buffer.read()
                loop.call_soon_threadsafe(self._stop, "stdin closed")

            threading.Thread(target=read_stdin, daemon=True, name="stdin").start()
        if self.timeout > 0:
            self._timer = loop.call_later(self.timeout, self._time_out)

    def _stop(self, reason: str) -> None:
        if self._stopped.is_set():
            return
        self.reason = reason
        self._stopped.set()
        if self._timer is not None:
            self._timer.cancel()

    def _time_out(self) -> None:
        if self._stopped.is_set():
            return
        self.code = EXIT_TIMEOUT
        emit({"event": "timeout", "seconds": self.timeout})
        self._stop("timeout")

    async def wait(self) -> None:
        await self._stopped.wait()

    def shutting_down(self, seconds: float = 5.0) -> None:
        """Logs why we stop; the process is gone `seconds` later even if the shutdown hangs."""
        log("stopping:", self.reason)
        backstop(
            seconds,
            self.code,
            "shutdown took too long: forcing exit",
            {"event": "stopped", "reason": self.reason, "forced": True},
        )


def run_server(run: Callable[[], tuple[int, str]]) -> NoReturn:
    """Runs the server (`run` returns its exit code and why it stopped), prints ``stopped``
    and exits; any failure is an ``error`` line and exit 1."""
    try:
        code, reason = run()
    except BaseException as e:  # noqa: BLE001
        fail(e)
    emit({"event": "stopped", "reason": reason})
    hard_exit(code)


# -- the document every peer uses: Y.Text "text", Y.Map "map" ------------------------------


def roots(doc) -> tuple[Any, Any]:
    """The doc's Y.Text "text" and Y.Map "map"."""
    from pycrdt import Map, Text

    return doc.get("text", type=Text), doc.get("map", type=Map)


def doc_state(doc, text, ymap) -> dict[str, Any]:
    """{"text": ..., "map": {...}}, read in one transaction."""
    with doc.transaction():
        return {"text": str(text), "map": ymap.to_py() or {}}


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


# -- clients -------------------------------------------------------------------------------

_CLIENT_EPILOG = """stdout events:
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
"""


def parse_client_args(argv: list[str], *, prog: str, client: str, without_awareness: str, awareness_error: str) -> argparse.Namespace:
    """The CLI of ``js_client.js`` minus awareness: the awareness options are accepted, then
    refused with `awareness_error` (exit 2). `client` says what it is and `without_awareness`
    who lacks awareness, in --help.

    Adds ``maps`` (--map-key/--map-value pairs, then --map) and the server address as
    httpx wants it: ``http_host`` (``http://HOST``) and ``http_port``."""
    p = Parser(
        prog=prog,
        description=f'{client} for interop tests (Y.Text "text", Y.Map "map").',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_CLIENT_EPILOG + f"{without_awareness}: refused with exit code 2 (or an error line in --stdin mode).",
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
        p.error(awareness_error)
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
    """A client's document and everything it does with it once connected; the client
    script supplies :meth:`apply_edit`, :attr:`NO_AWARENESS` and
    :attr:`LINGER_AFTER_EDIT`."""

    NO_AWARENESS = "awareness is not supported"
    # Seconds the socket stays open after the last local edit before the client closes.
    LINGER_AFTER_EDIT = 0.0

    def __init__(self, args: argparse.Namespace) -> None:
        from pycrdt import Doc

        self.args = args
        self.doc = Doc()
        self.text, self.map = roots(self.doc)
        self.synced = False
        self.last_edit = 0.0
        self._changed = asyncio.Event()
        self._last_snapshot: dict[str, Any] | None = None
        self.doc.observe(lambda _event: self._changed.set())

    # -- state -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return doc_state(self.doc, self.text, self.map)

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

    async def apply_edit(self, fn: Callable[[], None]) -> None:
        """Runs `fn` (which edits the doc) in a transaction, as this client's library wants."""
        raise NotImplementedError

    async def edit(self, fn: Callable[[], None]) -> None:
        await self.apply_edit(fn)
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

    # -- connected ---------------------------------------------------------------------

    async def run_synced(self) -> dict[str, Any]:
        """Once the server's SyncStep2 was applied: report "synced", make the initial edits,
        run the --stdin commands or wait for --wait-*/--hold, linger after the last edit;
        returns the "final" line (printed by the caller)."""
        self.synced = True
        emit({"event": "synced", "client_id": self.doc.client_id})
        log("synced, client id", self.doc.client_id)
        self._last_snapshot = self.snapshot()
        reporter = asyncio.ensure_future(self.report_changes())
        try:
            await self.initial_edits()
            if self.args.stdin:
                await self.run_stdin()
            else:
                await self.wait(self.args.wait_text, self.args.wait_map, None)
                if self.args.hold:
                    await asyncio.sleep(self.args.hold)
            linger = self.last_edit + self.LINGER_AFTER_EDIT - time.monotonic()
            if linger > 0:
                await asyncio.sleep(linger)
            return self.final()
        finally:
            reporter.cancel()

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
            raise ValueError(self.NO_AWARENESS)
        if cmd == "dump":
            return {"event": "dump", "client_id": self.doc.client_id, "synced": self.synced, **self.snapshot()}
        if cmd == "wait":
            texts = c.get("text") or []
            texts = [texts] if isinstance(texts, str) else [str(t) for t in texts]
            maps = [
                (k, v if isinstance(v, str) else json_of(v)) for k, v in (c.get("map") or {}).items()
            ]
            if c.get("awareness_count") is not None or c.get("awareness_gone"):
                raise ValueError(self.NO_AWARENESS)
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


async def run_client(args: argparse.Namespace, peer: Peer, body: Callable[[], Awaitable[None]]) -> int:
    """Runs `body` (connect, ``peer.run_synced()``, print its "final") against SIGTERM/SIGINT
    (print "final" from what we have, exit 0) and --timeout (print "timeout" with what is
    still pending, exit 3); returns the exit code."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda s=sig: (log(f"signal {s.name}"), stop.set()))

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
    pending = peer.pending(args.wait_text, args.wait_map)
    log(f"timeout after {args.timeout}s; pending: {pending}; synced={peer.synced}")
    emit({"event": "timeout", "seconds": args.timeout, "synced": peer.synced, "pending": pending, **peer.snapshot()})
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    return EXIT_TIMEOUT


def client_main(main: Callable[[argparse.Namespace], Awaitable[int]], **cli: str) -> NoReturn:
    """A client's ``__main__``: parse the command line (`cli`: the keyword arguments of
    :func:`parse_client_args`), arm the backstop, run `main`, exit with its code."""
    args = parse_client_args(sys.argv[1:], **cli)
    # Backstop: whatever happens in the async world, the process is gone a little after
    # --timeout.
    backstop(args.timeout + 5, EXIT_TIMEOUT, "backstop timeout: forcing exit")
    try:
        code = asyncio.run(main(args))
    except BaseException as e:  # noqa: BLE001 - report anything, then leave
        fail(e, "fatal:")
    hard_exit(code)
