"""Reading a log file into records, with no database: the part of ingestion that
can run in another process.

``read_new_lines`` walks a JSONL file from a byte offset in chunks, hands only
complete lines to the parser, and yields, per chunk, the records (each with the
offset of the line it came from), the offset after the last complete line and
the parser's state at that point. A parser that raises loses only the line it
was on. ``parse_file_job`` is the same for a whole file, in a worker process.

The last line of a file may lack its ``\n``: mid-write (a torn line), or because
the agent never writes one after its last record. Once the file has not been
written to for ``SETTLED_SECONDS``, a last line that decodes as a complete JSON
object or array is final and is read, and the offset moves to the end of the
file; a later append starts with the ``\n`` (an empty line, skipped) or with the
next record, so nothing is read twice. A torn line still waits.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from analyzer.contract.parsing import SourceContext
from analyzer.contract.records import BadLine

CHUNK_BYTES = 4 * 1024 * 1024
SETTLED_SECONDS = 60  # a file not written to for this long has written its last line


@dataclass
class Chunk:
    """What one chunk of complete lines produced."""

    start: int  # offset of its first line
    end: int  # offset after its last complete line
    records: list  # [(line offset, record)]
    at_eof: bool  # the read reached the end of the file as it was


def split_lines(data: bytes, end: int, base: int) -> list[tuple[int, bytes]]:
    """Complete lines of ``data[:end]`` with their file offsets; ``\\r\\n`` tolerated."""
    lines = []
    pos = base
    for raw in data[:end].split(b"\n"):
        lines.append((pos, raw[:-1] if raw.endswith(b"\r") else raw))
        pos += len(raw) + 1
    return lines


def parse_lines(parser, lines: list[tuple[int, bytes]], state: dict, ctx: SourceContext) -> list:
    """Feed lines to the parser, pairing each record with its line's offset.

    Should the parser raise (a bug; parsers built on JsonlParser report bad
    lines instead), that line becomes a ``parser_error`` and parsing resumes
    after it, so one line never costs the rest.
    """
    out: list = []
    position = 0
    current = lines[0][0] if lines else 0

    def tracked() -> Iterator[tuple[int, bytes]]:
        nonlocal position, current
        while position < len(lines):
            line = lines[position]
            current = line[0]
            position += 1
            yield line

    while position < len(lines):
        try:
            for record in parser.parse(tracked(), state, ctx):
                out.append((current, record))
        except Exception as exc:
            out.append((current, BadLine(current, "parser_error", f"{type(exc).__name__}: {exc}")))
    return out


def read_new_lines(
    parser, path: Path, offset: int, state: dict, ctx: SourceContext, size: int, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[Chunk]:
    """Parse the complete lines after ``offset``, one chunk at a time (``state`` is updated in place)."""
    with open(path, "rb") as f:
        f.seek(offset)
        pending = b""
        base = offset  # file offset of pending[0]
        while True:
            block = f.read(chunk_bytes)
            if not block:
                last = final_last_line(pending, os.fstat(f.fileno()).st_mtime)
                if last is not None:
                    yield Chunk(base, base + len(pending), parse_lines(parser, [(base, last)], state, ctx), True)
                return
            data = pending + block if pending else block
            end = data.rfind(b"\n")
            if end == -1:
                pending = data  # one line longer than a chunk: keep reading
                continue
            records = parse_lines(parser, split_lines(data, end, base), state, ctx)
            new_offset = base + end + 1
            yield Chunk(base, new_offset, records, f.tell() >= size)
            pending = data[end + 1 :]
            base = new_offset


def settled(mtime: float) -> bool:
    """Has the file not been written to for ``SETTLED_SECONDS``?"""
    return time.time() - mtime > SETTLED_SECONDS


def final_last_line(rest: bytes, mtime: float) -> bytes | None:
    """The bytes after a file's last ``\n`` as a line to read, when the file is settled
    and they decode as a complete JSON object or array; else None (they wait)."""
    if not rest.strip() or not settled(mtime):
        return None
    line = rest[:-1] if rest.endswith(b"\r") else rest
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return line if isinstance(value, (dict, list)) else None


def parse_file_job(job: tuple) -> tuple:
    """Worker-process entry: parse the rest of one file and build its rows.

    ``job`` is (parser name, path, root, offset, state, size, chunk bytes,
    source id, machine id, keep prompt text); the result is (path, end offset,
    state, at_eof, rows payload of ``RecordWriter``, bytes read). Rows, not
    records, cross the process boundary: they are smaller to send.
    """
    name, path, root, offset, state, size, chunk_bytes, source_id, machine, keep_text = job
    from analyzer.registry.parsers import get_parsers
    from analyzer.store.writer import RecordWriter

    parser = _worker_parsers(get_parsers)[name]
    ctx = SourceContext(path=Path(path), root=Path(root) if root else None)
    writer = RecordWriter(None, source_id=source_id, machine=machine, keep_text=keep_text)
    end, at_eof = offset, False
    for chunk in read_new_lines(parser, Path(path), offset, state, ctx, size, chunk_bytes):
        for line_offset, record in chunk.records:
            writer.add(record, line_offset)
        end, at_eof = chunk.end, chunk.at_eof
    return path, end, state, at_eof, writer.payload(), end - offset


_PARSERS: dict | None = None


def _worker_parsers(get_parsers) -> dict:
    global _PARSERS
    if _PARSERS is None:
        _PARSERS = get_parsers()
    return _PARSERS
