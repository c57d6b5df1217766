#!/usr/bin/env python3
"""Python ``wire_file`` 0.7.1 (``AsyncFileClient``) as a command-line peer, for the wiredb
interop tests: writes and reads update-log files the way the model project does.

    tests/interop/.venv/bin/python tests/interop/py_file.py write FILE [--text STR]... [--map K=V]... [--squash]
    tests/interop/.venv/bin/python tests/interop/py_file.py read  FILE [--squash]
    tests/interop/.venv/bin/python tests/interop/py_file.py records FILE

write:   opens FILE with AsyncFileClient (creating it with its header if missing), which loads
         what the file holds into the doc; then, in ONE transaction, appends each --text to
         Y.Text "text" and sets each --map K=V (string values) on Y.Map "map"; waits until the
         file holds the edit (so nothing is lost on close) and closes. Each run is one session:
         without --squash it appends one record; with --squash the file is rewritten as one
         record at open and again at the write (see FILE_FORMAT_NOTES.md).
         prints {"event":"written","text":...,"map":{...},"records":N,"size":BYTES}
read:    opens FILE with AsyncFileClient (must exist; with --squash the client squashes it on
         open, as Python does) and prints the document:
         {"event":"read","text":...,"map":{...},"version":"0.0.1","records":N,"size":BYTES}
records: does not use wire_file: parses FILE the way wire_file does and prints
         {"event":"records","version":...,"records":[{"offset":O,"length":L},...],"size":BYTES}

Errors: one line {"event":"error","message":...} on stdout, the same on stderr, exit 1
(usage errors exit 2). --timeout SECONDS (default 30) bounds every command: exit 3.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _peer_common import EXIT_OK, EXIT_TIMEOUT, Parser, backstop, doc_state, emit, fail, hard_exit, parse_kv, roots, setup

setup("py_file")


def parse_records(data: bytes) -> tuple[str, list[tuple[int, int]]]:
    """(version, [(offset, length) of each update]) -- framing as wire_file writes it:
    the version string up to the first NUL, then varuint(len) + update, repeated."""
    if b"\x00" not in data:
        raise ValueError("no NUL-terminated version header")
    version, _ = data.split(b"\x00", 1)
    pos = len(version) + 1
    records = []
    while pos < len(data):
        length, shift = 0, 0
        while True:
            if pos >= len(data):
                raise ValueError(f"truncated length varuint at end of file (offset {pos})")
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        if pos + length > len(data):
            raise ValueError(f"record at offset {pos} declares {length} bytes, only {len(data) - pos} left")
        records.append((pos, length))
        pos += length
    return version.decode(), records


def snapshot(doc) -> dict:
    return doc_state(doc, *roots(doc))


def file_snapshot(path: Path) -> dict | None:
    """The document the file holds right now, decoded independently of the client."""
    from pycrdt import Doc

    try:
        data = path.read_bytes()
        _, records = parse_records(data)
    except (OSError, ValueError):
        return None  # e.g. caught between a squash's truncate and its write
    doc = Doc()
    for off, length in records:
        doc.apply_update(data[off : off + length])
    return snapshot(doc)


def file_info(path: Path) -> dict:
    """Framing facts for the output; a framing our strict parser rejects (but wire_file
    accepted, e.g. bytes after a zero-length record) is reported, not fatal."""
    data = path.read_bytes()
    try:
        version, records = parse_records(data)
    except ValueError as e:
        return {"version": None, "records": None, "records_error": str(e), "size": len(data)}
    return {"version": version, "records": len(records), "size": len(data)}


async def cmd_write(args) -> dict:
    import anyio
    from pycrdt import Doc
    from wire_file import AsyncFileClient

    path = Path(args.file)
    doc = Doc()
    text, ymap = roots(doc)
    async with AsyncFileClient(doc=doc, path=path, squash=args.squash):
        # __aenter__ returns once the file's content is in `doc`.
        async with doc.new_transaction():
            for t in args.text:
                text.insert(len(text), t)
            for k, v in args.map:
                ymap[k] = v
        want = snapshot(doc)
        # The update reaches the file through the client's background sender: wait for it,
        # or closing the client could cancel the write.
        with anyio.fail_after(max(1.0, args.timeout - 1)):
            while file_snapshot(path) != want:
                await anyio.sleep(0.02)
    return {"event": "written", **want, **file_info(path)}


async def cmd_read(args) -> dict:
    from pycrdt import Doc
    from wire_file import AsyncFileClient

    path = Path(args.file)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")  # AsyncFileClient would create it
    doc = Doc()
    async with AsyncFileClient(doc=doc, path=path, squash=args.squash):
        snap = snapshot(doc)
    return {"event": "read", **snap, **file_info(path)}


def cmd_records(args) -> dict:
    path = Path(args.file)
    data = path.read_bytes()
    version, records = parse_records(data)
    return {"event": "records", "version": version, "records": [{"offset": o, "length": n} for o, n in records], "size": len(data)}


def main() -> None:
    p = Parser(prog="py_file.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timeout", type=float, default=30.0)
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=Parser)
    w = sub.add_parser("write", help="apply edits to FILE in one session")
    w.add_argument("file")
    w.add_argument("--text", action="append", default=[])
    w.add_argument("--map", action="append", default=[], type=parse_kv())
    w.add_argument("--squash", action="store_true")
    w.add_argument("--timeout", type=float, default=argparse.SUPPRESS)
    r = sub.add_parser("read", help="print the document FILE holds")
    r.add_argument("file")
    r.add_argument("--squash", action="store_true")
    r.add_argument("--timeout", type=float, default=argparse.SUPPRESS)
    rec = sub.add_parser("records", help="print the record framing of FILE")
    rec.add_argument("file")
    rec.add_argument("--timeout", type=float, default=argparse.SUPPRESS)
    args = p.parse_args()

    backstop(args.timeout, EXIT_TIMEOUT, f"timeout after {args.timeout}s", {"event": "timeout", "seconds": args.timeout})
    try:
        if args.cmd == "records":
            out = cmd_records(args)
        else:
            import anyio

            out = anyio.run(cmd_write if args.cmd == "write" else cmd_read, args)
    except BaseException as e:  # noqa: BLE001
        fail(e)
    emit(out)
    hard_exit(EXIT_OK)


if __name__ == "__main__":
    main()
