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

from _peer_common import Peer, client_main, emit, log, run_client, setup

setup("pycrdt_ws_client", last_events=("final", "timeout"))

NO_AWARENESS = "awareness is not supported by the pycrdt-websocket client (pycrdt's Provider has no awareness)"



class ProviderPeer(Peer):
    NO_AWARENESS = NO_AWARENESS
    # The provider drains its queued updates on a clean exit; this short linger after the last
    # edit only lets the server apply it before our close frame arrives.
    LINGER_AFTER_EDIT = 0.1

    async def apply_edit(self, fn) -> None:
        # The provider applies remote updates synchronously, so a plain transaction is enough;
        # its event stream then carries our update to the socket.
        with self.doc.transaction():
            fn()


async def main(args: argparse.Namespace) -> int:
    from httpx_ws import aconnect_ws
    from pycrdt import Provider
    from pycrdt.websocket.websocket import HttpxWebsocket

    peer = ProviderPeer(args)

    async def body() -> None:
        url = f"{args.http_host}:{args.http_port}/{args.room}"
        log(f"connecting to {url}")
        async with aconnect_ws(url) as ws:
            async with Provider(peer.doc, HttpxWebsocket(ws, args.room)) as provider:
                await provider.synced.wait()  # the server's SyncStep2 was applied
                final = await peer.run_synced()
            # Leaving the provider cleanly has sent every queued update; leaving aconnect_ws
            # closes the socket (close frame 1000).
        emit(final)

    return await run_client(args, peer, body)


if __name__ == "__main__":
    client_main(
        main,
        prog="pycrdt_ws_client.py",
        client="pycrdt-websocket 0.16.5 client (pycrdt Provider + httpx-ws)",
        without_awareness="pycrdt's Provider",
        awareness_error=NO_AWARENESS,
    )
