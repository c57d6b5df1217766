#!/usr/bin/env python3
"""The Python wiredb 0.7.1 WebSocket server (``wire_websocket.AsyncWebSocketServer``), for the
wiredb interop tests.

    tests/interop/.venv/bin/python tests/interop/py_server.py [--host 127.0.0.1] [--port 0]
        [--dir DIR] [--timeout SECONDS]

stdout (one JSON object per line, flushed):
    {"event":"listening","host":"127.0.0.1","port":N}     once it accepts connections
    {"event":"stopped","reason":...}                       on the way out
    {"event":"error","message":...} / {"event":"timeout","seconds":S}
stderr: logs. Exit codes: 0 stopped on request, 1 error, 2 bad usage, 3 timeout.

It stops on SIGTERM/SIGINT, on stdin EOF when stdin is a pipe or socket (so that it dies
with the test that spawned it; /dev/null or a terminal is ignored), and after --timeout
seconds (default 30; 0 = never).

Port 0: AsyncWebSocketServer only takes host/port and hands ``f"{host}:{port}"`` to its
ASGI server (anycorn), which never reports the port it bound. So we bind the listening
socket ourselves and point anycorn's config at it as ``fd://N`` (a bind form anycorn and
hypercorn support) -- the only private attribute touched is ``server._config.bind``.

--dir: Python wiredb 0.7.1 has no file-backed server; its documented extension point is the
``room_factory``. We pass one that opens a ``wire_file.AsyncFileClient`` on the room's doc
(``DIR/{id}_updates.y``, write_delay 0) for the room's lifetime: a persisted room, made of
upstream parts only. Without --dir, rooms are in memory only.

Behaviour of the Python server worth knowing (read from wiredb/server.py, 0.7.1):
- the room id is the raw ASGI path *with* its leading '/' (ws://h:p/abc -> room "/abc");
- only sync messages (type 0) are handled; awareness (1), auth (2) and query-awareness (3)
  are read and ignored: it never relays awareness and never sends any;
- when the last client leaves, the room is dropped from the manager (its task lingers), so
  the next client of that id gets a new, *empty* room -- unless --dir reloads it from file.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import stat
import sys
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import anyio

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def log(*args) -> None:
    print("[py_server]", *args, file=sys.stderr, flush=True)


def hard_exit(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def room_file(directory: Path, room_id: str) -> Path:
    """DIR/{id}_updates.y with the id made safe as one file name (no '/', no '..')."""
    name = quote(room_id.lstrip("/"), safe="") or "_"
    if name in (".", ".."):
        name = quote(name, safe="").replace(".", "%2E")
    return directory / f"{name}_updates.y"


def make_file_room_factory(directory: Path):
    from wire_file import AsyncFileClient
    from wiredb import Room

    class FileRoom(Room):
        """An upstream Room whose doc is also connected to a file for its whole life."""

        @asynccontextmanager
        async def __asynccontextmanager__(self):
            path = room_file(directory, self.id)
            log(f"room {self.id!r}: persisting to {path}")
            async with AsyncFileClient(doc=self.doc, path=path, write_delay=0):
                async with super().__asynccontextmanager__() as room:
                    yield room

    return FileRoom


def _backstop(code: int, reason: str) -> None:
    log("shutdown took too long: forcing exit")
    emit({"event": "stopped", "reason": reason, "forced": True})
    hard_exit(code)


def stdin_is_pipe() -> bool:
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


async def serve(args: argparse.Namespace) -> tuple[int, str]:
    from wire_websocket import AsyncWebSocketServer

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]

    kwargs = {}
    if args.dir:
        directory = Path(args.dir)
        directory.mkdir(parents=True, exist_ok=True)
        kwargs["room_factory"] = make_file_room_factory(directory)
    server = AsyncWebSocketServer(host=args.host, port=port, **kwargs)
    # anycorn wraps this fd in a socket object of its own; `sock` stays alive until exit.
    server._config.bind = [f"fd://{sock.fileno()}"]

    reason = "signal"
    code = EXIT_OK
    async with server:
        emit({"event": "listening", "host": args.host, "port": port, "dir": args.dir})
        log(f"Python wiredb server on {args.host}:{port}" + (f", files in {args.dir}" if args.dir else ""))
        stop = anyio.Event()

        async def on_signal():
            nonlocal reason
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for s in signals:
                    reason = f"signal {signal.Signals(s).name}"
                    stop.set()
                    return

        async def on_stdin_eof():
            nonlocal reason
            await anyio.to_thread.run_sync(sys.stdin.buffer.read, abandon_on_cancel=True)
            reason = "stdin closed"
            stop.set()

        async def on_timeout():
            nonlocal reason, code
            await anyio.sleep(args.timeout)
            reason = "timeout"
            code = EXIT_TIMEOUT
            emit({"event": "timeout", "seconds": args.timeout})
            stop.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(on_signal)
            if stdin_is_pipe():
                tg.start_soon(on_stdin_eof)
            if args.timeout > 0:
                tg.start_soon(on_timeout)
            await stop.wait()
            tg.cancel_scope.cancel()
        log("stopping:", reason)
        # Graceful shutdown waits for open websockets; never let that hang a test.
        timer = threading.Timer(5, _backstop, args=(code, reason))
        timer.daemon = True
        timer.start()
    return code, reason


def main() -> None:
    p = argparse.ArgumentParser(prog="py_server.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port (default)")
    p.add_argument("--dir", help="persist each room to DIR/{id}_updates.y with wire_file")
    p.add_argument("--timeout", type=float, default=30.0, help="stop after SECONDS (default 30, 0 = never)")
    args = p.parse_args()
    if not 0 <= args.port <= 65535 or args.timeout < 0:
        p.error("bad --port or --timeout")

    try:
        code, reason = anyio.run(serve, args)
    except BaseException as e:  # noqa: BLE001
        while isinstance(e, BaseExceptionGroup) and e.exceptions:
            e = e.exceptions[0]
        msg = f"{type(e).__name__}: {e}"
        log("error:", msg)
        emit({"event": "error", "message": msg})
        hard_exit(EXIT_ERROR)
    emit({"event": "stopped", "reason": reason})
    hard_exit(code)


if __name__ == "__main__":
    main()
