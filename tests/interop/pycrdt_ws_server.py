#!/usr/bin/env python3
"""The pycrdt-websocket 0.16.5 server (``WebsocketServer`` behind its ``ASGIServer``, served by
Hypercorn, as pycrdt-websocket's documentation and test suite run it), for the wiredb interop
tests.

    tests/interop/.venv-pycrdt-ws/bin/python tests/interop/pycrdt_ws_server.py [--host 127.0.0.1]
        [--port 0] [--timeout SECONDS]

stdout (one JSON object per line, flushed):
    {"event":"listening","host":"127.0.0.1","port":N,"version":"0.16.5"}   once it accepts connections
    {"event":"room-opened","room":"/abc"}     a client asked for a room that did not exist
    {"event":"room-closed","room":"/abc"}     its last client left and the room was deleted
    {"event":"stopped","reason":...}                                        on the way out
    {"event":"error","message":...} / {"event":"timeout","seconds":S}
stderr: logs. Exit codes: 0 stopped on request, 1 error, 2 bad usage, 3 timeout.

It stops on SIGTERM/SIGINT, on stdin EOF of a pipe, or after --timeout seconds (default 30;
0 = never): ``ServerStop`` in ``_peer_common.py`` has the details.

Port 0: Hypercorn logs the address it was given, not the port the OS picked, so we bind the
listening socket ourselves and hand it to Hypercorn as ``fd://N`` (a documented bind form).

Behaviour of the pycrdt-websocket server worth knowing (read from pycrdt/websocket/yroom.py
and websocket_server.py, 0.16.5):
- the room name is the raw ASGI path *with* its leading '/' (ws://h:p/abc -> room "/abc");
- on connect the room sends SyncStep1, answers SyncStep1 with SyncStep2, and broadcasts every
  change of its doc as an Update to *all* clients of the room, the sender included;
- awareness messages are relayed to all clients of the room, the sender included (as the
  y-websocket server does), except a client's own "state = null" which is not echoed to it;
- but a client that joins is *not* sent the awareness states already known (the y-websocket
  server sends them all on connect): it learns of each other client only when that client
  next changes or renews its state (y-websocket renews every 15 s);
- when a socket closes, nothing is broadcast: the others drop that client's awareness only
  after their own 30 s timeout (the y-websocket server broadcasts the removal at once);
- each room also has an awareness state of its own (`{}` under the room doc's client id, a
  53-bit number as pycrdt 0.14 makes them), first broadcast ~15 s after the room opened, then
  renewed every 15 s: a y-websocket client sees it appear among the states and never leave;
- when the last client leaves, the room is deleted (auto_clean_rooms=True, the default), so
  the next client of that name gets a new, *empty* room.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from importlib.metadata import version

from _peer_common import ServerStop, emit, listen_socket, log, parse_server_args, run_server, setup

setup("pycrdt_ws_server", ensure_ascii=True)


async def serve(args: argparse.Namespace) -> tuple[int, str]:
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config
    from pycrdt.websocket import ASGIServer, WebsocketServer, exception_logger

    sock, port = listen_socket(args.host, args.port)
    config = Config()
    # Hypercorn wraps this fd in a socket object of its own; `sock` stays alive until exit.
    config.bind = [f"fd://{sock.fileno()}"]
    config.graceful_timeout = 1.0
    config.accesslog = None
    # Through the logging set up in main() (warnings and errors only), not a handler of its own.
    config.errorlog = logging.getLogger("hypercorn.error")

    class ReportingServer(WebsocketServer):
        """WebsocketServer that reports its rooms opening and closing on stdout."""

        async def get_room(self, name: str):
            new = name not in self.rooms
            room = await super().get_room(name)
            if new:
                emit({"event": "room-opened", "room": name})
            return room

        async def delete_room(self, *, name=None, room=None):
            if name is None and room is not None:
                name = self.get_room_name(room)
            await super().delete_room(name=name)
            emit({"event": "room-closed", "room": name})

    # exception_logger: a failing client or room is logged to stderr, the server goes on.
    websocket_server = ReportingServer(exception_handler=exception_logger, log=logging.getLogger("pycrdt_ws"))
    app = ASGIServer(websocket_server)

    stop = ServerStop(args.timeout)
    stop.start()
    async with websocket_server:
        serving = asyncio.ensure_future(hypercorn_serve(app, config, shutdown_trigger=stop.wait, mode="asgi"))
        # The socket already listens (connections queue in its backlog); give Hypercorn a
        # moment to start accepting, and fail loudly if it could not start at all.
        done, _ = await asyncio.wait({serving}, timeout=0.2)
        if serving in done:
            serving.result()
            raise RuntimeError("hypercorn stopped at once")
        emit(
            {
                "event": "listening",
                "host": args.host,
                "port": port,
                "version": version("pycrdt-websocket"),
            }
        )
        log(f"pycrdt-websocket {version('pycrdt-websocket')} server on {args.host}:{port}")
        await serving
        # Room shutdown should be quick; never let it hang a test.
        stop.shutting_down()
    return stop.code, stop.reason


def main() -> None:
    args = parse_server_args("pycrdt_ws_server.py", __doc__.split("\n\n")[0])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="[pycrdt_ws_server] %(name)s: %(message)s")
    run_server(lambda: asyncio.run(serve(args)))


if __name__ == "__main__":
    main()
