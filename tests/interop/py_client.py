#!/usr/bin/env python3
"""A real Python wiredb 0.7.1 WebSocket client (``wire_websocket.AsyncWebSocketClient`` on a
pycrdt ``Doc``), driven from the command line, for the wiredb interop tests.

Same CLI and output as ``js_client.js`` (run with ``--help``), minus awareness: Python
wiredb 0.7.1 has no awareness support at all (its client ignores every non-sync message
and sends none), so the awareness options are refused with exit code 2.

Run it with the venv made by install-peers.sh::

    tests/interop/.venv/bin/python tests/interop/py_client.py --url ws://127.0.0.1:PORT --room NAME ...

stdout: one JSON object per line, flushed; stderr: logs. Exit codes: 0 ok, 1 error,
2 bad usage, 3 overall timeout.

How Python wiredb is addressed (read from wire_websocket/client.py): the client is built as
``AsyncWebSocketClient(id=ROOM, doc=doc, host="http://127.0.0.1", port=PORT)`` and connects
with httpx-ws to ``f"{host}:{port}/{id}"``: the host carries an *http* scheme (httpx rejects
``ws://``), and the room id becomes the URL path. ``--url ws://H:P`` is translated to that.
Entering the client's async context returns once the server's SyncStep2 has been applied
(the client is then "synced"); local changes are pushed by a background task that reads the
doc's event stream, so the script lingers briefly after its last edit before closing.
"""

from __future__ import annotations

import argparse

from _peer_common import Peer, client_main, emit, log, run_client, setup

setup("py_client", last_events=("final", "timeout"))



class WiredbPeer(Peer):
    NO_AWARENESS = "awareness is not supported by Python wiredb 0.7.1"
    # A local edit is handed to wiredb's sender task, not sent inline: keep the socket open at
    # least this long after the last edit so that the update leaves before we close.
    LINGER_AFTER_EDIT = 0.3

    async def apply_edit(self, fn) -> None:
        # new_transaction() waits for wiredb's own (async) transactions instead of joining them.
        async with self.doc.new_transaction():
            fn()


async def main(args: argparse.Namespace) -> int:
    from wire_websocket import AsyncWebSocketClient

    peer = WiredbPeer(args)

    async def body() -> None:
        log(f"connecting to {args.http_host}:{args.http_port}/{args.room}")
        async with AsyncWebSocketClient(
            id=args.room, doc=peer.doc, host=args.http_host, port=args.http_port
        ):
            # __aenter__ returns after the server's SyncStep2 was applied.
            emit(await peer.run_synced())

    return await run_client(args, peer, body)


if __name__ == "__main__":
    client_main(
        main,
        prog="py_client.py",
        client="Python wiredb 0.7.1 WebSocket client",
        without_awareness="Python wiredb 0.7.1",
        awareness_error="awareness is not supported by Python wiredb 0.7.1 (its client has no awareness)",
    )
