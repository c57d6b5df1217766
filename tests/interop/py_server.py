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

It stops on SIGTERM/SIGINT, on stdin EOF of a pipe, or after --timeout seconds (default 30;
0 = never): ``ServerStop`` in ``_peer_common.py`` has the details.

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
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import anyio

from _peer_common import ServerStop, emit, listen_socket, log, parse_server_args, run_server, setup

setup("py_server", ensure_ascii=True)


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


async def serve(args: argparse.Namespace) -> tuple[int, str]:
    from wire_websocket import AsyncWebSocketServer

    sock, port = listen_socket(args.host, args.port)
    kwargs = {}
    if args.dir:
        directory = Path(args.dir)
        directory.mkdir(parents=True, exist_ok=True)
        kwargs["room_factory"] = make_file_room_factory(directory)
    server = AsyncWebSocketServer(host=args.host, port=port, **kwargs)
    # anycorn wraps this fd in a socket object of its own; `sock` stays alive until exit.
    server._config.bind = [f"fd://{sock.fileno()}"]

    stop = ServerStop(args.timeout)
    async with server:
        emit({"event": "listening", "host": args.host, "port": port, "dir": args.dir})
        log(f"Python wiredb server on {args.host}:{port}" + (f", files in {args.dir}" if args.dir else ""))
        stop.start()
        await stop.wait()
        # Graceful shutdown waits for open websockets; never let that hang a test.
        stop.shutting_down()
    return stop.code, stop.reason


def main() -> None:
    args = parse_server_args(
        "py_server.py",
        __doc__.split("\n\n")[0],
        lambda p: p.add_argument("--dir", help="persist each room to DIR/{id}_updates.y with wire_file"),
    )
    run_server(lambda: anyio.run(serve, args))


if __name__ == "__main__":
    main()
